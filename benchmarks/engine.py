"""Throughput of the batched engine against K separate models trained in a loop.

The baseline is what a user would write to compare K optimizer configurations:
K plain nn.Module hard-sharing networks (an nn.Linear/nn.ReLU trunk of depth 2
and one nn.Linear head per task, the architecture of mtlviz's HardSharing), K
torch.optim.Adam optimizers with default arguments, and a Python loop over them
every step on the same mini-batch. The engine trains the same K Adam
configurations in one stacked model (statistics off, as the baseline has none).

Both are measured in configuration-steps per second (K * steps / seconds), side
by side in one run: per cell, repeats alternate between baseline and engine so
drift affects both alike, and the table shows medians. On the CPU the clock is
process CPU time (robust on a shared, noisy machine); on a CUDA device it is
CUDA events around a block of steps.

    python benchmarks/engine.py [--steps 100] [--repeats 5] [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    import mtlviz  # noqa: F401
except ModuleNotFoundError:  # run as a script from a checkout: python benchmarks/engine.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.data.batches import BatchSampler
from mtlviz.data.sources import build_taskset
from mtlviz.data.taskset import TaskSet
from mtlviz.engine import Engine

KS = (1, 2, 4, 8, 16)
HIDDENS = (64, 256)
TASKS = (TaskSpec("a"), TaskSpec("b"), TaskSpec("c"))
BATCH_SIZE = 256
INPUT_DIM = 16
DEPTH = 2
LR = 1e-3  # torch.optim.Adam's default, so the baseline can use default arguments
SEED = 0
WARMUP_STEPS = 10  # first calls allocate buffers and optimizer state
# (hidden, K) -> lowest engine/baseline ratio that passes, per device type.
TARGETS = {"cpu": {(64, 8): 2.0, (256, 8): 0.9}, "cuda": {(64, 16): 5.0}}


class HardSharingNet(nn.Module):
    """One hard-sharing network written with plain torch.nn: trunk MLP plus a head per task."""

    def __init__(self, input_dim: int, hidden: int, depth: int, num_tasks: int):
        super().__init__()
        sizes = [input_dim] + [hidden] * depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(sizes[-1], 1) for _ in range(num_tasks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.trunk(x)  # (B, hidden)
        return [head(h) for head in self.heads]  # T tensors of (B, 1)


class Baseline:
    """K separate models and K default Adam optimizers, stepped one after the other."""

    def __init__(self, taskset: TaskSet, hidden: int, num_copies: int, device: torch.device):
        self.taskset = taskset
        # The engine's own sampler, so both pay the same (small) cost for the mini-batch.
        self.sampler = BatchSampler(taskset.x_train.shape[0], BATCH_SIZE, SEED + 1, device)
        torch.manual_seed(SEED)
        num_tasks = taskset.y_train.shape[1]
        self.models = [
            HardSharingNet(taskset.input_dim, hidden, DEPTH, num_tasks).to(device) for _ in range(num_copies)
        ]
        self.optimizers = [torch.optim.Adam(m.parameters()) for m in self.models]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.sampler.next()
        return self.taskset.x_train[index], self.taskset.y_train[index]

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        for model, optimizer in zip(self.models, self.optimizers):
            optimizer.zero_grad()
            outputs = model(x)
            loss = sum(F.mse_loss(out.squeeze(-1), y[:, t]) for t, out in enumerate(outputs))
            loss.backward()
            optimizer.step()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but no CUDA device is available here; use --device auto or cpu")
    return torch.device(name)


def experiment(hidden: int, device: torch.device) -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=TASKS, input_dim=INPUT_DIM, num_samples=20_000),
        model=ModelConfig(sharing="hard", hidden=hidden, depth=DEPTH),
        optimizers=(OptimizerConfig("adam", LR, "Adam"),),  # the rows below replace these
        train=TrainConfig(batch_size=BATCH_SIZE, seed=SEED, device=device.type, stats_every=0, conflict_every=0),
    )


def adam_rows(num_copies: int) -> tuple[OptimizerConfig, ...]:
    return tuple(OptimizerConfig("adam", LR, f"Adam {k}") for k in range(num_copies))


def seconds_for(step: Callable[[], object], steps: int, device: torch.device) -> float:
    """Seconds for `steps` calls of step: process CPU time, or CUDA event time on a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    start_cpu = time.process_time()
    for _ in range(steps):
        step()
    return time.process_time() - start_cpu


def measure(hidden: int, num_copies: int, steps: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median configuration-steps per second of (baseline, engine)."""
    config = experiment(hidden, device)
    taskset = build_taskset(config.tasks, SEED).to(device)
    engine = Engine(config, taskset=taskset, rows=adam_rows(num_copies))
    baseline = Baseline(taskset, hidden, num_copies, device)
    variants = {
        "baseline": lambda: baseline.train_step(*baseline.next_batch()),
        "engine": lambda: engine.train_step(*engine.next_batch()),
    }
    for step in variants.values():
        seconds_for(step, WARMUP_STEPS, device)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(repeats):
        # Alternate which goes first, so neither always runs on a cache the other just warmed.
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            rates[name].append(num_copies * steps / seconds_for(variants[name], steps, device))
    return statistics.median(rates["baseline"]), statistics.median(rates["engine"])


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cores} CPU cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, for both (default 1)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    clock = "CUDA events" if device.type == "cuda" else "process CPU time"
    print(f"machine: {machine(device)}; torch {torch.__version__}; {torch.get_num_threads()} thread(s)")
    print(
        f"hard sharing, depth {DEPTH}, {len(TASKS)} regression tasks, batch {BATCH_SIZE}, input_dim {INPUT_DIM}, "
        f"Adam lr={LR:g}; {args.steps} steps x {args.repeats} repeats, medians, {clock}"
    )
    print(f"{'hidden':>6} {'K':>3} {'baseline cfg-steps/s':>21} {'engine cfg-steps/s':>19} {'ratio':>6}")
    ratios = {}
    for hidden in HIDDENS:
        for num_copies in KS:
            base, fast = measure(hidden, num_copies, args.steps, args.repeats, device)
            ratios[hidden, num_copies] = fast / base
            print(f"{hidden:>6} {num_copies:>3} {base:>21.0f} {fast:>19.0f} {fast / base:>5.2f}x", flush=True)
    print(f"targets ({device.type}):")
    for (hidden, num_copies), target in TARGETS[device.type].items():
        ratio = ratios[hidden, num_copies]
        verdict = "PASS" if ratio >= target else "FAIL"
        print(f"  K={num_copies}, hidden {hidden}: engine/baseline >= {target:g}x; found {ratio:.2f}x  {verdict}")


if __name__ == "__main__":
    main()
