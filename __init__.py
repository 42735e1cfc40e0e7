"""FiftyOne plugin entry point: registers the operators and panels.

Imported by FiftyOne's plugin loader on every registry build; it holds no
state and imports nothing heavy.

pytest also imports this file, as the package of the repository's root
folder; when that folder's name is not a valid package name (a clone into
``data-explorer``, say) it is imported as a plain module without a package,
where the relative imports cannot work and nothing needs registering.
"""

if __package__:
    from .operators import OPERATORS
    from .panels import PANELS

    def register(p):
        for cls in OPERATORS + PANELS:
            p.register(cls)
