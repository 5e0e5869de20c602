"""Text from users' files (column names, labels, file names) inside markdown.

The escaping lives with the charts' (mtlviz.charts.text), which need it for
their Markdown sentences too; the page imports it from here.
"""

from __future__ import annotations

from mtlviz.charts.text import escape_markdown

__all__ = ["escape_markdown"]
