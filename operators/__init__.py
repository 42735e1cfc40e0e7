"""The plugin's operators, one module per family."""

from .explorer import ClearDataExplorer, ComputeDataExplorer
from .importing import ImportSamples

OPERATORS = (ComputeDataExplorer, ClearDataExplorer, ImportSamples)
