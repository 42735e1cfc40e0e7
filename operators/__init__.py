"""The plugin's operators, one module per family."""

from .assist import FindLabelIssues, PropagateLabels
from .explorer import (
    ClearDataExplorer,
    ComputeDataExplorer,
    PlaceNewSamples,
    TrainImpulse,
)
from .importing import ImportSamples
from .labels import ClearAllLabels, DeleteSamples, RestoreDeleted, SetLabels

OPERATORS = (
    ComputeDataExplorer,
    PlaceNewSamples,
    ClearDataExplorer,
    ImportSamples,
    TrainImpulse,
    SetLabels,
    ClearAllLabels,
    DeleteSamples,
    RestoreDeleted,
    FindLabelIssues,
    PropagateLabels,
)
