"""The Data Explorer panel: the map, the clicked sample, the edit queue.

Lifecycle methods and button callbacks are thin: each reads the panel state,
calls one helper and lets ``render`` lay out the result. What travels where:

- ``ctx.panel.state`` (sent back by the App with every request) holds only
  small things: the chosen map, a few counts, the plot's data revision and
  the last message. The panel has no App inputs (they would copy the plot
  data into the state);
- the panel's own component (``dist/index.umd.js``) owns the click: it
  takes the map's clicks in the browser, asks the ``sample_card`` operator
  for the clicked sample and draws its card, so a click does not make the
  App render the panel (and redraw every point) again. It sends the
  clicked sample id and the typed label with each call (Set label, Delete
  item, the keys), so no event can take a click back;
- ``ctx.panel.data`` (write-only) holds the plot traces; the three overlay
  traces (queued labels, queued deletions, grid selection) come first and
  are replaced on their own, so a queue change does not resend every point;
- the edit queue lives in an execution store (``fiftyone_plugin.edits``), so
  it survives page reloads and closing the panel;
- the selection is the App's grid selection (``ctx.selected``).
"""

import uuid

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _edits, _layout, _map, _runs, _sample

PLUGIN = _layout.PLUGIN
# the map's classes ride in the panel state (for the overlays' colors) up to
# this size; more are read from the dataset on each change
MAX_STATE_CLASSES_CHARS = 1_500
COMPUTE_URI = f"{PLUGIN}/compute_data_explorer"
CLEAR_RUN_URI = f"{PLUGIN}/clear_data_explorer"
PLACE_URI = f"{PLUGIN}/place_new_samples"
CLEAR_LABELS_URI = f"{PLUGIN}/clear_all_labels"


