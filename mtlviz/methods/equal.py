"""Equal weighting: the plain sum of the task losses, sum_t L_t (the usual baseline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Method, check_matrix

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def equal_weights(losses: torch.Tensor) -> torch.Tensor:
    """(K, T) ones: every task's loss counts once. losses: (K, T), only its shape is used."""
    check_matrix("losses", losses)
    return torch.ones_like(losses)


class Equal(Method):
    """Equal weights for a group of rows: 1 on every loss."""

    def __init__(self, options: dict, context: MethodContext):
        shape = (context.rows, len(context.tasks))
        self.weights = equal_weights(torch.empty(shape, device=context.device, dtype=context.dtype))
