"""FiftyOne plugin entry point: registers the operators and panels.

Imported by FiftyOne's plugin loader on every registry build; it holds no
state and imports nothing heavy.
"""

from .operators import OPERATORS
from .panels import PANELS


def register(p):
    for cls in OPERATORS + PANELS:
        p.register(cls)
