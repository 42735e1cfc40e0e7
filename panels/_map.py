"""The map's points and its Plotly traces.

Every point of the map is drawn (WebGL ``scattergl``), one trace per class so
the legend names the classes, unlabeled points first, in gray, as
"Unlabeled". Three overlay traces (queued label changes, queued deletions,
the samples selected in the grid) always come first, at positions 0-2 that
never change, so the panel can replace just them without sending every
point again; they are larger than the points, so they show around them.
Every trace names its marker symbol, so a trace that replaces another at the
same position (the App merges panel updates) never keeps the other's symbol.
"""

import dataclasses
import html
import math
import os

UNLABELED_NAME = "Unlabeled"
SELECTED_COLOR = "#ff6d04"
DELETE_COLOR = "#e0245e"


@dataclasses.dataclass
class MapData:
    """The points of a map, in the order of the brain results.

    Attributes:
        ids: sample ids
        xy: ``(n, 2)`` array of map coordinates
        labels: the label of each point (None: unlabeled)
        names: the file name of each point, HTML-escaped for the hover box
        classes: every class of the label field in the dataset, sorted
        n_dataset: samples in the dataset
        off_map: ids of the dataset's samples that are not on the map
    """

    ids: list
    xy: object
    labels: list
    names: list
    classes: list
    n_dataset: int
    off_map: set


def positions(dataset, key):
    """``(ids, xy)`` of the map's points that are in the dataset now."""
    from fiftyone_plugin.map_results import load_results

    results = load_results(dataset, key)
    # a view, not the dataset: for a dataset, use_view() keeps the ids of
    # samples deleted since the map was made
    results.use_view(dataset.view())
    return list(results.current_sample_ids), results.current_points


def load_map(dataset, key, label_field):
    """The :class:`MapData` of map ``key``, colored by ``label_field``."""
    from fiftyone_plugin.labels import normalize_label

    ids, xy = positions(dataset, key)
    fields = ["id", "filepath"]
    has_labels = dataset.has_sample_field(label_field)
    if has_labels:
        fields.append(f"{label_field}.label")
    values = dataset.values(fields)
    path_of = dict(zip(values[0], values[1]))
    label_of = dict(zip(values[0], values[2])) if has_labels else {}
    return MapData(
        ids=ids,
        xy=xy,
        labels=[normalize_label(label_of.get(i)) for i in ids],
        names=[html.escape(os.path.basename(path_of.get(i) or "")) for i in ids],
        classes=dataset_classes(dataset, label_field),
        n_dataset=len(values[0]),
        off_map=set(values[0]) - set(ids),
    )


def dataset_classes(dataset, label_field):
    """The sorted classes of ``label_field`` over the whole dataset."""
    from fiftyone_plugin.labels import normalize_label

    if not dataset.has_sample_field(label_field):
        return []
    found = {normalize_label(c) for c in dataset.distinct(f"{label_field}.label")}
    return sorted(found - {None})


def class_colors(classes, extra=()):
    """Colors of ``classes``; labels in ``extra`` that are new get colors too."""
    from fiftyone_plugin import colors

    base = colors.class_colors(classes)
    new = [c for c in dict.fromkeys(extra) if c is not None and c not in base]
    if new:
        wider = colors.class_colors(list(classes) + new)
        base.update({c: wider[c] for c in new})
    return base


def marker_size(n):
    """Point size that keeps dense maps readable."""
    for limit, size in ((1_000, 8), (10_000, 6), (50_000, 4)):
        if n < limit:
            return size
    return 3


def base_traces(data):
    """One trace per class, unlabeled first; every point is in one trace."""
    colors = class_colors(data.classes)
    groups = {c: [] for c in [None] + list(data.classes)}
    for k, label in enumerate(data.labels):
        groups.setdefault(label, []).append(k)
    xs, ys = _coordinates(data.xy)
    size = marker_size(len(data.ids))
    traces = []
    for label, rows in groups.items():
        color = colors.get(label) if label is not None else _unlabeled_color()
        traces.append(_trace(
            trace_name(label, len(rows)), rows, data, xs, ys, color, size,
            hover=f"%{{text}}<br>label: {_hover_text(label)}<extra></extra>",
        ))
    return traces


def overlay_ids(pending, selected):
    """Every sample id the overlay traces may show."""
    return set(pending) | set(selected or [])


def points_of(ids, xy, wanted):
    """``{id: (x, y)}`` of the ``wanted`` ids among the points ``ids, xy``."""
    wanted = set(wanted)
    if not wanted:
        return {}
    return {i: xy[k] for k, i in enumerate(ids) if i in wanted}


def overlay_points(dataset, key, wanted):
    """``{id: (x, y)}`` of the ``wanted`` samples drawn on map ``key``.

    Reads the map's stored points and looks up only ``wanted`` in the
    dataset (a sample deleted since the map was drawn is not drawn), so a
    queued edit costs little at any map size; :func:`positions` checks
    every point.
    """
    if not wanted:
        return {}
    from fiftyone_plugin.map_results import load_results

    present = set(dataset.select(list(wanted)).values("id"))
    results = load_results(dataset, key)
    return points_of(results.sample_ids, results.points, present)


