"""The Data Explorer panel, driven without a browser.

Each test calls panel methods the way the App does (``execute_operator`` on
the panel's URI with ``__method__``, ``panel_id`` and ``panel_state``) and
reads what the App would receive: state and data patches, the rendered
layout, and the operations triggered (selection, prompts, reloads).

A click is the panel component's (``dist/index.umd.js``): it asks the
``sample_card`` operator for the card and sends the clicked sample with each
call. :class:`Driver` plays that part too (``click``).

Pins: every point is drawn, one trace per class, unlabeled gray and named
"Unlabeled"; missing vectors, late samples and color fallbacks are stated; a
click is answered by the card operator alone, without a panel render, and
its card shows the sample (image, audio preview and player, sensor axes,
scores once computed); Set label and Delete item only queue, Save writes all
at once and reports conflicts, Discard and Undo leave the dataset alone; the
queue outlives the panel; assisted labeling queues exactly the library's
proposal; lasso selection selects the samples in the grid and the grid
selection is highlighted; the menu prompts the plugin's operators; the
layout has no App inputs and a composite plot, so the panel state stays
small; several maps are buttons; a plain map is colored by a Classification
field.
"""

import copy
import os

import numpy as np
import pydash
import pytest
from conftest import REPO

PANEL = "@data-explorer/data-explorer/data_explorer"
CARD = "@data-explorer/data-explorer/sample_card"
PANEL_ID = "panel-under-test"
N_OVERLAYS = 3  # queued labels, queued deletions, selected: the first traces


class Driver:
    """Plays the App's part for one panel: keeps its state, data, selection."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.state = {}
        self.data = {}
        self.selected = []
        self.requests = []
        self.output = None
        self.clicked = None
        self.card = None

    def call(self, method, **params):
        """Runs a panel method; applies the patches the App would apply.

        As the panel's component does, it sends the clicked sample along.
        """
        import fiftyone.operators as foo

        result = foo.execute_operator(PANEL, ctx={
            "dataset": self.dataset,
            "selected": list(self.selected),
            "params": {
                "__method__": method, "panel_id": PANEL_ID,
                "panel_state": copy.deepcopy(self.state),
                "sample_id": self.clicked, **params,
            },
        })
        self.requests = [r.to_json() for r in result.executor._requests]
        for request in self.requests:
            self._apply(request["operator_uri"], request["params"])
        return self

    def _apply(self, uri, params):
        if uri == "patch_panel_state":
            for key, value in params["state"].items():
                pydash.set_(self.state, key, copy.deepcopy(value))
        elif uri == "patch_panel_data":
            for key, value in params["data"].items():
                pydash.set_(self.data, key, copy.deepcopy(value))
        elif uri == "set_selected_samples":
            self.selected = [s["id"] for s in params["samples"]]
        elif uri == "show_panel_output":
            self.output = params["output"]

    def click(self, sample_id):
        """What the component does on a click: asks for the sample's card.

        Returns:
            the operator's result (its ``executor`` records what it asked
            the App to do)
        """
        self.clicked = sample_id
        return self.fetch_card()

    def fetch_card(self):
        """Asks ``sample_card`` for the clicked sample's card, as the component
        does after a click and whenever the plot's data revision changes."""
        import fiftyone.operators as foo

        controls = self.prop("controls")["view"]
        result = foo.execute_operator(controls["card_operator"], ctx={
            "dataset": self.dataset,
            "params": {"brain_key": controls["brain_key"],
                       "sample_id": self.clicked},
        })
        assert result.error is None, result.error
        self.card = result.result
        if self.card.get("missing"):
            self.clicked = None  # the component forgets it
        return result

    def triggered(self, uri):
        """The params of each request to ``uri`` made by the last call."""
        return [r["params"] for r in self.requests if r["operator_uri"] == uri]

    def prop(self, name):
        """A property of the rendered layout, found by name at any depth."""
        return _find(self.output, name)

    def text(self, name):
        """The markdown of a rendered markdown property."""
        prop = self.prop(name)
        return prop.get("default") if prop else None

    def traces(self):
        return self.data.get("map") or []

    def trace(self, prefix):
        return next(t for t in self.traces() if t["name"].startswith(prefix))

    def queue_text(self):
        return self.text("queue")


