"""User text (run, task, pair, layer, column and file names) inside markup: Markdown and Plotly's pseudo-HTML.

Streamlit reads Markdown in almost every element (links, images, HTML tags,
LaTeX, `:material/...:` icons, `:red[...]` colours), so a name is escaped
before it goes into one; the `**` the page adds itself goes around it.

Plotly reads a subset of HTML in trace names, annotations, axis titles, tick
labels and hover text (`<b>`, `<a href>`, `<br>`), so a name is escaped before
it goes into any of them; the markup the chart builders add themselves
(`<br>`, `<b>`, `<extra>`) is added around the escaped text, never escaped.
"""

from __future__ import annotations

import html
import re

# Escaped wherever they stand: emphasis, code, links and images, HTML tags and entities, LaTeX,
# strikethrough and tables. Other punctuation (".", ",", "%", "'", "(") stays, so plain text reads as it is typed.
MARKDOWN_SPECIALS = frozenset("\\`*_[]<>~$|&")
# Escaped at the start of the text only, where they would open a heading, quote or list.
BLOCK_STARTS = frozenset("#>+-=")
# ":" before a non-space opens Streamlit's :material/icon:, :emoji: and :color[...] directives
# (and makes "http://" a bare link); an ordered-list marker opens a list.
DIRECTIVE = re.compile(r":(?=\S)")
ORDERED = re.compile(r"^(\s*\d+)([.)])")
LINE_BREAKS = re.compile(r"[\r\n\v\f\u2028\u2029]+")

# Plotly converts numeric entities back to characters after it fills a template's
# %{field}s, so braces written this way cannot open a field.
TEMPLATE_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def plotly_text(text: object) -> str:
    """`text` as Plotly shows it literally: `<`, `>` and `&` as entities.

    Quotes stay as they are: outside a tag they are harmless, and Plotly does
    not know `&quot;`."""
    return html.escape(str(text), quote=False)


def template_text(text: object) -> str:
    """`text` as a hovertemplate shows it literally: escaped, and no `%{...}` field."""
    return plotly_text(text).translate(TEMPLATE_BRACES)


def escape_markdown(text: object) -> str:
    """`text` as Markdown shows it literally, on one line: every character that could start Markdown,
    HTML, LaTeX or a Streamlit directive backslash-escaped.

    Line breaks become spaces, so the text cannot start a heading, list or
    quote on a line of its own."""
    line = LINE_BREAKS.sub(" ", str(text))
    escaped = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in line)
    escaped = DIRECTIVE.sub(r"\:", escaped)
    stripped = escaped.lstrip()
    if stripped[:1] in BLOCK_STARTS:
        escaped = escaped[: len(escaped) - len(stripped)] + "\\" + stripped
    return ORDERED.sub(r"\1\\\2", escaped)
