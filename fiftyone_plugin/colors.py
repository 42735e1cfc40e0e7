"""Colors for classes on a map: distinct, never gray (gray means unlabeled)."""

import colorsys

UNLABELED = "#b0b0b0"

# Tableau's 20 colors without their two grays, strong shades first.
_TAB18 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)


def class_colors(classes):
    """A color per class name, as '#rrggbb' strings.

    Up to 18 classes get Tableau colors; more get evenly spaced hues at
    alternating lightness, so every class still has its own color and none
    is gray.

    Args:
        classes: a sequence of class names

    Returns:
        a dict mapping each class to its color
    """
    classes = list(classes)
    if len(classes) <= len(_TAB18):
        return dict(zip(classes, _TAB18))
    colors = {}
    for i, name in enumerate(classes):
        hue = (i * 0.618033988749895) % 1.0  # golden-ratio steps spread hues
        light = (0.45, 0.62, 0.32)[i % 3]
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
        colors[name] = "#{:02x}{:02x}{:02x}".format(
            int(r * 255), int(g * 255), int(b * 255)
        )
    return colors
