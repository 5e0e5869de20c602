"""Uncertainty weighting: each task's loss scaled by a learned homoscedastic noise variance.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses
for Scene Geometry and Semantics", CVPR 2018.

With s_t = log sigma_t^2 a learned parameter per task (trained with the row's
optimizer alongside the network), the objective is the paper's
  regression      L_t / (2 sigma_t^2) + log sigma_t = 0.5 exp(-s_t) L_t + 0.5 s_t   (its eq. 7)
  classification  L_t / sigma_t^2     + log sigma_t =     exp(-s_t) L_t + 0.5 s_t   (its eq. 10, approximated)
summed over tasks. Learning s rather than sigma keeps the variance positive and
the optimisation stable (the paper's section 3.2). At the optimum of s_t,
exp(s_t) = L_t (regression) or 2 L_t (classification): the weight falls as the
task's loss grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Method, check_matrix, check_same_shape

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def uncertainty_objective(
    losses: torch.Tensor, log_vars: torch.Tensor, classification: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective to minimise (K,) and the weights (K, T) it puts on each loss (see uncertainty_terms)."""
    terms, factors = uncertainty_terms(losses, log_vars, classification)
    return terms.sum(1), factors


def uncertainty_terms(
    losses: torch.Tensor, log_vars: torch.Tensor, classification: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each task's term of the objective (K, T), and the weights (K, T) it puts on each loss.

    The terms sum to the objective; one backward per term gives each task's own
    gradient (for the conflict statistics and gradient combinations).
    losses: (K, T) task losses; log_vars: (K, T) the learned s = log sigma^2, zeros
    at the start (weights 0.5 and 1); classification: T flags, True where the task's
    loss is a cross-entropy. The objective is differentiable in both losses and
    log_vars; the weights (the factor on each L_t) are detached, for display.
    """
    check_matrix("losses", losses)
    check_same_shape("log_vars", log_vars, losses)
    flags = list(classification)
    if len(flags) != losses.shape[1]:
        raise ValueError(f"classification: expected {losses.shape[1]} flags, found {len(flags)}")
    scale = torch.tensor([1.0 if flag else 0.5 for flag in flags], dtype=losses.dtype, device=losses.device)  # (T,)
    factors = scale * torch.exp(-log_vars)  # (K, T)
    terms = factors * losses + 0.5 * log_vars  # (K, T)
    return terms, factors.detach()


class Uncertainty(Method):
    """Uncertainty weighting for a group of rows: their learned weights are the log-variances s, starting at 0."""

    learned_start = 0.0

    def __init__(self, options: dict, context: MethodContext):
        self.classification = [task.type == "classification" for task in context.tasks]

    def objectives(self, losses: torch.Tensor, learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return uncertainty_terms(losses, learned, self.classification)
