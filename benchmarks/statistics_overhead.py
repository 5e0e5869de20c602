"""Cost of the update statistics and gradient-conflict measurements.

Trains the same experiment (8 configurations, hidden 64, batch 256, 3 tasks,
hard sharing) with statistics off, per-layer statistics every 10 steps, conflict
cosines every 10 steps, and both, and prints the CPU time per step of each
(process CPU time: robust on a shared, noisy machine) and the overhead against
training without statistics. Median of several repeats, interleaved so drift
affects all variants alike.

    python benchmarks/statistics_overhead.py [--steps 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.engine import Engine

TARGETS = {"per-layer statistics every 10": 0.10, "conflict cosines every 10": 0.35}
OPTIMIZERS = tuple(
    OptimizerConfig(name, lr, f"{name} {i}")
    for i, (name, lr) in enumerate(
        [
            ("sgd", 0.05),
            ("sgd", 0.01),
            ("adam", 1e-3),
            ("adam", 3e-3),
            ("adamw", 1e-3),
            ("adamw", 3e-3),
            ("rmsprop", 1e-3),
            ("nadam", 2e-3),
        ]
    )
)


def experiment(steps: int, stats_every: int, conflict_every: int) -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b"), TaskSpec("c")), num_samples=20_000),
        model=ModelConfig(sharing="hard", hidden=64, depth=2),
        optimizers=OPTIMIZERS,
        train=TrainConfig(
            steps=steps, batch_size=256, eval_every=100_000, stats_every=stats_every, conflict_every=conflict_every
        ),
    )


def cpu_seconds_per_step(config: ExperimentConfig) -> float:
    engine = Engine(config)
    runs = engine.run()
    next(runs)  # the initial evaluation is not part of a training step
    start = time.process_time()
    for _ in runs:
        pass
    return (time.process_time() - start) / config.train.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in the dashboard's jobs
    variants = {
        "no statistics": (0, 0),
        "per-layer statistics every 10": (10, 0),
        "conflict cosines every 10": (0, 10),
        "both every 10": (10, 10),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu_seconds_per_step(experiment(30, 10, 10))  # warm-up
    for _ in range(args.repeats):
        for name, (stats_every, conflict_every) in variants.items():
            times[name].append(cpu_seconds_per_step(experiment(args.steps, stats_every, conflict_every)))
    base = statistics.median(times["no statistics"])
    print(f"8 configurations, hidden 64, batch 256, 3 tasks, hard sharing; {args.steps} steps x {args.repeats} repeats")
    print(f"{'variant':<32} {'ms/step (CPU)':>14} {'overhead':>9} {'target':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        target = f"<= {TARGETS[name]:.0%}" if name in TARGETS else ""
        print(f"{name:<32} {median * 1e3:>14.3f} {median / base - 1:>+9.1%} {target:>8}")


if __name__ == "__main__":
    main()
