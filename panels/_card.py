"""The ``sample_card`` operator: the clicked sample, for the panel's component.

A click on the map is taken by the panel's own component
(``dist/index.umd.js``), which asks this operator for the sample's card and
draws it. This is a plain operator, not a panel method, on purpose: a panel
method makes the App render the whole panel again, and with it copy and
redraw every point of the map (about a second at 100,000 points); this
answer only redraws the card.
"""

import fiftyone.operators as foo

from . import _edits, _runs, _sample


class SampleCard(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="sample_card",
            label="Data Explorer: clicked sample",
            description="The Data Explorer panel's card of one sample",
            unlisted=True,
        )

    def execute(self, ctx):
        return sample_card(
            ctx.dataset, ctx.params.get("brain_key"), ctx.params.get("sample_id")
        )


def sample_card(dataset, brain_key, sample_id):
    """The card of ``sample_id`` on map ``brain_key`` (:func:`_sample.card_payload`).

    A sample that is not in the dataset gets :func:`_sample.missing_payload`;
    a map that is gone falls back to the dataset's first map, as the panel
    does (``brain_key`` in the answer says which map's queue and label
    field were used).
    """
    key = _runs.choose_map(_runs.list_maps(dataset), brain_key)
    if key is None:
        return _sample.missing_payload(sample_id, "The dataset has no map")
    if not sample_id:
        return _sample.missing_payload(sample_id, "No sample was given")
    if not _sample.is_sample_id(sample_id):
        return _sample.missing_payload(
            sample_id, f"{str(sample_id)[:40]!r} is not a sample id"
        )
    info = _runs.run_info(dataset, key)
    pending = _edits.queue_for(dataset, info).pending()
    card = _sample.load_card(dataset, sample_id, info.label_field, pending)
    if card is None:
        return _sample.missing_payload(sample_id)
    payload = _sample.card_payload(card, _scores(dataset, info, card.id))
    payload["brain_key"] = key
    return payload


def _scores(dataset, info, sample_id):
    """The sample's quality scores (None: not computed for this map)."""
    if not info.is_explorer_run:
        return None
    from fiftyone_plugin import assist

    # one sample's scores: a one-sample view keeps this O(1)
    found = assist.scores(dataset.select([sample_id]), info.key)
    return found.get(sample_id) if found else None