class DataExplorerPanel(foo.Panel):
    """The map of a dataset, colored by label, with labeling and deletion."""

    @property
    def config(self):
        return foo.PanelConfig(
            name="data_explorer",
            label="Data Explorer",
            icon="scatter_plot",
            help_markdown=(
                "Click a point to preview its sample; type a label and press "
                "**l** (Set label) or **d** (Delete item). Edits are queued "
                "until **Save labels**. Drag to pan, scroll to zoom; pick Lasso "
                "or Box Select in the plot's toolbar to select points in the "
                "grid."
            ),
        )

    # lifecycle ------------------------------------------------------------

    def on_load(self, ctx):
        _open(ctx)

    def on_change_dataset(self, ctx):
        _open(ctx)

    def on_change_selected(self, ctx):
        if _current_run(ctx):
            _show_overlays(ctx)

    # the map --------------------------------------------------------------

    def on_change_run(self, ctx):
        ctx.panel.state.set({"run": ctx.params.get("value"), "message": None})
        _open(ctx)

    def on_select(self, ctx):
        ids = list(dict.fromkeys(
            p["id"] for p in ctx.params.get("data") or [] if p.get("id")
        ))
        if not ids:
            return  # react-plotly sends an empty selection after each render
        ctx.ops.set_selected_samples(ids)
        _say(ctx, f"{len(ids)} samples selected on the map and in the grid")

    def on_key(self, ctx):
        handler = {"l": self.set_label, "d": self.delete_item}.get(
            ctx.params.get("key")
        )
        if handler is not None:
            handler(ctx)

    # edits (queued) -------------------------------------------------------

    def set_label(self, ctx):
        """Queues the typed label for the clicked sample (``sample_id``)."""
        label = _typed_label(ctx)
        if not label:
            return _say(ctx, "Type a label first, then Set label (or press l)")
        _queue_edit(ctx, lambda info, queue, sample_id: _edits.set_label(
            ctx.dataset, info, queue, sample_id, label
        ))

    def delete_item(self, ctx):
        """Queues the deletion of the clicked sample (``sample_id``)."""
        _queue_edit(ctx, lambda info, queue, sample_id: _edits.delete(
            queue, [sample_id]
        ))

    def label_selection(self, ctx):
        label = _typed_label(ctx)
        if not label:
            return _say(ctx, "Type a label first, then Label selection")
        _queue_selection_edit(ctx, lambda queue, ids: _edits.label_selection(
            queue, ids, label
        ))

    def delete_selection(self, ctx):
        _queue_selection_edit(ctx, lambda queue, ids: _edits.delete(
            queue, ids, source="selection"
        ))

    def clear_selection(self, ctx):
        ctx.ops.clear_selected_samples()

    def undo(self, ctx):
        info, queue = _run_queue(ctx)
        action = queue.undo()
        _show_overlays(ctx, info, queue, message=(
            "undid: " + _edits.describe(action) if action else "nothing to undo"
        ))

    def discard(self, ctx):
        info, queue = _run_queue(ctx)
        n = queue.discard()
        _show_overlays(ctx, info, queue, message=(
            f"discarded {n} queued actions; the dataset is unchanged"
        ), conflicts_run=None)

    def save(self, ctx):
        info, queue = _run_queue(ctx)
        saved, message = _edits.save(queue)
        if saved:
            return _redraw_after_write(ctx, info, message, conflicts_run=None)
        # from now on this map's queue shows its conflicts (see _render_map)
        ctx.panel.state.set({"message": message, "conflicts_run": info.key})

    def drop_conflicts(self, ctx):
        """Drops the queued samples that changed elsewhere since queued."""
        info, queue = _run_queue(ctx)
        ids = [sample_id for sample_id, _ in queue.conflicts()]
        n = queue.drop(ids) if ids else 0
        if not n:
            message = ("no queued sample has changed elsewhere since it was "
                       "queued; nothing dropped")
        elif queue.count():
            message = (f"dropped {n} changed samples from the queue; Save "
                       "labels writes the other queued changes")
        else:
            message = f"dropped {n} changed samples; the queue is now empty"
        _show_overlays(ctx, info, queue, message=message, conflicts_run=None)

    def restore(self, ctx):
        from fiftyone_plugin import labels

        n = labels.restore_deleted(ctx.dataset)
        _redraw_after_write(ctx, _runs.run_info(ctx.dataset, _current_run(ctx)),
                            f"restored {n} deleted samples")

    # menu -----------------------------------------------------------------

    def compute(self, ctx):
        ctx.prompt(COMPUTE_URI, on_success=self.on_maps_changed)

    def place_new(self, ctx):
        ctx.prompt(PLACE_URI, params={"brain_key": _current_run(ctx)},
                   on_success=self.on_maps_changed)

    def clear_run(self, ctx):
        ctx.prompt(CLEAR_RUN_URI, params={"brain_key": _current_run(ctx)},
                   on_success=self.on_maps_changed)

    def clear_labels(self, ctx):
        run = _current_run(ctx)
        field = (
            _runs.run_info(ctx.dataset, run).label_field if run
            else _runs.default_label_field(ctx.dataset)
        )
        ctx.prompt(CLEAR_LABELS_URI, params={"label_field": field},
                   on_success=self.on_maps_changed)

    def on_maps_changed(self, ctx):
        _open(ctx)

    # layout ---------------------------------------------------------------

    def render(self, ctx):
        from fiftyone_plugin import labels

        panel = types.Object()
        maps = _runs.list_maps(ctx.dataset)
        run = _runs.choose_map(maps, ctx.panel.state.run)
        info = _runs.run_info(ctx.dataset, run) if run else None
        n_deleted = len(labels.list_deleted(ctx.dataset))
        _layout.toolbar(panel, self, maps, run, info, n_deleted)
        _layout.status(panel, ctx.panel.state.message)
        if info is None:
            _layout.no_map(panel, self)
        else:
            _render_map(ctx, panel, self, info)
        return types.Property(panel, view=types.GridView(
            orientation="vertical", gap=1, align_x="left"
        ))


def _render_map(ctx, panel, owner, info):
    """The map, the clicked sample, the actions and the queue."""
    summary = ctx.panel.state.summary or {}
    _layout.notices(panel, info, summary)
    revision = ctx.panel.state.map_revision
    _layout.map_plot(panel, owner, info.key, summary.get("n_points", 0), revision)
    queue = _edits.queue_for(ctx.dataset, info)
    actions, pending = queue.actions, queue.pending()
    _layout.controls(
        panel, owner, ctx.dataset.name, info.key, revision, len(ctx.selected)
    )
    _layout.selection_actions(panel, owner, len(ctx.selected))
    # after a refused save, the conflicts as they are now (an undo or
    # another writer may have changed them); only then, as it reads every
    # queued sample
    n_conflicts = (
        len(queue.conflicts())
        if pending and ctx.panel.state.conflicts_run == info.key else 0
    )
    _layout.queue(
        panel, owner, _edits.queue_markdown(actions, pending, ctx.dataset),
        len(pending), len(actions), n_conflicts,
    )


def _current_run(ctx):
    """The map the panel shows (None when the dataset has none)."""
    return _runs.choose_map(_runs.list_maps(ctx.dataset), ctx.panel.state.run)


def _run_queue(ctx):
    """The :class:`RunInfo` of the shown map and its edit queue."""
    info = _runs.run_info(ctx.dataset, _current_run(ctx))
    return info, _edits.queue_for(ctx.dataset, info)


