"""How well mtlviz.budget estimates a run before it is built, and how fast it says so.

1. Estimates and decisions: for the two hostile configs of the review (64 models
   of width 1,024 and depth 8 with mmoe sharing; 64 tiny models for 100,000
   steps), the presets and the default config: the estimate, the time it took
   (the first estimate in a process pays for torch's meta-device set-up, about
   1-2 s; later ones are what a server pays), and the decision under the
   server's limits (this machine's, and those of a 2.5 GB classroom server).
2. measure_calibration's figures and how long it takes.
3. Time: project_seconds (measured calibration, and the default one) against
   the wall-clock seconds of real short runs, both on one thread as the
   server's workers train (a shared machine makes more threads erratic).
4. Memory: the estimate's total against the peak resident memory a real short
   run adds to its process (each measured in a fresh subprocess).

    python benchmarks/budget.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

try:
    import mtlviz  # noqa: F401
except ModuleNotFoundError:  # run as a script from a checkout: python benchmarks/budget.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlviz.budget import (
    DEFAULT_CALIBRATION,
    Limits,
    check_run,
    estimate_run,
    format_bytes,
    format_duration,
    measure_calibration,
)
from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.errors import BudgetError
from mtlviz.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
CLASSROOM = Limits(memory_bytes=640 * (1 << 20), seconds=900.0)  # a 2.5 GB server: a quarter of its memory


def sweep(name: str = "adam") -> tuple[OptimizerConfig, ...]:
    """8 configurations x 8 learning rates: 64 models side by side, the most the config allows."""
    return tuple(OptimizerConfig(name, tuple(1e-4 * (j + 1) for j in range(8)), f"{name} {i}") for i in range(8))


def huge() -> ExperimentConfig:
    """64 models at width 1,024, depth 8, batch 4,096, 8 tasks: 7.85 B parameters with mmoe sharing."""
    tasks = tuple(TaskSpec(f"task {i}", "classification", num_classes=100) for i in range(8))
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=tasks, input_dim=256),
        model=ModelConfig(sharing="mmoe", hidden=1024, depth=8, experts=16),
        optimizers=sweep(),
        train=TrainConfig(batch_size=4096),
    )


def long() -> ExperimentConfig:
    """64 tiny models for 100,000 steps: about 80 MB of records per 1,000 steps."""
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=tuple(TaskSpec(f"task {i}") for i in range(8))),
        model=ModelConfig(hidden=8, depth=8),
        optimizers=sweep(),
        train=TrainConfig(steps=100_000),
    )


def decision(config: ExperimentConfig, estimate, limits: Limits, calibration=None) -> str:
    try:
        check_run(config, estimate, limits, calibration)
    except BudgetError as exc:
        return f"refused: {exc}"
    return "accepted"


def estimates_and_decisions(calibration, cold: dict[str, float]) -> None:
    server = Limits.for_server()
    print(
        f"limits: this machine's server {format_bytes(server.memory_bytes or 0)}, "
        f"{format_duration(server.seconds or 0)}; classroom server {format_bytes(CLASSROOM.memory_bytes)}, "
        f"{format_duration(CLASSROOM.seconds)}"
    )
    configs = {"hostile: huge": huge(), "hostile: long": long(), "default": ExperimentConfig()}
    configs.update({f"preset: {key}": preset.config for key, preset in PRESETS.items()})
    for name, config in configs.items():
        warm = []
        for _ in range(5):
            start = time.perf_counter()
            estimate = estimate_run(config)
            warm.append((time.perf_counter() - start) * 1e3)
        first = f"; the first estimate in a fresh process took {cold[name]:.0f} ms" if name in cold else ""
        projected = format_duration(calibration.project_seconds(config, estimate))
        print(f"\n{name}: {estimate.describe()}; total {format_bytes(estimate.total_bytes)}")
        print(
            f"  estimate took {statistics.median(warm):.0f} ms (median of 5{first}); "
            f"{estimate.flops_per_step:.3g} FLOPs per step; projected {projected} on this machine"
        )
        print(f"  this machine's server: {decision(config, estimate, server, calibration)}")
        print(f"  classroom server: {decision(config, estimate, CLASSROOM)}")


def timed_configs(quick: bool) -> dict[str, ExperimentConfig]:
    steps = 100 if quick else 300
    return {
        "default (3 models, hidden 64)": ExperimentConfig(train=TrainConfig(steps=steps, device="cpu")),
        "64 models, hidden 16": ExperimentConfig(
            model=ModelConfig(hidden=16),
            optimizers=sweep(),
            train=TrainConfig(steps=steps, device="cpu"),
        ),
        "8 models, hidden 512, depth 3, batch 512": ExperimentConfig(
            model=ModelConfig(hidden=512, depth=3),
            optimizers=(OptimizerConfig("adam", tuple(1e-4 * (j + 1) for j in range(8)), "Adam"),),
            train=TrainConfig(steps=steps // 5, batch_size=512, device="cpu"),
        ),
    }


def time_predictions(calibration, quick: bool) -> None:
    from mtlviz.run import run_experiment

    print("\ntime: predicted vs measured training seconds (run_experiment on the CPU, 1 thread as a server's workers)")
    for name, config in timed_configs(quick).items():
        estimate = estimate_run(config)
        result = run_experiment(config, threads=1)
        predicted = calibration.project_seconds(config, estimate)
        default = DEFAULT_CALIBRATION.project_seconds(config, estimate)
        print(
            f"  {name}, {config.train.steps} steps: measured {result.seconds:.2f} s, predicted {predicted:.2f} s "
            f"({predicted / result.seconds:.2f}x; default calibration {default:.2f} s, {default / result.seconds:.2f}x)"
        )


# Anonymous resident memory (the heap: tensors, records), sampled every 2 ms while the run trains.
# Not ru_maxrss: that also counts the shared libraries' pages, which the kernel may reclaim while the
# run trains (this VM runs DAMON), and it is updated only when memory is unmapped.
MEMORY_PROBE = textwrap.dedent(
    """
    import gc, json, sys, threading, time
    from mtlviz.budget import ALLOCATOR_SLACK, estimate_run
    from mtlviz.config import ExperimentConfig, TrainConfig
    from mtlviz.run import run_experiment

    def anonymous():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("RssAnon:"))

    config = ExperimentConfig.from_json(sys.argv[1])
    estimate = estimate_run(config)
    run_experiment(ExperimentConfig(train=TrainConfig(steps=12, device="cpu")))  # torch's lazy set-up
    gc.collect()
    base = anonymous()
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anonymous())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    run_experiment(config)
    done.set()
    sampler.join()
    slack = int((estimate.activation_bytes + estimate.workspace_bytes) * ALLOCATOR_SLACK)
    figures = {"estimate": estimate.total_bytes, "live": estimate.total_bytes - slack, "measured": peak[0] - base}
    print(json.dumps(figures))
    """
)


def memory_predictions(quick: bool) -> None:
    print(
        "\nmemory: estimated total (and without the allocator's slack) vs the peak anonymous resident memory a "
        "real run adds to its process (fresh process each, CPU)"
    )
    big = dict(model=ModelConfig(hidden=1024, depth=4), train=TrainConfig(steps=12, batch_size=1024, device="cpu"))
    configs = {
        "6 models, hidden 1,024, depth 4, batch 1,024": ExperimentConfig(
            optimizers=(OptimizerConfig("adam", (1e-3, 2e-3, 3e-3, 4e-3)), OptimizerConfig("sgd", (0.01, 0.1))),
            **big,
        ),
        "same, statistics and conflicts off": ExperimentConfig(
            optimizers=(OptimizerConfig("adam", (1e-3, 2e-3, 3e-3, 4e-3)), OptimizerConfig("sgd", (0.01, 0.1))),
            model=big["model"],
            train=TrainConfig(steps=12, batch_size=1024, device="cpu", stats_every=0, conflict_every=0),
        ),
        "4 models, mmoe 8 experts, hidden 512, depth 3, batch 2,048": ExperimentConfig(
            model=ModelConfig(sharing="mmoe", hidden=512, depth=3, experts=8),
            optimizers=(OptimizerConfig("adam", (1e-3, 2e-3, 3e-3, 4e-3)),),
            train=TrainConfig(steps=12, batch_size=2048, device="cpu"),
        ),
    }
    if quick:
        configs = dict(list(configs.items())[:1])
    for name, config in configs.items():
        measured = []
        for _ in range(1 if quick else 2):  # the allocator's slack varies from run to run
            done = subprocess.run(
                [sys.executable, "-c", MEMORY_PROBE, config.to_json()],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=600,
            )
            if done.returncode:
                print(f"  {name}: failed: {done.stderr.strip().splitlines()[-1:]}")
                break
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            measured.append(figures["measured"])
        if not measured:
            continue
        estimate = figures["estimate"]
        runs = ", ".join(f"{format_bytes(m)} ({estimate / max(1, m):.2f}x)" for m in measured)
        print(f"  {name}: estimated {format_bytes(estimate)}, live {format_bytes(figures['live'])}; measured {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and one memory probe")
    args = parser.parse_args()

    import torch  # noqa: F401  (its import is not the estimate's cost)

    start = time.perf_counter()
    estimate_run(huge())  # before anything else: what the first estimate in a process costs
    cold = {"hostile: huge": (time.perf_counter() - start) * 1e3}
    figures = []
    for _ in range(3):  # the first pays for torch's lazy set-up; a server's worker measures once warm
        start = time.perf_counter()
        calibration = measure_calibration(threads=1)
        figures.append(
            f"{calibration.flops_per_second / 1e9:.1f} GFLOP/s, {calibration.seconds_per_step * 1e3:.2f} ms per step "
            f"+ {calibration.seconds_per_row * 1e3:.3f} ms per row in {time.perf_counter() - start:.2f} s"
        )
    print("calibration (three in a row; the last is used below): " + "; ".join(figures))
    print(
        f"default calibration: {DEFAULT_CALIBRATION.flops_per_second / 1e9:.1f} GFLOP/s, "
        f"{DEFAULT_CALIBRATION.seconds_per_step * 1e3:.2f} ms per step + "
        f"{DEFAULT_CALIBRATION.seconds_per_row * 1e3:.3f} ms per row"
    )
    estimates_and_decisions(calibration, cold)
    time_predictions(calibration, args.quick)
    memory_predictions(args.quick)


if __name__ == "__main__":
    main()
