"""Equal weighting: the plain sum of the task losses, sum_t L_t (the usual baseline)."""

from __future__ import annotations

import torch

from mtlviz.methods.base import check_matrix


def equal_weights(losses: torch.Tensor) -> torch.Tensor:
    """(K, T) ones: every task's loss counts once. losses: (K, T), only its shape is used."""
    check_matrix("losses", losses)
    return torch.ones_like(losses)
