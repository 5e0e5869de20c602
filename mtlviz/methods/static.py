"""Static weighting: fixed user-chosen weights, sum_t w_t * L_t (each task's `weight` in the config)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Method, check_matrix, task_weights

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def check_static_weights(weights: Sequence[float], num_tasks: int) -> list[float]:
    """The weights as floats: num_tasks finite numbers >= 0, not all zero."""
    values = list(weights)
    if len(values) != num_tasks:
        raise ValueError(f"expected {num_tasks} task weights, found {len(values)}: {values}")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"task weight {i}: expected a finite number >= 0, found {value!r}")
    if not any(values):
        raise ValueError(f"expected at least one task weight above 0, found {values}")
    return [float(value) for value in values]


def static_weights(losses: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """(K, T) the given weights on every row. losses: (K, T), only its shape, dtype and device are used."""
    check_matrix("losses", losses)
    values = check_static_weights(weights, losses.shape[1])
    row = torch.tensor(values, dtype=losses.dtype, device=losses.device)  # (T,)
    return row.expand(losses.shape).clone()


class Static(Method):
    """Static weights for a group of rows: each task's weight field, as the config validated it."""

    def __init__(self, options: dict, context: MethodContext):
        self.weights = task_weights(context)
