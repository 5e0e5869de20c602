"""Dynamic Weight Average: weights from how fast each task's loss has been falling.

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019
(section 3.3).

  w_t = T * softmax_t(r_t / temperature),  r_t = L_t(previous) / L_t(before previous)

where the L are average losses over two consecutive windows (the paper's
epochs). A task whose loss fell less (larger ratio) gets more weight; the
weights sum to T. The paper uses temperature 2; a large temperature gives
equal weights. Until two windows have passed every weight is 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Method, check_matrix, check_same_shape

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def dwa_weights(previous: torch.Tensor, before_previous: torch.Tensor | None, temperature: float = 2.0) -> torch.Tensor:
    """(K, T) weights from the average losses of the last window and the one before it (None: too early)."""
    check_matrix("previous", previous)
    if not temperature > 0:  # also catches NaN
        raise ValueError(f"temperature: expected a number > 0, found {temperature!r}")
    if before_previous is None:
        return torch.ones_like(previous)
    check_same_shape("before_previous", before_previous, previous)
    num_tasks = previous.shape[1]
    if math.isinf(temperature):
        return torch.ones_like(previous)
    tiny = torch.finfo(previous.dtype).tiny  # a loss of exactly 0 must not divide by zero
    ratios = previous.detach() / before_previous.detach().clamp_min(tiny)  # (K, T)
    return num_tasks * torch.softmax(ratios / temperature, dim=1)


class DWA(Method):
    """DWA for a group of rows: keeps their mean task losses over windows of context.window steps (the epochs)."""

    def __init__(self, options: dict, context: MethodContext):
        self.temperature = options["temperature"]
        self.window = context.window
        self._window_sum = torch.zeros(context.rows, len(context.tasks), device=context.device, dtype=context.dtype)
        self._window_steps = 0
        self._history: list[torch.Tensor] = []  # the last two windows' mean losses (k, T), oldest first

    def objectives(self, losses: torch.Tensor, learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        previous = self._history[-1] if self._history else losses.detach()
        before = self._history[-2] if len(self._history) > 1 else None
        weights = dwa_weights(previous, before, self.temperature)
        self._remember(losses.detach())
        return weights * losses, weights

    def _remember(self, losses: torch.Tensor) -> None:
        self._window_sum += losses
        self._window_steps += 1
        if self._window_steps == self.window:
            self._history = [*self._history[-1:], self._window_sum / self.window]
            self._window_sum = torch.zeros_like(self._window_sum)
            self._window_steps = 0
