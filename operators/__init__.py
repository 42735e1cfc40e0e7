"""The plugin's operators, one module per family."""

from .explorer import ClearDataExplorer, ComputeDataExplorer, TrainImpulse
from .assist import FindLabelIssues, PropagateLabels
from .importing import ImportSamples
from .labels import ClearAllLabels, DeleteSamples, RestoreDeleted, SetLabels

OPERATORS = (
    ComputeDataExplorer,
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