def _find(node, name):
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            if name in props:
                return props[name]
            for child in props.values():
                found = _find(child, name)
                if found is not None:
                    return found
        for key in ("type",):
            if key in node:
                found = _find(node[key], name)
                if found is not None:
                    return found
    return None


# --- data -----------------------------------------------------------------


def _png(path, rng, shade=None):
    from PIL import Image

    pixels = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    if shade is not None:
        pixels[:] = shade
    Image.fromarray(pixels).save(path)
    return str(path)


def _image_dataset(dataset, tmp_path, rng, labels, points=None):
    """One PNG per label (None: unlabeled) and a plain brain visualization."""
    import fiftyone as fo
    import fiftyone.brain as fob

    samples = []
    for k, label in enumerate(labels):
        path = _png(tmp_path / f"img_{k:03d}.png", rng)
        sample = fo.Sample(filepath=path)
        if label is not None:
            sample["ground_truth"] = fo.Classification(label=label)
        samples.append(sample)
    dataset.add_samples(samples)
    if points is None:
        points = rng.normal(size=(len(labels), 2))
    fob.compute_visualization(dataset, points=points, brain_key="viz")
    return dataset


def _explorer_dataset(dataset, tmp_path, rng, broken=0):
    """Two tight groups of images (one labeled "dark", one unlabeled) + a run."""
    import fiftyone as fo

    from fiftyone_plugin.explorer import compute_data_explorer

    samples = []
    for k in range(12):
        shade = 20 + k if k < 6 else 230 - k
        path = _png(tmp_path / f"grp_{k:02d}.png", rng, shade=shade)
        label = "dark" if k < 3 else None
        sample = fo.Sample(filepath=path)
        if label:
            sample["ground_truth"] = fo.Classification(label=label)
        samples.append(sample)
    for k in range(broken):
        path = tmp_path / f"broken_{k}.png"
        path.write_bytes(b"not a png")
        samples.append(fo.Sample(filepath=str(path)))
    dataset.add_samples(samples)
    compute_data_explorer(
        dataset, brain_key="explorer", method="pca",
        block_params={"width": 8, "height": 8},
    )
    return dataset


@pytest.fixture
def images(dataset, tmp_path, rng):
    labels = ["cat", "dog", None, "cat", None, "bird", "dog", None]
    return _image_dataset(dataset, tmp_path, rng, labels)


def _opened(dataset):
    return Driver(dataset).call("on_load")


def _click(driver, sample_id):
    driver.click(sample_id)
    return driver


def _label_of(dataset, sample_id):
    sample = dataset[sample_id]
    return sample.ground_truth.label if sample.ground_truth else None


# --- the map ----------------------------------------------------------------


def test_every_point_is_drawn_one_trace_per_class_unlabeled_gray(images):
    from fiftyone_plugin.colors import UNLABELED, class_colors

    driver = _opened(images)

    base = driver.traces()[N_OVERLAYS:]
    assert [t["name"] for t in base] == [
        "Unlabeled (3)", "bird (1)", "cat (2)", "dog (2)"
    ]
    assert all(t["type"] == "scattergl" for t in base)
    assert sorted(i for t in base for i in t["ids"]) == sorted(images.values("id"))
    colors = class_colors(["bird", "cat", "dog"])
    assert base[0]["marker"]["color"] == UNLABELED
    assert [t["marker"]["color"] for t in base[1:]] == list(colors.values())
    assert "label: Unlabeled" in base[0]["hovertemplate"]
    assert base[2]["text"][0].startswith("img_") and "label: cat" in (
        base[2]["hovertemplate"]
    )
    assert "8 points drawn" in driver.text("notices")


def test_panel_state_stays_small(images):
    driver = _click(_opened(images), images.first().id)

    assert len(repr(driver.state)) < 1000
    assert "map" not in driver.state


def test_a_dataset_without_a_map_offers_to_compute_one(dataset, tmp_path, rng):
    import fiftyone as fo

    dataset.add_sample(fo.Sample(filepath=_png(tmp_path / "a.png", rng)))
    driver = _opened(dataset)

    assert "No map yet" in driver.text("no_map")
    driver.call("compute")
    (prompt,) = driver.triggered("prompt_user_for_operation")
    assert prompt["operator_uri"].endswith("/compute_data_explorer")
    assert prompt["on_success"].endswith("#on_maps_changed")


