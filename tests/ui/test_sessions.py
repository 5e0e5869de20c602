"""Two browser sessions on one server: isolation, queueing, and a closed tab freeing its slot."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import load_app, new_session, serve

pytestmark = pytest.mark.browser

SECRET = "session_b_private_column"


@pytest.fixture(scope="module")
def one_slot_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that trains one job at a time and forgets a closed tab after 5 s."""
    log = tmp_path_factory.mktemp("one_slot") / "server.log"
    yield from serve(log, {"MTLVIZ_MAX_JOBS": "1"}, "--server.disconnectedSessionTTL", "5")


def set_steps(page, steps: int) -> None:
    box = page.locator(".st-key-steps input")
    box.fill(str(steps))
    box.press("Enter")
    page.get_by_text(f"{steps:,} steps.").wait_for()


def test_sessions_are_isolated_queue_and_a_closed_tab_frees_its_slot(browser, one_slot_url, tmp_path) -> None:
    context_a, a = new_session(browser)
    load_app(a, one_slot_url)
    set_steps(a, 100_000)
    a.click(".st-key-start button")
    a.get_by_text(re.compile(r"^Step [0-9,]+ /")).first.wait_for()  # the progress line

    context_b, b = new_session(browser)
    load_app(b, one_slot_url)
    table = tmp_path / "mine.csv"
    rows = "\n".join(f"{i},{i % 5},{0.1 * i}" for i in range(120))
    table.write_text(f"x,{SECRET},y\n{rows}\n")
    b.locator(".st-key-task_source").get_by_text("Upload a table").click()
    b.set_input_files("[data-testid=stFileUploaderDropzoneInput]", str(table))
    b.get_by_text("Data: mine.csv").wait_for()
    b.get_by_text("pick at least one target column").wait_for()
    # The upload is B's alone: B's column pickers list it, A's page never shows it.
    b.get_by_text(SECRET).first.wait_for()
    assert SECRET not in a.content()

    b.locator(".st-key-task_source").get_by_text("Synthetic").click()
    set_steps(b, 60)
    b.click(".st-key-start button")
    b.get_by_text("Position in queue: 1").wait_for()  # A holds the only slot

    context_a.close()  # the tab goes away mid-run: its job stops, its slot frees
    b.get_by_text("Lowest validation loss").wait_for(timeout=120_000)
    context_b.close()
