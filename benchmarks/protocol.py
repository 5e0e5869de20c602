"""Throughput of a comparison protocol's rows: one 192-row batched run against three 64-row runs.

The protocol (mtlviz/search.py, mtlviz/protocol.py) trains every configuration's
trials on every seed as rows of one batched model. Here: 4 configurations (SGD
with momentum, a cosine schedule with a searched warmup and gradient clipping;
Adam; AdamW, searching its weight decay; RMSprop with clipping) x 16 Sobol
trials x 3 seeds = 192 rows, on synthetic tasks (3 regression tasks, hard
sharing, hidden 32, depth 2, batch 128, validation every 25 steps, the
product's default update statistics and conflict cosines every 10 steps).

- batched: `Engine(config)`, all 192 rows in one model.
- split: the same 192 rows as three 64-row runs, one per seed
  (`Engine(config, rows=...)` with that seed's rows of `expand_rows(config)`;
  the Sobol trials depend on train.seed only, so each row keeps its settings).

Each variant trains in a fresh process (so ru_maxrss is its own) on one
intra-op thread, as the dashboard's workers train (mtlviz/worker.py), after the
workers' warm-up run. Reported: row-steps per second (rows x steps / training
seconds, both wall-clock and process CPU time; building the engines is timed
apart), peak resident memory (ru_maxrss, which also counts torch's libraries),
and whether every row's final validation loss per task agrees between the two
variants (the comparison is honest only if they train the same numbers).
Repeats alternate which variant goes first; figures are medians.

Target: the batched run is at least as fast as the split runs (CPU row-steps
per second, ratio >= 1.0), and the final validation losses agree to 1e-5
(relative).

    python benchmarks/protocol.py [--steps 200] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

try:
    import mtlviz  # noqa: F401
except ModuleNotFoundError:  # run as a script from a checkout: python benchmarks/protocol.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlviz.config import (
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    SearchConfig,
    SyntheticTasks,
    TaskSpec,
    TrainConfig,
)

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 16
SEEDS = 3
TOLERANCE = 1e-5  # relative, on each row's final validation loss per task
TARGET_RATIO = 1.0  # batched / split, CPU row-steps per second
VARIANTS = ("batched", "split")


def log_uniform(low: float, high: float) -> dict:
    return {"distribution": "log-uniform", "low": low, "high": high}


def experiment(steps: int) -> ExperimentConfig:
    """4 configurations x 16 Sobol trials x 3 seeds = 192 rows."""
    optimizers = (
        OptimizerConfig(
            "sgd",
            log_uniform(1e-3, 0.3),
            "SGD+momentum",
            {"momentum": 0.9},
            schedule={"name": "cosine", "warmup_steps": {"distribution": "uniform", "low": 0, "high": steps // 4}},
            clip_norm=1.0,
        ),
        OptimizerConfig("adam", log_uniform(1e-4, 3e-2), "Adam"),
        OptimizerConfig(
            "adamw",
            log_uniform(1e-4, 3e-2),
            "AdamW",
            {"weight_decay": log_uniform(1e-4, 1e-1)},
            schedule={"name": "cosine", "warmup_steps": steps // 10},
        ),
        OptimizerConfig("rmsprop", log_uniform(1e-4, 1e-2), "RMSprop", clip_norm=1.0),
    )
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b"), TaskSpec("c")), test_fraction=0.2),
        model=ModelConfig(sharing="hard", hidden=32, depth=2),
        optimizers=optimizers,
        train=TrainConfig(steps=steps, batch_size=128, eval_every=25, seed=0, seeds=SEEDS, device="cpu"),
        search=SearchConfig("sobol", TRIALS),
    )


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def train_variant(variant: str, steps: int, threads: int) -> dict:
    """Train one variant in this process; its seconds, memory and every row's final validation losses."""
    import torch

    from mtlviz.engine import Engine
    from mtlviz.presets import warm_up_config
    from mtlviz.records import VAL_LOSS
    from mtlviz.rows import expand_rows
    from mtlviz.run import run_experiment

    torch.set_num_threads(threads)
    run_experiment(warm_up_config(), threads=threads)  # torch's lazy set-up, as a worker pays it before a job
    config = experiment(steps)
    rows = expand_rows(config)
    groups = (
        [rows] if variant == "batched" else [tuple(r for r in rows if r.seed == s) for s in config.train.seed_values]
    )
    before = max_rss_mb()
    build = wall = cpu = 0.0
    finals: dict[str, float] = {}
    for group in groups:
        start = time.perf_counter()
        engine = Engine(config, rows=group)
        build += time.perf_counter() - start
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        chunks = list(engine.run())
        wall += time.perf_counter() - start_wall
        cpu += time.process_time() - start_cpu
        records = [c[(c["metric"] == VAL_LOSS) & (c["step"] == steps)] for c in chunks]
        for record in records:
            for run, seed, task, value in zip(record["run"], record["seed"], record["task"], record["value"]):
                finals[f"{run} | seed {seed} | {task}"] = float(value)
        del engine, chunks
    return {
        "rows": sum(len(g) for g in groups),
        "runs": len(groups),
        "threads": torch.get_num_threads(),
        "build": build,
        "wall": wall,
        "cpu": cpu,
        "rss_before": before,
        "rss_peak": max_rss_mb(),
        "finals": finals,
    }


