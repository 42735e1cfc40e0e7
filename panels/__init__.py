"""The plugin's panels, and the operator the panel's own component calls."""

from ._card import SampleCard
from .explorer import DataExplorerPanel

PANELS = (DataExplorerPanel, SampleCard)
