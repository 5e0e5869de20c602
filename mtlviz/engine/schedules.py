"""Learning-rate schedules, built from torch.optim.lr_scheduler for one row's optimizer.

A schedule (mtlviz.config.Schedule) is an optional linear warmup followed by
its decay, composed with SequentialLR:

    warmup     LinearLR from 1 / (warmup_steps + 1) of the lr to the lr, over warmup_steps
    constant   nothing after the warmup (LinearLR holds its end factor)
    cosine     CosineAnnealingLR to 0 over the steps left after the warmup
    linear     LinearLR from the lr to 0 over the steps left after the warmup
    step       StepLR: times gamma every step_size steps after the warmup

Each row steps its own scheduler once per training step, after its optimizer's
step, as PyTorch prescribes, so a row equals its own plain-PyTorch run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler

from mtlviz.config import Schedule


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule | None, steps: int) -> Any | None:
    """The scheduler `schedule` describes for a run of `steps` steps; None for a constant lr."""
    if schedule is None or (schedule.name == "constant" and not schedule.warmup_steps):
        return None
    warmup = schedule.warmup_steps
    rest = max(1, steps - warmup)
    if schedule.name == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=rest, eta_min=0.0)
    elif schedule.name == "linear":
        main = lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=rest)
    elif schedule.name == "step":
        main = lr_scheduler.StepLR(optimizer, step_size=schedule.step_size, gamma=schedule.gamma)
    else:
        main = None
    if not warmup:
        return main
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    if main is None:
        return ramp
    return lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
