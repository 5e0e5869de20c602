"""How many intra-op threads torch should use for an experiment.

Small multi-task MLPs are bound by per-operation overhead, not arithmetic, so a
second intra-op thread buys little and costs a lot when the machine is busy:
OpenMP workers spin while they wait. Measured on a 2-core CPU with the other
core loaded (3 configurations, hidden 64, 200 steps): 1 thread 2.4 s wall /
1.0 s CPU, 2 threads 13.3 s wall / 8.2 s CPU. Only steps with enough matrix
work per operation get all cores.
"""

from __future__ import annotations

import os

import torch

from mtlviz.engine.trainer import Engine

# Multiply-adds in one forward pass of all configurations above which threads pay off.
PARALLEL_MACS = 50_000_000


def forward_macs(batch_size: int, num_weights: int) -> int:
    """Multiply-adds of one forward pass: every weight of every copy once per example."""
    return batch_size * num_weights


def intra_op_threads(batch_size: int, num_weights: int) -> int:
    if forward_macs(batch_size, num_weights) < PARALLEL_MACS:
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def use_threads_for(engine: Engine) -> int:
    """Set torch's (process-wide) intra-op thread count for this engine's model; returns it."""
    weights = sum(p.numel() for p in engine.params)  # all K copies
    threads = intra_op_threads(engine.samplers[0].batch_size, weights)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
