"""Text from users' files (column names, labels, file names) inside markdown."""

from __future__ import annotations

MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|<>~$:"


def escape_markdown(text: object) -> str:
    """Backslash-escape every markdown character, so the text shows literally."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
