"""The sections of the panel's layout, top to bottom.

Each function adds one section to the panel's ``types.Object``; ``owner`` is
the panel, whose methods the buttons and the plot call.
"""

import fiftyone.operators.types as types

from . import _map
from ._text import md

PLUGIN = "@data-explorer/data-explorer"
CONTROLS_COMPONENT = "DataExplorerControls"
CARD_URI = f"{PLUGIN}/sample_card"
HOTKEYS = {"l": "Set label", "d": "Delete item"}
SHOW_SKIPPED = 20
MANY_CLASSES = 18  # class_colors() has this many fixed colors
LABEL_PLACEHOLDER = "label for the clicked sample or the selection"


def toolbar(panel, owner, maps, run, info, n_deleted):
    """The map chooser and the menu actions.

    Maps are buttons, not a dropdown: any input in the panel makes the App
    copy the plot data into the panel state (see ``controls``).
    """
    menu = panel.menu("menu", variant="square", color="secondary")
    if len(maps) > 1:
        for k, key in enumerate(maps):
            menu.btn(f"map_{k}", label=("Map: " if key == run else "") + key,
                     icon="scatter_plot" if key == run else None,
                     on_click=owner.on_change_run, params={"value": key})
    menu.btn("compute", label="Compute map", icon="add_chart",
             on_click=owner.compute)
    # a delegated compute or placing ends long after its prompt closed
    menu.btn("refresh", label="Refresh", icon="refresh",
             on_click=owner.on_maps_changed)
    if info is not None and info.is_explorer_run:
        menu.btn("place", label="Place new samples", icon="add_location",
                 on_click=owner.place_new)
        menu.btn("clear_run", label="Clear data explorer", icon="delete",
                 on_click=owner.clear_run)
    menu.btn("clear_labels", label="Clear all labels", icon="label_off",
             on_click=owner.clear_labels)
    if n_deleted:
        menu.btn("restore", label=f"Restore deleted ({n_deleted})",
                 icon="restore_from_trash", on_click=owner.restore)


def no_map(panel, owner):
    """What the panel shows on a dataset without a map."""
    panel.md(
        "### No map yet\n\nThis dataset has no data explorer run. "
        "**Compute map** turns every sample into a vector and maps the "
        "vectors to 2-D (it runs `compute_data_explorer`). A map computed "
        "as a delegated operation shows here once it is done and you press "
        "**Refresh** in the menu.",
        name="no_map",
    )
    panel.btn("compute_first", label="Compute map", icon="scatter_plot",
              variant="contained", on_click=owner.compute)


def notices(panel, info, summary):
    """Counts that qualify the map: drawn points, missing vectors, colors."""
    n_points = summary.get("n_points", 0)
    n_dataset = summary.get("n_dataset", 0)
    lines = [(
        f"**{n_points} points drawn**, every sample on the map "
        f"(nothing is subsampled); dataset: {n_dataset} samples; "
        f"colored by **{md(info.label_field)}**"
    )]
    skipped = info.skipped
    if skipped:
        n_run = info.n_samples or n_dataset
        lines.append(f"**{len(skipped)} of {n_run} have no vectors:**")
        lines += [
            f"- {md(s.get('filepath'))}: {md(s.get('reason'))}"
            for s in skipped[:SHOW_SKIPPED]
        ]
        if len(skipped) > SHOW_SKIPPED:
            lines.append(
                f"- … and {len(skipped) - SHOW_SKIPPED} more: "
                f"`get_run_record(dataset, {info.key!r})` lists all"
            )
    n_new = summary.get("n_not_placed", 0)
    if n_new:
        lines.append(
            f"{n_new} samples of the dataset are not on this map (added after "
            "it was made): **Place new samples** in the menu puts them in"
            if info.is_explorer_run else
            f"{n_new} samples of the dataset are not on this map (added after "
            "it was made); compute the map again to place them"
        )
    n_classes = summary.get("n_classes", 0)
    if n_classes > MANY_CLASSES:
        lines.append(
            f"{n_classes} classes: the first {MANY_CLASSES} have fixed colors, "
            "the others evenly spaced generated hues, so some look alike; "
            "hover a point to read its label"
        )
    if not info.is_explorer_run:
        lines.append(
            "This is a plain brain visualization (no data explorer record): "
            "assisted labeling and scores need a data explorer run"
        )
    panel.md("\n\n".join(lines), name="notices")


