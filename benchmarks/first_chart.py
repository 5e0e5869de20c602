"""Time from the first Start on a fresh server to the first loss curve drawn.

Starts `streamlit run app.py` (a new process: nothing imported or warmed yet),
opens the page in headless Chromium, waits `--read` seconds (a person reading
the page; the server warms up meanwhile), clicks Start with the default
experiment and measures until the loss chart has its first trace, and the step
the progress bar showed then. Repeats on a new server each time.

    python benchmarks/first_chart.py [--repeats 3] [--read 3]

Target: the first chart within 1.5 s of Start.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
FIRST_TRACE = "() => document.querySelectorAll('.st-key-loss_chart .js-plotly-plot .scatterlayer .trace').length > 0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int, runs: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.fileWatcherType", "none"]
    env = {**os.environ, "MTLVIZ_RUNS_DIR": runs}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


def once(browser, read: float) -> tuple[float, str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as runs:
        server = serve(port, runs)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}")
            page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=60_000)
            page.locator(".st-key-start button").wait_for(timeout=60_000)
            page.wait_for_timeout(read * 1000)
            start = time.perf_counter()
            page.locator(".st-key-start button").click()
            page.wait_for_function(FIRST_TRACE, polling=20, timeout=60_000)
            seconds = time.perf_counter() - start
            text = page.locator("[data-testid=stProgress]").last.inner_text()
            page.close()
            return seconds, (re.search(r"Step [\d,]+ / [\d,]+", text) or [text])[0]
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--read", type=float, default=3.0, help="seconds between page load and Start")
    args = parser.parse_args()
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for i in range(args.repeats):
            seconds, step = once(browser, args.read)
            times.append(seconds)
            print(f"fresh server {i + 1}: first chart {seconds:.2f} s after Start ({step})")
        browser.close()
    print(f"median {statistics.median(times):.2f} s (target <= 1.5 s)")


if __name__ == "__main__":
    main()
