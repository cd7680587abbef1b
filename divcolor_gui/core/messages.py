"""What the user is shown when something fails: one line, never a traceback."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    """The exception's first line of text, or its type's name when it has none."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
