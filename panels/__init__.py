"""The plugin's panels."""

from .explorer import DataExplorerPanel

PANELS = (DataExplorerPanel,)