def test_refresh_shows_a_map_made_elsewhere(dataset, tmp_path, rng):
    """A delegated compute ends after its prompt closed: Refresh draws it."""
    import fiftyone as fo

    dataset.add_sample(fo.Sample(filepath=_png(tmp_path / "a.png", rng)))
    driver = _opened(dataset)
    assert driver.prop("refresh") is not None
    _add_plain_map(dataset)  # as a delegated run would, behind the panel

    driver.call("on_maps_changed")
    assert driver.text("no_map") is None
    assert sum(len(t["ids"]) for t in driver.traces()[N_OVERLAYS:]) == 1


def test_missing_vectors_are_counted_and_listed(dataset, tmp_path, rng):
    _explorer_dataset(dataset, tmp_path, rng, broken=2)
    driver = _opened(dataset)

    notices = driver.text("notices")
    assert "2 of 14 have no vectors" in notices
    assert "broken\\_0.png" in notices and "broken\\_1.png" in notices
    assert "12 points drawn" in notices


def test_two_hundred_classes_each_get_a_color_and_the_fallback_is_stated(
    dataset, tmp_path, rng
):
    labels = [f"class{k:03d}" for k in range(200)]
    _image_dataset(dataset, tmp_path, rng, labels)
    driver = _opened(dataset)

    base = driver.traces()[N_OVERLAYS:]
    colors = {t["marker"]["color"] for t in base[1:]}
    assert len(base) == 201 and len(colors) == 200
    assert "200 classes" in driver.text("notices")


def test_samples_added_after_the_map_are_counted(images, tmp_path, rng):
    import fiftyone as fo

    images.add_sample(fo.Sample(filepath=_png(tmp_path / "late.png", rng)))
    driver = _opened(images)

    assert "1 samples of the dataset are not on this map" in driver.text("notices")


# --- a clicked sample ---------------------------------------------------


def test_a_click_shows_the_image_and_its_label(images):
    sample = images.match({"ground_truth.label": "bird"}).first()
    driver = _click(_opened(images), sample.id)

    card = driver.card
    assert card["id"] == sample.id
    assert card["title"] == os.path.basename(sample.filepath) + " (image)"
    assert card["label"] == "label: bird"
    assert card["filepath"] == sample.filepath
    assert card["image"] == "/media?filepath=" + sample.filepath.replace("/", "%2F")
    assert card["audio"] is None and card["sensor"] is None


def test_a_click_is_answered_without_a_panel_render(images):
    """The plot has no on_click: a click through the panel would make the App
    render the panel again, copying and redrawing every point."""
    driver = _opened(images)
    assert "on_click" not in driver.prop("map")["view"]
    controls = driver.prop("controls")["view"]
    assert controls["card_operator"] == CARD
    assert controls["brain_key"] == "viz" and controls["dataset"] == images.name
    assert controls["revision"] == driver.state["map_revision"]

    answer = driver.click(images.first().id)
    assert answer.executor._requests == [], "no panel patch, no render"
    assert "current" not in driver.state and images.first().id not in repr(
        driver.state
    )


def test_a_queued_change_shows_in_the_card_and_a_removed_sample_is_forgotten(
    images,
):
    sample_id = images.first().id
    driver = _click(_opened(images), sample_id)

    driver.call("set_label", label="lion")
    assert driver.fetch_card() and "queued: label → lion (not saved yet)" in (
        driver.card["label"]
    )
    driver.call("discard")
    driver.call("delete_item")
    driver.fetch_card()
    assert "queued: delete" in driver.card["label"]

    driver.call("save")
    driver.fetch_card()
    assert driver.card["missing"] is True and driver.clicked is None


def test_an_edit_for_a_sample_that_is_gone_is_refused(images):
    sample_id = images.first().id
    driver = _click(_opened(images), sample_id)
    images.delete_samples([sample_id])

    driver.call("set_label", label="ghost")
    assert "not in the dataset any more" in driver.state["message"]
    assert "empty" in driver.queue_text()
    driver.call("delete_item", sample_id=None)
    assert "Click a point first" in driver.state["message"]
    driver.call("delete_item", sample_id="not-an-id")
    assert "not in the dataset any more" in driver.state["message"]


def test_the_card_of_a_map_that_is_gone_falls_back_to_the_first_map(images):
    from panels._card import sample_card

    sample = images.match({"ground_truth.label": "cat"}).first()
    assert sample_card(images, "no-such-map", sample.id)["label"] == "label: cat"
    assert sample_card(images, "no-such-map", sample.id)["brain_key"] == "viz"
    for bad, why in ((None, "No sample was given"), ("zzz", "is not a sample id"),
                     ({"$ne": 1}, "is not a sample id")):
        card = sample_card(images, "viz", bad)
        assert card["missing"] is True and why in card["title"]