def overlay_traces(dataset, points, pending, selected, colors, size):
    """The three overlay traces: queued labels, queued deletions, selected.

    Args:
        dataset: the dataset
        points: ``{id: (x, y)}`` of the drawn points among the overlays'
            samples (:func:`overlay_points` or :func:`points_of`)
        pending: ``EditQueue.pending()``
        selected: ids selected in the App's grid
        colors: class colors (new labels in ``pending`` need one too)
        size: the marker size of the map
    """
    relabel = [i for i, p in pending.items() if "label" in p and i in points]
    delete = [i for i, p in pending.items() if p.get("delete") and i in points]
    chosen = [i for i in dict.fromkeys(selected or []) if i in points]
    names = _file_names(dataset, relabel + delete + chosen)
    new_label = [pending[i]["label"] for i in relabel]
    return [
        _overlay(
            f"Queued label ({len(relabel)})", relabel, points, size + 7,
            "circle-open", [colors.get(y) or _unlabeled_color() for y in new_label],
            [f"{names.get(i, '')} → {_hover_text(y)}"
             for i, y in zip(relabel, new_label)],
        ),
        _overlay(
            f"Queued delete ({len(delete)})", delete, points, size + 5,
            "x", DELETE_COLOR, [f"{names.get(i, '')}: delete" for i in delete],
        ),
        _overlay(
            f"Selected ({len(chosen)})", chosen, points, size + 9,
            "square-open", SELECTED_COLOR,
            [f"{names.get(i, '')}: selected" for i in chosen],
        ),
    ]


def trace_name(label, n):
    """The legend entry of a class: its name and its number of points."""
    if label is None:
        return f"{UNLABELED_NAME} ({n})"
    if label.startswith(UNLABELED_NAME):
        label = f'"{label}"'  # a class called "Unlabeled" is not the gray one
    # Plotly reads a few HTML tags in legend text: a label is shown as typed
    return f"{html.escape(label, quote=False)} ({n})"


def layout(key, n_points, revision=None):
    """The plot layout.

    ``uirevision`` keeps zoom and pan across updates. ``datarevision``
    (changed with every change of the traces) tells Plotly that arrays of
    the same content but a new identity (the App hands over copies of the
    traces on every re-render) hold no new data.
    """
    return {
        "datarevision": revision,
        "height": 520,
        "showlegend": True,
        "legend": {"itemsizing": "constant", "title": {"text": "label"}},
        "uirevision": key,
        # a click in Plotly's lasso or box mode also clears the selection,
        # which redraws every point several times (0.5 s at 100,000):
        # drag pans, the wheel zooms, the toolbar has lasso and box select
        "dragmode": "pan",
        "hovermode": "closest",
        "margin": {"t": 24, "l": 40, "b": 40, "r": 8},
        "xaxis": {"zeroline": False, "title": {"text": f"{n_points} points"}},
        "yaxis": {"zeroline": False, "scaleanchor": "x"},
    }


def _trace(name, rows, data, xs, ys, color, size, hover):
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": name,
        "x": [xs[k] for k in rows],
        "y": [ys[k] for k in rows],
        "ids": [data.ids[k] for k in rows],
        "text": [data.names[k] for k in rows],
        "hovertemplate": hover,
        "marker": {
            "color": color, "size": size, "opacity": 0.85, "symbol": "circle",
        },
    }


def _overlay(name, ids, points, size, symbol, color, text):
    # few points: unrounded (the base traces round to the map's span)
    xs = [float(points[i][0]) for i in ids]
    ys = [float(points[i][1]) for i in ids]
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": name,
        "x": xs,
        "y": ys,
        "ids": list(ids),
        "text": text,
        "showlegend": bool(ids),
        "legendrank": 2000,  # after the classes in the legend
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {
            "color": color, "size": size, "symbol": symbol,
            "line": {"width": 2, "color": color},
        },
    }


def _coordinates(xy):
    """x and y lists, rounded to about 5 significant digits of the map's span."""
    import numpy as np

    xy = np.asarray(xy, dtype=float)
    if not len(xy):
        return [], []
    span = float(np.ptp(xy, axis=0).max()) or 1.0
    decimals = max(0, 4 - math.floor(math.log10(span)))
    xy = np.round(xy, decimals)
    return xy[:, 0].tolist(), xy[:, 1].tolist()


def _file_names(dataset, ids):
    if not ids:
        return {}
    found, paths = dataset.select(ids).values(["id", "filepath"])
    return {i: html.escape(os.path.basename(p)) for i, p in zip(found, paths)}


def _hover_text(label):
    """A label for the hover box: HTML-escaped, Plotly's template braces defused."""
    if label is None:
        return UNLABELED_NAME
    return html.escape(label).replace("%{", "%\u200b{")


def _unlabeled_color():
    from fiftyone_plugin.colors import UNLABELED

    return UNLABELED
