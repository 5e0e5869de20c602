"""Load test: N browser sessions start a run at once against a local server.

Starts `streamlit run app.py` on a free loopback port, opens N separate browser
sessions (headless Chromium, one context each), has each start a short run, and
watches until every run has finished or the time limit passes. Reports how
many runs completed or failed, the deepest queue position any session was
shown, the time until the last run finished, and the server's peak memory.
Only 127.0.0.1 is contacted; the run is bounded by --timeout.

    python benchmarks/load_test.py --sessions 10 [--steps 200] [--timeout 600] [--max-jobs 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # Every session is a background page here; Chromium would throttle their timers
    # (and Streamlit's live refresh is a client-side timer) to about once a minute.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--max-jobs", type=int, default=4)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MTLVIZ_MAX_JOBS": str(args.max_jobs)}
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
        "--server.fileWatcherType",
        "none",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.5)
        base_memory = rss_mb(server.pid)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            pages = []
            for _ in range(args.sessions):
                context = browser.new_context(viewport={"width": 1200, "height": 900})
                context.set_default_timeout(120_000)
                page = context.new_page()
                page.goto(url, wait_until="domcontentloaded")
                page.locator(".st-key-start button").wait_for()
                box = page.locator(".st-key-steps input")
                box.fill(str(args.steps))
                box.press("Enter")
                page.get_by_text(f"{args.steps:,} steps.").wait_for()
                pages.append(page)
            start = time.monotonic()
            for page in pages:
                page.click(".st-key-start button")
            done: dict[int, str] = {}
            deepest, peak = 0, base_memory
            while len(done) < len(pages) and time.monotonic() - start < args.timeout:
                for i, page in enumerate(pages):
                    if i in done:
                        continue
                    text = page.inner_text("[data-testid=stMain]")
                    if "Lowest validation loss" in text:
                        done[i] = "finished"
                    elif "Training failed" in text:
                        done[i] = "failed"
                    position = re.search(r"Position in queue: (\d+)", text)
                    if position:
                        deepest = max(deepest, int(position.group(1)))
                peak = max(peak, rss_mb(server.pid))
                time.sleep(1.0)
            elapsed = time.monotonic() - start
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    finished = sum(1 for status in done.values() if status == "finished")
    failed = sum(1 for status in done.values() if status == "failed")
    print(f"sessions {args.sessions}, {args.steps} steps each, job cap {args.max_jobs}, machine {os.cpu_count()} cores")
    print(f"finished {finished}, failed {failed}, unfinished {args.sessions - len(done)} after {elapsed:.0f} s")
    print(f"deepest queue position shown: {deepest}")
    print(f"server memory: {base_memory:.0f} MB idle, {peak:.0f} MB peak")


if __name__ == "__main__":
    main()