def test_the_card_on_a_dataset_without_a_map_says_so(dataset):
    import fiftyone as fo

    from panels._card import sample_card

    dataset.add_sample(fo.Sample(filepath="/data/a.png"))
    card = sample_card(dataset, None, dataset.first().id)
    assert card["missing"] is True and card["title"] == "The dataset has no map"


def test_an_audio_click_shows_its_preview_and_a_player(dataset, tmp_path):
    import soundfile as sf

    from fiftyone_plugin.importing import import_samples

    t = np.arange(16000) / 16000
    for k in range(6):
        sf.write(tmp_path / f"tone{k}.wav", np.sin(2 * np.pi * (300 + 50 * k) * t),
                 16000)
    import_samples(dataset, str(tmp_path), labels="none")
    _add_plain_map(dataset)
    sample = dataset.first()
    card = _click(_opened(dataset), sample.id).card

    assert card["image"].endswith(sample.preview.replace("/", "%2F"))
    assert card["audio"] == "/media?filepath=" + sample.filepath.replace("/", "%2F")
    assert card["title"].endswith(".wav (audio)")


def test_an_audio_file_without_a_preview_says_how_to_get_one(dataset, tmp_path):
    import fiftyone as fo
    import soundfile as sf

    path = tmp_path / "raw.wav"
    sf.write(path, np.zeros(800), 8000)
    dataset.add_sample(fo.Sample(filepath=str(path)))
    _add_plain_map(dataset)
    card = _click(_opened(dataset), dataset.first().id).card

    assert card["image"] is None and card["audio"].endswith("raw.wav")
    assert "import_samples" in card["note"]


def test_a_sensor_click_plots_its_axes(dataset, tmp_path):
    from fiftyone_plugin.importing import import_samples

    for k in range(5):
        rows = ["timestamp,accX,accY,accZ"] + [
            f"{10 * i},{np.sin(i / 5 + k):.4f},{np.cos(i / 7):.4f},{i % 3}"
            for i in range(100)
        ]
        (tmp_path / f"walk{k}.csv").write_text("\n".join(rows) + "\n")
    import_samples(dataset, str(tmp_path), labels="none")
    _add_plain_map(dataset)
    first = dataset.first()
    card = _click(_opened(dataset), first.id).card

    chart = card["sensor"]
    assert chart["axes"] == ["accX", "accY", "accZ"]
    assert len(chart["t"]) == 100 and chart["t"][1] == pytest.approx(0.01)
    assert [len(v) for v in chart["series"]] == [100, 100, 100]
    assert chart["series"][2][:4] == [0.0, 1.0, 2.0, 0.0]
    assert chart["caption"] == "3 axes, 100 frames at 100 Hz"
    assert card["image"] is None


def test_a_long_recording_keeps_its_peaks_in_the_chart(tmp_path):
    from panels._sample import MAX_PLOT_FRAMES, PLOT_BUCKETS, sensor_chart

    n = 50_000
    values = np.zeros(n)
    values[31_337] = 9.0  # one spike: every k-th frame would miss it
    values[7_001] = -4.0
    rows = ["timestamp,accX"] + [f"{i},{v:g}" for i, v in enumerate(values)]
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")

    chart = sensor_chart(str(tmp_path / "long.csv"))
    assert len(chart["t"]) == 2 * PLOT_BUCKETS <= MAX_PLOT_FRAMES
    assert max(chart["series"][0]) == 9.0 and min(chart["series"][0]) == -4.0
    assert chart["t"] == sorted(chart["t"])
    assert "lowest and highest value" in chart["caption"]


def test_an_unreadable_recording_says_why(tmp_path):
    from panels._sample import sensor_chart

    (tmp_path / "bad.csv").write_text("timestamp,accX\n0,not a number\n")
    chart = sensor_chart(str(tmp_path / "bad.csv"))
    assert chart["axes"] == [] and chart["caption"].startswith("cannot plot")


def _add_plain_map(dataset):
    import fiftyone.brain as fob

    points = np.random.default_rng(1).normal(size=(len(dataset), 2))
    fob.compute_visualization(dataset, points=points, brain_key="viz")