def map_plot(panel, owner, key, n_points, revision):
    """The scatter plot; its traces are in the panel data under ``map``.

    It has no ``on_click``: the panel's component takes the clicks (see
    ``controls``).
    """
    panel.plot(
        "map",
        layout=_map.layout(key, n_points, revision),
        config={"scrollZoom": True, "displaylogo": False, "responsive": True},
        on_selected=owner.on_select,
        height="540px",  # a number would be a percentage of the panel
        # the App copies a plain plot's changed data (and with it all the
        # panel data) into the panel state; a "composite" view is skipped
        composite_view=True,
    )


def controls(panel, owner, dataset_name, key, revision, n_selected):
    """The clicked sample, the label box, the buttons and keys (JS component).

    ``dist/index.umd.js`` takes the map's clicks, draws the clicked sample's
    card (from the ``sample_card`` operator, again whenever ``revision``
    changes) and calls the panel with the clicked sample and the typed
    label. Why a component: a click that went through the panel would make
    the App render the whole panel again, copying and redrawing every point;
    the App gives Python panels no hotkeys; and a panel input would make the
    App copy the whole panel data (every plot point) into the panel state,
    which travels with every request.
    """
    hint = "Keys: " + ", ".join(f"{k} = {v}" for k, v in HOTKEYS.items())
    panel.view("controls", types.View(
        component=CONTROLS_COMPONENT,
        card_operator=CARD_URI,
        dataset=dataset_name,
        brain_key=key,
        revision=revision,
        on_key=owner.on_key,
        on_set_label=owner.set_label,
        on_delete_item=owner.delete_item,
        on_label_selection=owner.label_selection,
        keys=list(HOTKEYS),
        n_selected=n_selected,
        placeholder=LABEL_PLACEHOLDER,
        hint=hint + " (ignored while typing); Enter in the box = Set label",
    ))


def status(panel, message):
    """The sentence saying what the last action did (plain text: it quotes
    labels and file names, which must not be read as markdown)."""
    if message:
        panel.md(md(message), name="status")


def selection_actions(panel, owner, n_selected):
    """Delete selection and Clear selection, while samples are selected."""
    if not n_selected:
        return
    row = panel.h_stack("actions", gap=1, align_x="left")
    row.btn("delete_selection", label=f"Delete selection ({n_selected})",
            icon="delete_sweep", on_click=owner.delete_selection)
    row.btn("clear_selection", label="Clear selection", icon="deselect",
            on_click=owner.clear_selection)


def queue(panel, owner, text, n_pending, n_actions, n_conflicts=0):
    """The pending changes and Save / Discard / Undo.

    While ``n_conflicts`` queued samples have changed elsewhere (shown
    after a refused save), a button drops just those from the queue, so
    the rest can be saved.
    """
    panel.md(text, name="queue")
    row = panel.h_stack("queue_actions", gap=1, align_x="left")
    if n_conflicts:
        row.btn("drop_conflicts", label=f"Drop the {n_conflicts} changed samples",
                icon="playlist_remove", on_click=owner.drop_conflicts)
    row.btn("save", label=f"Save labels ({n_pending})", icon="save",
            variant="contained", on_click=owner.save, disabled=not n_pending)
    row.btn("discard", label="Discard", icon="clear",
            on_click=owner.discard, disabled=not n_actions)
    row.btn("undo", label="Undo last", icon="undo",
            on_click=owner.undo, disabled=not n_actions)
