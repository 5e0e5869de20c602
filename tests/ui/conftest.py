"""Fixtures for the dashboard tests: the jobs an AppTest session submits, and for the
real-browser tests a `streamlit run app.py` server and Chromium.

Playwright's own browser download cannot work here; the tests drive the system
Chromium. Without one they skip, unless MTLVIZ_REQUIRE_BROWSER=1 (set in CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import load_app, new_session, serve

from mtlviz.jobs import JobRegistry, TrainingJob

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[TrainingJob]]:
    """Every job the app submits during the test; all are stopped and joined afterwards,
    so no training thread outlives its test (they share the process and its job slots)."""
    submitted: list[TrainingJob] = []
    submit = JobRegistry.submit

    def recording_submit(self: JobRegistry, *args, **kwargs) -> TrainingJob:
        job = submit(self, *args, **kwargs)
        submitted.append(job)
        return job

    monkeypatch.setattr(JobRegistry, "submit", recording_submit)
    yield submitted
    for job in submitted:
        job.stop()
    for job in submitted:
        job.join(timeout=30)


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("MTLVIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (MTLVIZ_REQUIRE_BROWSER=1: browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; set MTLVIZ_REQUIRE_BROWSER=1 to make this an error")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        _browser_unavailable(f"no Chromium at {CHROMIUM} or on PATH")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _browser_unavailable("the playwright package is not installed")
    return path


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `streamlit run app.py` on a free localhost port, stopped after the session."""
    yield from serve(tmp_path_factory.mktemp("streamlit") / "server.log")


@pytest.fixture(scope="session")
def browser(chromium_executable: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, app_url: str, request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh browser session on the loaded, connected app.

    On a test failure a full-page screenshot is written to the test's tmp_path.
    """
    context, tab = new_session(browser)
    try:
        load_app(tab, app_url)
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            path = tmp_path / "failure.png"
            try:
                tab.screenshot(path=str(path), full_page=True)
                print(f"screenshot: {path}")
            except Exception as exc:  # the page may be gone; the test's own error matters more
                print(f"no screenshot: {exc}")
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