# --- queued edits -------------------------------------------------------


def test_set_label_queues_and_save_writes(images):
    sample = images.match({"ground_truth.label": "cat"}).first()
    driver = _click(_opened(images), sample.id)

    driver.call("set_label", label=" lion ")
    assert _label_of(images, sample.id) == "cat"
    assert "1 sample with pending changes" in driver.queue_text()
    queued = driver.trace("Queued label")
    assert queued["ids"] == [sample.id]

    driver.call("save")
    assert _label_of(images, sample.id) == "lion"
    assert driver.triggered("reload_dataset")
    assert "empty" in driver.queue_text()
    assert any(t["name"] == "lion (1)" for t in driver.traces())


def test_keys_l_and_d_call_set_label_and_delete_item(images):
    sample = images.match({"ground_truth.label": "dog"}).first()
    driver = _click(_opened(images), sample.id)

    driver.call("on_key", key="l", label="wolf")
    assert driver.trace("Queued label")["ids"] == [sample.id]
    assert "'wolf'" in driver.queue_text()
    driver.call("on_key", key="d")
    assert driver.trace("Queued delete")["ids"] == [sample.id]
    driver.call("on_key", key="x")
    assert len(images) == 8


def test_without_a_typed_label_nothing_is_queued(images):
    driver = _click(_opened(images), images.first().id)

    driver.call("set_label")
    assert "Type a label first" in driver.state["message"]
    assert "empty" in driver.queue_text()


def test_delete_then_save_removes_and_restore_brings_back(images):
    sample_id = images.first().id
    driver = _click(_opened(images), sample_id)

    driver.call("delete_item")
    assert len(images) == 8
    driver.call("save")
    assert sample_id not in images.values("id")
    assert driver.state["summary"]["n_points"] == 7

    driver.call("restore")
    assert sample_id in images.values("id")
    assert driver.state["summary"]["n_points"] == 8


def test_discard_and_undo_leave_the_dataset_untouched(images):
    before = images.values("ground_truth.label")
    first, second = images.values("id")[:2]
    driver = _click(_opened(images), first)
    driver.call("set_label", label="zebra")
    _click(driver, second).call("delete_item")

    driver.call("undo")
    assert "1 sample with pending changes" in driver.queue_text()
    driver.call("discard")
    assert "empty" in driver.queue_text()
    assert images.values("ground_truth.label") == before and len(images) == 8
    assert driver.trace("Queued label")["ids"] == []


def test_a_conflict_stops_the_save_and_is_reported(images):
    sample = images.match({"ground_truth.label": "cat"}).first()
    driver = _click(_opened(images), sample.id)
    driver.call("set_label", label="tiger")

    sample.ground_truth.label = "changed elsewhere"
    sample.save()
    driver.call("save")
    assert "nothing saved" in driver.state["message"]
    assert _label_of(images, sample.id) == "changed elsewhere"
    assert "1 sample with pending changes" in driver.queue_text()


def test_after_a_conflict_only_the_changed_samples_are_dropped(images):
    first, second = images.match({"ground_truth.label": "cat"}).values("id")[:2]
    driver = _click(_opened(images), first)
    driver.call("set_label", label="tiger")
    _click(driver, second).call("set_label", label="lynx")
    images.delete_samples([first])  # behind the panel

    driver.call("save")
    assert "nothing saved" in driver.state["message"]
    button = driver.prop("drop_conflicts")["view"]
    assert button["label"] == "Drop the 1 changed samples"

    driver.call("drop_conflicts")
    assert "dropped 1 changed samples" in driver.state["message"]
    assert driver.prop("drop_conflicts") is None
    assert "1 sample with pending changes" in driver.queue_text()
    driver.call("drop_conflicts")
    assert "nothing dropped" in driver.state["message"]
    driver.call("save")
    assert _label_of(images, second) == "lynx"