def _open(ctx):
    """Chooses the map and draws it."""
    run = _current_run(ctx)
    if run is None:
        ctx.panel.data.set("map", [])
        ctx.panel.state.set({"run": None, "summary": {}})
        return
    _draw_map(ctx, _runs.run_info(ctx.dataset, run), run=run)


def _draw_map(ctx, info, message=None, **values):
    """Sends every point of the map (class traces and overlays).

    ``message`` and ``values`` go into the same state patch.
    """
    data = _map.load_map(ctx.dataset, info.key, info.label_field)
    traces = _map.base_traces(data)
    queue = _edits.queue_for(ctx.dataset, info)
    pending = queue.pending()
    wanted = _map.overlay_ids(pending, ctx.selected)
    overlays = _overlays(
        ctx, pending, _map.points_of(data.ids, data.xy, wanted),
        data.classes, len(data.ids),
    )
    ctx.panel.data.set("map", overlays + traces)
    skipped = {s.get("id") for s in info.skipped}
    summary = {
        "n_points": len(data.ids),
        "n_dataset": data.n_dataset,
        "n_classes": len(data.classes),
        "n_not_placed": len(data.off_map - skipped),
    }
    if len(repr(data.classes)) <= MAX_STATE_CLASSES_CHARS:
        # the overlays' colors must match the classes as drawn
        summary["classes"] = data.classes
    _set_state(ctx, message, summary=summary, **values)


def _overlays(ctx, pending, points, classes, n_points):
    new_labels = [p.get("label") for p in pending.values()]
    colors = _map.class_colors(classes, new_labels)
    size = _map.marker_size(n_points)
    return _map.overlay_traces(
        ctx.dataset, points, pending, ctx.selected, colors, size
    )


def _show_overlays(ctx, info=None, queue=None, message=None, **values):
    """Replaces only the overlay traces (queue and selection highlights).

    This runs on every queued edit, so it reads only the overlays' points,
    not the whole map; ``message`` goes into the same state patch (each
    patch makes the App render the panel again).
    """
    if info is None:
        info, queue = _run_queue(ctx)
    summary = ctx.panel.state.summary
    if not summary:
        return _draw_map(ctx, info, message, **values)
    pending = queue.pending()
    wanted = _map.overlay_ids(pending, ctx.selected)
    classes = summary.get("classes")
    if classes is None:
        classes = _map.dataset_classes(ctx.dataset, info.label_field)
    traces = _overlays(
        ctx, pending, _map.overlay_points(ctx.dataset, info.key, wanted),
        classes, summary.get("n_points", 0),
    )
    ctx.panel.data.set({f"map.{k}": t for k, t in enumerate(traces)})
    _set_state(ctx, message, **values)


def _set_state(ctx, message=None, **values):
    """One state patch: a new plot revision, the message and ``values``.

    The revision tells the plot that its traces changed (see
    ``_map.layout``); a fresh token, not a counter, so overlapping events
    cannot reuse a value.
    """
    values["map_revision"] = uuid.uuid4().hex[:12]
    if message is not None:
        values["message"] = message
    ctx.panel.state.set(values)


def _redraw_after_write(ctx, info, message, **values):
    """After the dataset changed: the map (the card follows) and the App grid."""
    _draw_map(ctx, info, message, **values)
    ctx.ops.reload_dataset()


def _queue_edit(ctx, edit):
    """Runs ``edit(info, queue, sample_id)`` on the clicked sample.

    The panel's component sends the clicked sample as ``sample_id``.
    """
    sample_id = ctx.params.get("sample_id")
    if not sample_id:
        return _say(ctx, "Click a point first: this applies to the clicked sample")
    if not (_sample.is_sample_id(sample_id)
            and ctx.dataset.select([sample_id]).count()):
        return _say(ctx, "nothing queued: the clicked sample is not in the "
                         "dataset any more; click another point")
    info, queue = _run_queue(ctx)
    try:
        message = edit(info, queue, sample_id)
    except ValueError as e:
        return _say(ctx, f"nothing queued: {e}")
    _show_overlays(ctx, info, queue, message=message)


def _queue_selection_edit(ctx, edit):
    """Runs ``edit(queue, ids)`` on the samples selected in the grid."""
    ids = list(ctx.selected or [])
    if not ids:
        return _say(ctx, "Select samples first (lasso on the map, or the grid)")
    info, queue = _run_queue(ctx)
    try:
        message = edit(queue, ids)
    except ValueError as e:
        return _say(ctx, f"nothing queued: {e}")
    _show_overlays(ctx, info, queue, message=message)


def _typed_label(ctx):
    """The label typed in the panel's label box (sent with the call)."""
    return (ctx.params.get("label") or "").strip()


def _say(ctx, message):
    """Shows what the last action did, in the panel."""
    ctx.panel.state.message = message
