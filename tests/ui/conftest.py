"""Fixtures for the dashboard tests: the jobs an AppTest session submits, and for the
real-browser tests a `streamlit run app.py` server and Chromium.

Playwright's own browser download cannot work here; the tests drive the system
Chromium. Without one they skip, unless MTLVIZ_REQUIRE_BROWSER=1 (set in CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtlviz.jobs import JobRegistry, TrainingJob

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 60.0


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


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


def serve(log_path: Path, env: dict[str, str] | None = None, *options: str) -> Iterator[str]:
    """Run the app on a free port (extra streamlit `options`, extra `env`); yield its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        *options,
    ]
    # Runs the app saves go to the test's folder, never into the checkout.
    runs = str(log_path.parent / "runs")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MTLVIZ_RUNS_DIR": runs, **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with code {process.returncode}:\n{_tail(log_path)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not answer {url}/_stcore/health within {SERVER_START_TIMEOUT:.0f} s:\n"
                    f"{_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(chromium_executable: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_session(browser):
    """(context, tab): a fresh browser session, its own context and cookies."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def load_app(tab, url: str) -> None:
    """Open the app at `url` in `tab` and wait until it is connected and drawn."""
    tab.goto(url, wait_until="domcontentloaded")
    tab.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=60_000)
    tab.locator(".st-key-start button").wait_for(timeout=60_000)


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
