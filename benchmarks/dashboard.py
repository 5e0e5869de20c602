"""Cost of one live refresh of the dashboard with a long run's records.

Builds records shaped like a real run (8 configurations x 4 tasks x 20,000 steps
of train loss; validation every 25 steps; per-layer statistics and gradient
conflict every 10 steps) and times what one refresh of each view does: take the
snapshot of the metric log, build the figures, and serialise them the way
Streamlit does (plotly.io.to_json, validation off). Prints milliseconds (median
of repeats, process CPU time) and the payload size sent to the browser.

    python benchmarks/dashboard.py [--steps 20000] [--repeats 5] [--seeds 1]

Targets: <= 200 ms and <= 2 MB for the loss view. With --seeds S every
configuration has S seeds (S times the records), drawn as a mean with a band.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlviz.charts.conflict import cosine_chart, cosine_heatmaps, task_grad_norm_chart
from mtlviz.charts.loss_curves import loss_curves
from mtlviz.charts.updates import layer_chart
from mtlviz.records import LAYER_METRICS, MetricLog, RecordSchema

RUNS = tuple(f"config {i}" for i in range(8))
TASKS = ("task A", "task B", "task C", "task D")
LAYERS = ("trunk.0.weight", "trunk.0.bias", "trunk.1.weight", "trunk.1.bias") + tuple(
    f"heads.{t}.{p}" for t in TASKS for p in ("weight", "bias")
)
PAIRS = tuple(f"{a} ↔ {b}" for i, a in enumerate(TASKS) for b in TASKS[i + 1 :])


def fill_log(steps: int, chunk: int = 25, seeds: int = 1) -> MetricLog:
    """A MetricLog filled chunk by chunk, as the engine does during a run."""
    rng = np.random.default_rng(0)
    log = MetricLog()
    rows = tuple(run for run in RUNS for _ in range(seeds))
    schema = RecordSchema(rows, TASKS + PAIRS, LAYERS, tuple(s for _ in RUNS for s in range(seeds)))
    k, t, layers = len(rows), len(TASKS), len(LAYERS)
    for start in range(1, steps + 1, chunk):
        step = np.arange(start, min(start + chunk, steps + 1))
        decay = np.exp(-step / 4000)[:, None, None]
        frames = [schema.grid("train_loss", decay * rng.uniform(0.5, 1.5, (len(step), k, t)), step, step * 0.01, TASKS)]
        s10 = step[step % 10 == 0]
        if len(s10):
            stats = rng.lognormal(-3, 1, (len(s10), len(LAYER_METRICS), k, layers))
            frames.append(schema.stacked(LAYER_METRICS, stats, s10, s10 * 0.01, LAYERS, axis="layer"))
            cosines = rng.uniform(-1, 1, (len(s10), k, len(PAIRS)))
            frames.append(schema.grid("grad_cosine", cosines, s10, s10 * 0.01, PAIRS, other="shared"))
            norms = rng.lognormal(-2, 1, (len(s10), k, t))
            frames.append(schema.grid("task_grad_norm", norms, s10, s10 * 0.01, TASKS, other="shared"))
        s25 = step[step % 25 == 0]
        if len(s25):
            frames.append(schema.grid("val_loss", rng.uniform(0.1, 1, (len(s25), k, t)), s25, s25 * 0.01, TASKS))
        log.append(pd.concat(frames, ignore_index=True))
    return log, schema


def measure(fn, repeats: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeats):
        start = time.process_time()
        figures = fn()
        size = sum(len(plotly.io.to_json(f, validate=False)) for f in figures)
        times.append(time.process_time() - start)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per configuration (1 to 10)")
    args = parser.parse_args()
    log, schema = fill_log(args.steps, seeds=args.seeds)
    total = len(log.frame())
    seeds = f" x {args.seeds} seeds" if args.seeds > 1 else ""
    print(f"{len(RUNS)} configurations{seeds} x {len(TASKS)} tasks x {args.steps:,} steps: {total:,} records")
    # Each refresh first sees one new chunk (as during training), so no cache is warm.
    fresh = [part.tail(1).assign(step=args.steps + 1) for part in (log.frame([m]) for m in log.metrics())]

    def new_chunk() -> None:
        for part in fresh:
            log.append(part)

    layers = [n for n in LAYERS if n.endswith("weight")]
    views = {
        "loss view": lambda: [loss_curves(log.frame(["train_loss", "val_loss"]), RUNS, TASKS, smoothing=0.6)],
        "updates view": lambda: [layer_chart(log.frame(["update_ratio"]), RUNS, layers)],
        "conflict view": lambda: [
            cosine_chart(log.frame(["grad_cosine"]), RUNS),
            cosine_heatmaps(log.frame(["grad_cosine"]), RUNS, TASKS),
            task_grad_norm_chart(log.frame(["task_grad_norm"]), RUNS, TASKS),
        ],
    }
    print(f"{'refresh':<16} {'ms (CPU)':>9} {'payload':>10}")
    for name, build in views.items():
        seconds, size = measure(lambda build=build: (new_chunk(), build())[1], args.repeats)
        print(f"{name:<16} {seconds * 1e3:>9.1f} {size / 2**20:>8.2f} MB")
    print("targets: loss view <= 200 ms and <= 2 MB")


if __name__ == "__main__":
    main()
