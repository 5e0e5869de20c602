"""CAGrad: conflict-averse gradient descent, the update that best helps the worst-off task
within a ball around the average gradient.

Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021.

With g0 = mean_t g_t, phi = c^2 ||g0||^2 and g_w = sum_t w_t g_t, the dual problem
    w* = argmin_{w in simplex} F(w),  F(w) = g_w . g0 + sqrt(phi) ||g_w||
gives the update d = g0 + sqrt(phi) / ||g_w*|| * g_w*, which the authors' code
divides by 1 + c^2 (its default rescale=1) so that the step length stays
comparable to the mean gradient's; so does this one. c = 0 gives the mean
gradient exactly; c in [0, 1) keeps convergence to a stationary point of the
average loss (the paper's theorem).

The authors solve for w with scipy's SLSQP. Here w* is exact, batched over K on
the (K, T, T) Gram matrix M, with b = M 1 / T (b_t = g_t . g0). On a face S of the
simplex a stationary point with tau = ||g_w|| > 0 satisfies
    b_S + sqrt(phi) / tau * M_S w = nu 1,  sum_S w = 1,
whose solutions are w = w0 + s w1, s = tau / sqrt(phi), with w0 and w1 from one
linear system per face (see support_solutions). As w0 . M w1 = 0, tau^2 = w^T M w
gives s^2 = A / (phi - C), A = w0^T M w0, C = w1^T M w1, where phi > C. Every face
is solved in one batched call and the point of the simplex with the least F is kept.
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


def cagrad_objective(weights: torch.Tensor, gram: torch.Tensor, c: float) -> torch.Tensor:
    """F(w) = g_w . g0 + c ||g0|| ||g_w|| for weights (K, ..., T) and gram (K, T, T): shape (K, ...)."""
    leading = weights.shape[:-1]
    flat = weights.reshape(weights.shape[0], -1, weights.shape[-1])  # (K, N, T)
    products = flat @ gram  # (K, N, T) rows w^T M
    mean_norm = gram.mean((1, 2)).clamp_min(0).sqrt()[:, None]  # (K, 1) ||g0||
    weighted_norm = (products * flat).sum(2).clamp_min(0).sqrt()  # (K, N) ||g_w||
    return (products.mean(2) + c * mean_norm * weighted_norm).reshape(leading)


def cagrad_weights(gram: torch.Tensor, c: float) -> torch.Tensor:
    """(K, T) w* in the simplex minimising F; gram: (K, T, T)."""
    if gram.shape[1] == 1:
        return torch.ones_like(gram[:, 0])
    exact = gram.double()
    toward_mean = exact.mean(2)  # (K, T) b
    phi = c**2 * exact.mean((1, 2)).clamp_min(0)  # (K,)
    points, shifts = support_solutions(exact, toward_mean)  # (K, S, T) each
    base = torch.einsum("kns,kst,knt->kn", points, exact, points)  # (K, S) A
    spread = torch.einsum("kns,kst,knt->kn", shifts, exact, shifts)  # (K, S) C
    room = phi[:, None] - spread  # (K, S)
    # Faces without such a point (phi <= C) still offer w0, a point of the simplex like any other.
    scale = torch.where(room > 0, (base.clamp_min(0) / room.clamp_min(1e-300)).sqrt(), torch.zeros_like(room))
    candidates = onto_simplex(points + scale.unsqueeze(2) * shifts)  # (K, S, T)
    return best_candidate(candidates, cagrad_objective(candidates, exact, c)).to(gram.dtype)


def cagrad(grads: torch.Tensor, c: float = 0.5) -> Combined:
    """grads: (K, T, P) per-task gradients on the shared parameters -> Combined((K, P), (K, T)).

    The weights are the coefficients of the returned direction on each g_t:
    (1 / T + sqrt(phi) / ||g_w*|| * w*_t) / (1 + c^2).
    """
    check_gradients(grads)
    if not 0 <= c < 1:
        raise ValueError(f"c: expected a number in [0, 1), found {c!r}")
    grads = grads.detach()
    num_copies, num_tasks, _ = grads.shape
    if c == 0:
        weights = torch.full((num_copies, num_tasks), 1 / num_tasks, dtype=grads.dtype, device=grads.device)
        return Combined(grads.mean(1), weights)
    gram = gram_matrix(grads)  # (K, T, T)
    optimum = cagrad_weights(gram, c)  # (K, T) w*
    tiny = torch.finfo(grads.dtype).tiny
    radius = c * gram.mean((1, 2)).clamp_min(0).sqrt()  # (K,) sqrt(phi)
    weighted_norm = (optimum.unsqueeze(2) * gram * optimum.unsqueeze(1)).sum((1, 2)).clamp_min(0).sqrt()  # ||g_w*||
    scale = (radius / weighted_norm.clamp_min(tiny)).unsqueeze(1)  # (K, 1)
    weights = (1 / num_tasks + scale * optimum) / (1 + c**2)  # (K, T)
    return Combined(combine(weights, grads), weights)


class CAGrad(Method):
    """CAGrad for a group of rows: the tasks' weight fields on the losses, then the conflict-averse direction."""

    def __init__(self, options: dict, context: MethodContext):
        self.weights = task_weights(context)
        self.c = options["c"]

    def combine(self, task_grads: torch.Tensor) -> Combined | None:
        return cagrad(task_grads, self.c)
