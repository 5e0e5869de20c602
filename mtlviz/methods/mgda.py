"""MGDA: the minimum-norm point in the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018 (Algorithms 1 and 2).

    lambda = argmin_{lambda in simplex} || sum_t lambda_t g_t ||^2

The step along -sum_t lambda_t g_t decreases every task's loss at once (or is 0
at a Pareto-stationary point). The direction is used as is, not rescaled, as in
the paper: its norm shrinks as the tasks conflict. Applied to the gradients of
the shared parameters this is the exact MGDA; given the gradients with respect
to a shared representation it is MGDA-UB. Gradients are not normalised.

Solved on the (K, T, T) Gram matrix, so the cost is independent of P:
  T = 2: Algorithm 1's closed form, lambda_1 = clamp((g2 - g1).g2 / ||g1 - g2||^2, 0, 1).
  T > 2: the exact minimiser rather than Algorithm 2's Frank-Wolfe iterations (which
         approach the same point, and the min-norm point is unique): the least norm
         on each face of the simplex solves a small linear system, all 2^T - 1 faces
         are solved in one batched call, and the best point of the simplex among
         them is kept. At T = 8 that is 255 systems of size 9 per row; it needs no
         iteration count and no host sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import (
    Combined,
    Method,
    best_candidate,
    check_gradients,
    combine,
    gram_matrix,
    onto_simplex,
    support_solutions,
    task_weights,
)

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def pair_weights(gram: torch.Tensor) -> torch.Tensor:
    """(K, 2) Algorithm 1's closed form for two tasks; gram: (K, 2, 2). 1/2 each where g1 == g2."""
    tiny = torch.finfo(gram.dtype).tiny
    difference = gram[:, 0, 0] - 2 * gram[:, 0, 1] + gram[:, 1, 1]  # (K,) ||g1 - g2||^2
    first = ((gram[:, 1, 1] - gram[:, 0, 1]) / difference.clamp_min(tiny)).clamp(0, 1)
    first = torch.where(difference > 0, first, torch.full_like(first, 0.5))  # any lambda: the same point
    return torch.stack([first, 1 - first], 1)


def mgda_weights(gram: torch.Tensor) -> torch.Tensor:
    """(K, T) lambda in the simplex minimising lambda^T gram lambda; gram: (K, T, T)."""
    num_copies, num_tasks, _ = gram.shape
    if num_tasks == 1:
        return torch.ones(num_copies, 1, dtype=gram.dtype, device=gram.device)
    if num_tasks == 2:
        return pair_weights(gram)
    points, _ = support_solutions(gram)  # (K, S, T) float64
    candidates = onto_simplex(points)
    values = torch.einsum("kns,kst,knt->kn", candidates, gram.double(), candidates)  # (K, S) ||g_lambda||^2
    return best_candidate(candidates, values).to(gram.dtype)


def mgda(grads: torch.Tensor) -> Combined:
    """grads: (K, T, P) per-task gradients on the shared parameters -> Combined((K, P), lambda (K, T))."""
    check_gradients(grads)
    grads = grads.detach()
    weights = mgda_weights(gram_matrix(grads))
    return Combined(combine(weights, grads), weights)


class MGDA(Method):
    """MGDA for a group of rows: the tasks' weight fields on the losses, then the min-norm direction."""

    def __init__(self, options: dict, context: MethodContext):
        self.weights = task_weights(context)

    def combine(self, task_grads: torch.Tensor) -> Combined | None:
        return mgda(task_grads)
