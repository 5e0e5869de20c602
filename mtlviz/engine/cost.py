"""What each row's training costs, when all rows share one forward and backward pass.

Wall-clock time is one clock for every row of the batched model, so it cannot
say that Adam costs more than SGD per step. The engine times the parts of a
step and charges them to rows:

- the forward and a backward pass: split equally across the rows still training;
- per-task backward passes (T instead of one) when some row's method needs them
  (PCGrad, MGDA, ...): the extra (T - 1) / T of that time is split across those
  rows only; when they run only for gradient-conflict statistics, no row pays them;
- each row's own optimizer step and scheduler step: timed one by one;
- clipping and the methods' gradient combination: split like the pass they follow.

Statistics (layer statistics, conflict cosines) are measurement, charged to no row.
On CUDA kernels run asynchronously, so a step is timed with synchronisation on one
step in `CUDA_SAMPLE` and that step's charges stand for the steps since the last
sample; on a CPU every step is timed.
"""

from __future__ import annotations

import time

import numpy as np
import torch

CUDA_SAMPLE = 25


class CostMeter:
    """Seconds charged to each of K rows so far."""

    def __init__(self, per_task_rows: list[bool], num_tasks: int, device: torch.device):
        self.total = np.zeros(len(per_task_rows))
        self.per_task = np.asarray(per_task_rows, dtype=bool)
        self.num_tasks = max(1, num_tasks)
        self.cuda = device.type == "cuda"
        self._weight = 1  # steps a timed step stands for
        self._timing = True
        self._steps = 0

    def begin_step(self) -> bool:
        """Whether this step is timed (every step on a CPU, one in CUDA_SAMPLE on CUDA)."""
        self._steps += 1
        self._timing = not self.cuda or self._steps % CUDA_SAMPLE == 1
        self._weight = 1 if not self.cuda else (CUDA_SAMPLE if self._steps > 1 else 1)
        return self._timing

    def now(self) -> float:
        if self._timing and self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def shared(self, seconds: float, active: np.ndarray, per_task_pass: bool) -> None:
        """Charge a forward/backward (and what follows it) of `seconds` to the active rows."""
        if not self._timing or not active.any():
            return
        seconds *= self._weight
        if not per_task_pass:
            self.total[active] += seconds / active.sum()
            return
        single = seconds / self.num_tasks
        self.total[active] += single / active.sum()
        payers = self.per_task & active
        if payers.any():  # else the extra passes were for statistics only: nobody's training cost
            self.total[payers] += (seconds - single) / payers.sum()

    def own(self, row: int, seconds: float) -> None:
        """Charge a row's own optimizer (and scheduler) step."""
        if self._timing:
            self.total[row] += seconds * self._weight