def test_the_drop_button_counts_the_conflicts_as_they_are_now(images, rng):
    import fiftyone.brain as fob

    a, b, c = images.match({"ground_truth": {"$ne": None}}).values("id")[:3]
    driver = _opened(images)
    for sample_id, label in ((a, "tiger"), (b, "lynx")):
        _click(driver, sample_id).call("set_label", label=label)
    _click(driver, c).call("delete_item")
    for sample_id in (a, b):
        sample = images[sample_id]
        sample.ground_truth.label = "changed elsewhere"
        sample.save()
    images.delete_samples([c])

    driver.call("save")
    assert driver.prop("drop_conflicts")["view"]["label"] == (
        "Drop the 3 changed samples"
    )
    driver.call("undo")  # the deletion of c
    assert driver.prop("drop_conflicts")["view"]["label"] == (
        "Drop the 2 changed samples"
    )

    fob.compute_visualization(
        images, points=rng.normal(size=(len(images), 2)), brain_key="other"
    )
    driver.call("on_change_run", value="other")
    assert driver.prop("drop_conflicts") is None, "another map, another queue"
    driver.call("on_change_run", value="viz")
    driver.call("discard")
    assert driver.prop("drop_conflicts") is None


def test_labels_are_text_not_markup(images):
    import fiftyone as fo

    driver = _click(_opened(images), images.first().id)

    driver.call("set_label", label="**bold** [link](http://127.0.0.1:1/)")
    status = driver.text("status")
    assert "\\*\\*bold\\*\\*" in status and "\\[link\\]" in status
    driver.call("discard")
    driver.call("set_label", label="y" * 500)
    assert "(500 characters)" in driver.state["message"]
    assert len(driver.state["message"]) < 200
    driver.call("discard")
    first = images.first()
    first.ground_truth = fo.Classification(label="<i>ital</i> & co")
    first.save()
    driver.call("on_load")
    names = [t["name"] for t in driver.traces()]
    assert "&lt;i&gt;ital&lt;/i&gt; &amp; co (1)" in names


def test_the_queue_outlives_the_panel(images):
    sample = images.first()
    driver = _click(_opened(images), sample.id)
    driver.call("set_label", label="kept")

    reopened = _opened(images)
    assert "1 sample with pending changes" in reopened.queue_text()
    assert reopened.trace("Queued label")["ids"] == [sample.id]


def test_a_label_on_a_plain_visualization_is_not_assisted(images):
    unlabeled = images.exists("ground_truth", False).first()
    driver = _click(_opened(images), unlabeled.id)

    driver.call("set_label", label="cat")
    assert "assisted labeling needs a data explorer run" in driver.state["message"]
    assert driver.trace("Queued label")["ids"] == [unlabeled.id]


def test_assisted_labeling_queues_exactly_the_proposal(dataset, tmp_path, rng):
    from fiftyone_plugin import assist

    _explorer_dataset(dataset, tmp_path, rng)
    unlabeled = dataset.exists("ground_truth", False).first()
    expected = assist.propose(dataset, "explorer", unlabeled.id, "dark")
    driver = _click(_opened(dataset), unlabeled.id)

    driver.call("set_label", label="dark")
    proposed = [i for i, _ in expected]
    assert driver.trace("Queued label")["ids"] == proposed
    assert "assisted" in driver.queue_text()
    assert dataset.count("ground_truth") == 3
    was_labeled = set(dataset.exists("ground_truth").values("id"))

    driver.call("save")
    now_labeled = set(dataset.exists("ground_truth").values("id"))
    assert now_labeled - was_labeled == set(proposed)


# --- selections -----------------------------------------------------------


def test_lasso_selects_in_the_grid_and_the_grid_selection_is_highlighted(images):
    ids = images.values("id")[:3]
    driver = _opened(images)

    driver.call("on_select", data=[])
    assert not driver.triggered("set_selected_samples")
    driver.call("on_select", data=[{"id": i, "trace": "t", "idx": 0} for i in ids])
    assert driver.selected == ids

    driver.call("on_change_selected")
    assert driver.trace("Selected")["ids"] == ids
    assert driver.prop("controls")["view"]["n_selected"] == 3
    assert driver.prop("delete_selection")["view"]["label"] == "Delete selection (3)"


def test_overlays_show_only_samples_still_in_the_dataset(images):
    ids = images.values("id")[:3]
    driver = _opened(images)
    driver.selected = ids
    images.delete_samples([ids[0]])  # behind the panel: the map still has it

    driver.call("on_change_selected")
    assert driver.trace("Selected")["ids"] == ids[1:]
    xy = dict(zip(*_map_points(images)))
    trace = driver.trace("Selected")
    assert [[x, y] for x, y in zip(trace["x"], trace["y"])] == [
        pytest.approx(list(xy[i])) for i in ids[1:]
    ]


