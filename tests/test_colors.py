"""Class colors: one distinct color per class, none of them the unlabeled gray."""

import colorsys

import pytest

from fiftyone_plugin.colors import UNLABELED, class_colors


def _saturation(hex_color):
    r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hls(r, g, b)[2]


@pytest.mark.parametrize("n", [1, 4, 18, 19, 200])
def test_every_class_gets_its_own_non_gray_color(n):
    colors = class_colors([f"class {i}" for i in range(n)])
    assert len(colors) == n
    assert len(set(colors.values())) == n
    assert UNLABELED not in colors.values()
    assert min(_saturation(c) for c in colors.values()) > 0.25
