"""Small text helpers shared by the panel's sections."""

_MARKDOWN_SPECIAL = "\\`*_[]<>|#"


def md(text):
    """``text`` with markdown's special characters escaped (safe in tables)."""
    out = str(text)
    for ch in _MARKDOWN_SPECIAL:
        out = out.replace(ch, "\\" + ch)
    return out


SAY_MAX = 80


def say(label):
    """A label in a sentence: quoted, or "no label" for None.

    A label longer than ``SAY_MAX`` characters is cut, and its length said.
    """
    if label is None:
        return "no label"
    if len(label) > SAY_MAX:
        return f"{label[:SAY_MAX - 1]!r}… ({len(label)} characters)"
    return repr(label)
