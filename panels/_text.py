"""Small text helpers shared by the panel's sections."""

_MARKDOWN_SPECIAL = "\\`*_[]<>|#"


def md(text):
    """``text`` with markdown's special characters escaped (safe in tables)."""
    out = str(text)
    for ch in _MARKDOWN_SPECIAL:
        out = out.replace(ch, "\\" + ch)
    return out


def say(label):
    """A label in a sentence: quoted, or "no label" for None."""
    return "no label" if label is None else repr(label)
