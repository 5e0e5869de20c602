"""Cost of each multi-task method per training step, against static weights.

Trains 8 optimizer configurations (hidden 64, batch 256, 3 tasks, hard sharing,
statistics off) under one method at a time and prints the process CPU time per
step and the ratio to static weights. Weightings only reweigh the losses;
GradNorm and the gradient combinations (PCGrad, MGDA, CAGrad) need one backward
per task on every step, so they cost about T times the backward pass. Medians
of several repeats, interleaved so drift affects all methods alike.

    python benchmarks/methods_overhead.py [--steps 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from statistics_overhead import OPTIMIZERS, cpu_seconds_per_step  # the same 8 configurations, the same timing

from mtlviz.config import ExperimentConfig, MethodConfig, ModelConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.methods import METHODS


def experiment(method: str, steps: int) -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b"), TaskSpec("c")), num_samples=20_000),
        model=ModelConfig(sharing="hard", hidden=64, depth=2),
        optimizers=OPTIMIZERS,
        methods=(MethodConfig(method),),
        train=TrainConfig(steps=steps, batch_size=256, eval_every=100_000, stats_every=0, conflict_every=0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in the dashboard's jobs
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    cpu_seconds_per_step(experiment("static", 20))  # warm-up
    for _ in range(args.repeats):
        for name in METHODS:
            times[name].append(cpu_seconds_per_step(experiment(name, args.steps)))
    base = statistics.median(times["static"])
    print(f"8 configurations, hidden 64, batch 256, 3 tasks, hard sharing; {args.steps} steps x {args.repeats}")
    print(f"{'method':<12} {'ms/step':>8} {'vs static':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<12} {1000 * median:>8.2f} {median / base:>9.2f}x")


if __name__ == "__main__":
    main()