def test_a_queued_label_has_the_color_of_its_class_as_drawn(images):
    from fiftyone_plugin.colors import class_colors

    unlabeled = images.exists("ground_truth", False).first().id
    driver = _click(_opened(images), unlabeled)
    assert driver.state["summary"]["classes"] == ["bird", "cat", "dog"]

    driver.call("set_label", label="dog")
    trace = driver.trace("Queued label")
    assert trace["ids"] == [unlabeled]
    assert trace["marker"]["color"] == [class_colors(["bird", "cat", "dog"])["dog"]]


def _map_points(dataset):
    results = dataset.load_brain_results("viz")
    return results.sample_ids, results.points


def test_one_label_for_a_whole_selection(images):
    ids = images.values("id")[:4]
    driver = _opened(images)
    driver.selected = ids

    driver.call("label_selection", label="herd")
    assert sorted(driver.trace("Queued label")["ids"]) == sorted(ids)
    driver.call("save")
    assert images.select(ids).values("ground_truth.label") == ["herd"] * 4


# --- menu -------------------------------------------------------------------


def test_menu_prompts_place_clear_run_and_clear_labels(dataset, tmp_path, rng):
    _explorer_dataset(dataset, tmp_path, rng)
    driver = _opened(dataset)
    assert driver.prop("clear_run") is not None

    driver.call("place_new")
    (prompt,) = driver.triggered("prompt_user_for_operation")
    assert prompt["operator_uri"].endswith("/place_new_samples")
    assert prompt["params"] == {"brain_key": "explorer"}

    driver.call("clear_run")
    (prompt,) = driver.triggered("prompt_user_for_operation")
    assert prompt["operator_uri"].endswith("/clear_data_explorer")
    assert prompt["params"] == {"brain_key": "explorer"}

    driver.call("clear_labels")
    (prompt,) = driver.triggered("prompt_user_for_operation")
    assert prompt["operator_uri"].endswith("/clear_all_labels")
    assert prompt["params"] == {"label_field": "ground_truth"}
    assert dataset.count("ground_truth") == 3


def test_after_the_run_is_cleared_the_panel_shows_no_map(dataset, tmp_path, rng):
    from fiftyone_plugin.explorer import clear_data_explorer

    _explorer_dataset(dataset, tmp_path, rng)
    driver = _opened(dataset)
    clear_data_explorer(dataset, "explorer")

    driver.call("on_maps_changed")
    assert driver.state["run"] is None and driver.traces() == []
    assert "No map yet" in driver.text("no_map")



# --- what travels with every request ---------------------------------------

# views that show a value and never write it back into the panel state
_DISPLAY_VIEWS = {
    "MarkdownView", "ImageView", "MediaPlayerView", "Button", "PlotlyView",
    "View", "GridView", "HStackView", "MenuView", "Notice", "Warning",
}


def _input_properties(node, path=""):
    """(path, view name) of every property of the layout the App could edit."""
    found = []
    for name, prop in (node.get("properties") or {}).items():
        view = prop.get("view") or {}
        kind = view.get("name")
        if prop["type"].get("name") == "Object":
            if kind not in _DISPLAY_VIEWS:
                found.append((path + name, kind))
            found += _input_properties(prop["type"], path + name + ".")
        elif kind not in _DISPLAY_VIEWS:
            found.append((path + name, kind))
    return found


def test_the_plot_is_told_when_its_points_change_and_only_then(images):
    """``datarevision``: Plotly skips the points when it has not changed."""
    driver = _opened(images)
    first, second = images.values("id")[:2]

    def revision():
        return driver.prop("map")["view"]["layout"]["datarevision"]

    opened = revision()
    assert opened
    _click(driver, first)
    _click(driver, second)
    assert revision() == opened, "a click redraws no point"

    driver.call("set_label", label="cat")
    queued = revision()
    assert queued != opened, "a queued label changes the overlay traces"
    driver.call("discard")
    assert revision() not in (opened, queued)


def test_the_layout_has_no_app_inputs_and_the_plot_is_composite(images):
    """Any App input (and a plain plot's data change) makes the App copy all
    panel data, every point, into the panel state sent with each request."""
    driver = _click(_opened(images), images.first().id)

    assert _input_properties(driver.output) == []
    assert driver.prop("map")["view"]["composite_view"] is True
    controls = driver.prop("controls")["view"]
    assert controls["component"] == "DataExplorerControls"
    assert controls["keys"] == ["l", "d"]
    assert controls["on_key"].endswith("#on_key")
    assert controls["on_set_label"].endswith("#set_label")
    assert controls["on_delete_item"].endswith("#delete_item")