def measure(variant: str, steps: int, threads: int) -> dict:
    """One variant in a fresh process, so its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--variant", variant, "--steps", str(steps), "--threads", str(threads)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    if done.returncode:
        raise RuntimeError(f"{variant} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(a: dict[str, float], b: dict[str, float]) -> tuple[int, int, float, list[str]]:
    """(values compared, of which diverged in both, largest relative difference, keys that differ or are
    missing on one side)."""
    keys = sorted(set(a) | set(b))
    worst, bad, diverged = 0.0, [], 0
    for key in keys:
        if key not in a or key not in b:
            bad.append(f"{key}: only in {'batched' if key in a else 'split'}")
            continue
        x, y = a[key], b[key]
        if x != x and y != y:  # both NaN: the row diverged in both
            diverged += 1
            continue
        difference = abs(x - y) / max(abs(x), abs(y), 1e-12)
        worst = max(worst, difference)
        if not difference <= TOLERANCE:
            bad.append(f"{key}: batched {x:.8g}, split {y:.8g}")
    return len(keys), diverged, worst, bad


def uptime() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as the workers)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process's one variant
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(train_variant(args.variant, args.steps, args.threads)))
        return

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    config = experiment(args.steps)
    print(f"machine: {platform.processor() or platform.machine()}, {cores} CPU cores; torch {torch.__version__}")
    print(
        f"{len(config.optimizers)} configurations x {TRIALS} Sobol trials x {SEEDS} seeds = "
        f"{len(config.runs) * SEEDS} rows; hard sharing, hidden 32, depth 2, 3 regression tasks, batch 128; "
        f"{args.steps} steps x {args.repeats} repeats, medians; {args.threads} intra-op thread(s)"
    )
    print(f"before: {uptime()}", flush=True)
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for r in range(args.repeats):
        # Alternate which goes first, so neither always runs while the other's memory is being returned.
        for name in VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS)):
            results[name].append(measure(name, args.steps, args.threads))
    print(f"after: {uptime()}")

    rates = {}
    print(
        f"\n{'variant':<22} {'rows':>4} {'threads':>7} {'build s':>8} {'train s':>8} {'CPU s':>7} "
        f"{'rows/s (wall)':>14} {'rows/s (CPU)':>13} {'peak RSS':>9} {'before':>7}"
    )
    for name in VARIANTS:
        runs = results[name]
        first = runs[0]
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        work = first["rows"] * args.steps
        rates[name] = work / cpu
        title = "batched: 1 x 192 rows" if name == "batched" else f"split: {first['runs']} x 64 rows"
        print(
            f"{title:<22} {first['rows']:>4} {first['threads']:>7} {statistics.median(r['build'] for r in runs):>8.2f} "
            f"{wall:>8.2f} {cpu:>7.2f} {work / wall:>14,.0f} {work / cpu:>13,.0f} "
            f"{max(r['rss_peak'] for r in runs):>6.0f} MB {statistics.median(r['rss_before'] for r in runs):>4.0f} MB"
        )
    ratio = rates["batched"] / rates["split"]
    count, diverged, worst, bad = agreement(results["batched"][0]["finals"], results["split"][0]["finals"])
    print(f"\nbatched / split (CPU row-steps/s): {ratio:.2f}x")
    print(
        f"final validation losses (row x seed x task): {count} compared ({diverged} diverged in both), "
        f"largest relative difference {worst:.2g}"
        + (f"; {len(bad)} differ beyond {TOLERANCE:g}:" if bad else f", all within {TOLERANCE:g}")
    )
    for line in bad[:10]:
        print(f"  {line}")
    print("targets:")
    print(f"  batched >= {TARGET_RATIO:g}x split; found {ratio:.2f}x  {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}")
    print(f"  final validation losses agree to {TOLERANCE:g}: {'PASS' if not bad else 'FAIL'}")


if __name__ == "__main__":
    main()
