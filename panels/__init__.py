"""The plugin's panels (the Data Explorer panel comes with its own issue)."""

PANELS = ()
