"""User text (an optimizer label, a task name) on the page: shown as text, never as Markdown or HTML."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from mtlviz.jobs import TrainingJob
from tests.ui.test_app import buttons, has_summary, run_until, started_app, summary_frame

LABEL = "![i](http://host/x.png)"
TASK = "<b>bold</b> [x](http://h)"
# Markdown that would fetch an image, make a link or read HTML: not preceded by a backslash.
RAW = re.compile(r"(?<!\\)!(?=\[)|(?<!\\)\]\(http|(?<!\\)<b>")


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page renders as Markdown: messages, captions, headings, toasts and expander labels."""
    texts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "toast", "subheader"):
        texts += [str(element.value) for element in at.get(kind)]
    texts += [e.label for e in at.get("expander")]
    texts += [e.label for e in at.sidebar.get("expander")]
    return texts


def test_a_label_and_a_task_name_are_never_read_as_markdown(jobs: list[TrainingJob]) -> None:
    at = started_app(timeout=30)
    at.text_input(key="opt0_label").set_value(LABEL).run()
    at.text_input(key="task0_name").set_value(TASK).run()
    at.number_input(key="steps").set_value(30).run()
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    run_until(at, lambda a: has_summary(a) and buttons(a)["start"], timeout=60, what="summary")
    texts = markdown_texts(at)
    leaks = [text for text in texts if RAW.search(text)]
    assert not leaks
    # Still shown: escaped, not dropped.
    assert any(r"!\[i\](http\://host/x.png)" in text for text in texts), texts


def test_a_formula_like_label_stays_text_in_the_summary_tables_csv(jobs: list[TrainingJob]) -> None:
    # A table's toolbar downloads what it shows as CSV: a spreadsheet must not read the label as a formula.
    at = started_app(timeout=30)
    at.text_input(key="opt0_label").set_value('=HYPERLINK("http://x","y")').run()
    at.number_input(key="steps").set_value(30).run()
    at.button(key="start").click().run()
    run_until(at, lambda a: has_summary(a) and buttons(a)["start"], timeout=60, what="summary")
    runs = set(summary_frame(at)["run"])
    assert '\'=HYPERLINK("http://x","y")' in runs and not any(run.startswith("=") for run in runs)