def test_overlay_traces_come_first_and_every_trace_names_its_symbol(images):
    driver = _opened(images)

    names = [t["name"] for t in driver.traces()]
    assert [n.split(" (")[0] for n in names[:N_OVERLAYS]] == [
        "Queued label", "Queued delete", "Selected"
    ]
    assert all(t["marker"].get("symbol") for t in driver.traces())


def test_several_maps_are_buttons_and_switching_redraws(images, rng):
    import fiftyone.brain as fob

    fob.compute_visualization(
        images, points=rng.normal(size=(len(images), 2)), brain_key="second"
    )
    driver = _click(_opened(images), images.first().id)
    buttons = [driver.prop(f"map_{k}")["view"] for k in range(2)]
    assert [b["params"] for b in buttons] == [{"value": "second"}, {"value": "viz"}]
    assert [b["label"] for b in buttons] == ["Map: second", "viz"]

    driver.call("on_change_run", value="viz")
    assert driver.state["run"] == "viz"
    assert driver.prop("controls")["view"]["brain_key"] == "viz"
    assert driver.prop("map_1")["view"]["label"] == "Map: viz"


def test_a_click_shows_the_scores_once_they_are_computed(dataset, tmp_path, rng):
    from fiftyone_plugin import assist

    _explorer_dataset(dataset, tmp_path, rng)
    sample_id = dataset.first().id
    driver = _click(_opened(dataset), sample_id)
    assert driver.card["scores"] == "scores: not computed for this map"

    assist.compute_label_issues(dataset, "explorer")
    _click(driver, sample_id)
    scores = driver.card["scores"]
    assert "outlier" in scores and "likely mislabeled" in scores


def test_a_plain_map_is_colored_by_a_classification_field(images):
    import fiftyone as fo

    assert "colored by **ground\\_truth**" in _opened(images).text("notices")

    images.rename_sample_field("ground_truth", "animal")
    images.add_sample_field(
        "ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
    )
    assert "colored by **animal**" in _opened(images).text("notices")

    images.delete_sample_field("animal")
    driver = _click(_opened(images), images.first().id)
    assert "colored by **data\\_explorer\\_label**" in driver.text("notices")
    driver.call("set_label", label="new")
    assert "1 sample with pending changes" in driver.queue_text()


def test_twelve_thousand_points_are_all_drawn(dataset):
    """Robustness case 5: no silent subsampling at 12,000 points."""
    import fiftyone as fo
    import fiftyone.brain as fob

    n = 12_000
    dataset.add_samples([fo.Sample(filepath=f"/data/{i}.png") for i in range(n)])
    points = np.random.default_rng(0).normal(size=(n, 2))
    fob.compute_visualization(dataset, points=points, brain_key="big")
    driver = _opened(dataset)

    base = driver.traces()[N_OVERLAYS:]
    assert sum(len(t["ids"]) for t in base) == n
    assert f"{n:,} points drawn" in driver.text("notices") or (
        f"{n} points drawn" in driver.text("notices")
    )


def test_refresh_draws_a_map_changed_by_another_process(dataset, tmp_path, rng):
    """A delegated placing (or compute) writes the map from another process;
    FiftyOne caches loaded brain results per key without checking them, so
    the panel must not draw the App process's stale copy."""
    import subprocess
    import sys

    import fiftyone as fo

    _explorer_dataset(dataset, tmp_path, rng)
    dataset.persistent = True
    driver = _opened(dataset)
    n_before = driver.state["summary"]["n_points"]
    late = _png(tmp_path / "late.png", rng, shade=25)
    dataset.add_sample(fo.Sample(filepath=late))

    code = (
        "import fiftyone as fo; from fiftyone_plugin.placing import "
        "place_new_samples; "
        f"r = place_new_samples(fo.load_dataset({dataset.name!r}), 'explorer'); "
        "assert r.n_placed == 1, r"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)

    driver.call("on_maps_changed")  # the menu's Refresh
    assert driver.state["summary"]["n_points"] == n_before + 1
    late_id = dataset.match({"filepath": late}).first().id
    assert any(late_id in t["ids"] for t in driver.traces()[N_OVERLAYS:])
