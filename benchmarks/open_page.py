"""What live charts cost training: steps/s of the same run with its charts live and with them paused.

A live page redraws its charts from a fragment every 0.5 s in the server process,
which shares the GIL with the training thread. This starts one server, warms it
up with a short run, then alternates: Start a run of --steps steps and watch it
with live charts, or Start it and press "Pause live updates" at once (only the
progress line keeps refreshing). A closed tab cannot be the baseline: its job
stops with its session. Each run's steps/s is its summary.json's steps over its
training seconds.

    python benchmarks/open_page.py [--steps 2000] [--repeats 3]

A third figure trains the same run with no server and no page (one process,
one intra-op thread, as a job does).

Target: training with live charts at >= 80% of its speed with no page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_chart import CHROMIUM_ARGS, free_port, serve

CONNECTED = "[data-testid=stApp][data-test-connection-state=CONNECTED]"


def summaries(runs: Path) -> list[Path]:
    return sorted(runs.glob("*/summary.json"))


def one_run(browser, url: str, runs: Path, steps: int, live: bool) -> float:
    before = len(summaries(runs))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=60_000)
    box = page.locator(".st-key-steps input")
    box.fill(str(steps))
    box.press("Enter")
    page.wait_for_timeout(1000)
    page.locator(".st-key-start button").click()
    if not live:
        page.locator(".st-key-pause_live label").click()
    deadline = time.monotonic() + 120
    while len(summaries(runs)) == before:
        if time.monotonic() > deadline:
            raise RuntimeError("the run did not finish within 120 s")
        time.sleep(0.2)
    page.close()
    summary = json.loads(max(summaries(runs), key=lambda p: p.stat().st_mtime).read_text())
    if summary["status"] != "finished":
        raise RuntimeError(f"the run ended {summary['status']} at step {summary['steps']}")
    return summary["steps"] / summary["seconds"]


HEADLESS = """
import sys, dataclasses
from mtlviz.config import ExperimentConfig
from mtlviz.run import run_experiment
config = ExperimentConfig()
config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=int(sys.argv[1])))
run_experiment(config, threads=1)  # warm-up, as the server's
result = run_experiment(config, threads=1)
print(result.steps / result.seconds)
"""


def headless(steps: int) -> float:
    """The same run with no server and no page at all: one process, one intra-op thread, as a job."""
    out = subprocess.run([sys.executable, "-c", HEADLESS, str(steps)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        runs = Path(folder)
        server = serve(port, str(runs))
        try:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            url = f"http://127.0.0.1:{port}"
            one_run(browser, url, runs, 200, live=True)  # warm-up: torch, kernels, Plotly
            rates: dict[str, list[float]] = {"live": [], "paused": [], "no page": []}
            for i in range(args.repeats):
                for mode in rates:
                    if mode == "no page":
                        rate = headless(args.steps)
                    else:
                        rate = one_run(browser, url, runs, args.steps, live=mode == "live")
                    rates[mode].append(rate)
                    print(f"repeat {i + 1}, {mode}: {rate:,.0f} steps/s", flush=True)
            browser.close()
        finally:
            server.terminate()
            server.wait(10)
    live, paused, alone = (statistics.median(rates[m]) for m in ("live", "paused", "no page"))
    print(f"median steps/s: charts live {live:,.0f}, charts paused {paused:,.0f}, no page (headless) {alone:,.0f}")
    print(f"live / no page {live / alone:.2f}, live / paused {live / paused:.2f}")
    print(f"target live / no page >= 0.80: {'PASS' if live / alone >= 0.8 else 'FAIL'}")


if __name__ == "__main__":
    main()
