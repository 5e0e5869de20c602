"""PCGrad: gradient surgery, projecting away the conflicting part of each task's gradient.

Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task
Learning", NeurIPS 2020 (Algorithm 1).

For each task i, the other tasks j are visited in a random order; whenever the
running g_i^PC conflicts with the original g_j (g_i^PC . g_j < 0), g_i^PC is
projected onto the normal plane of g_j:
    g_i^PC <- g_i^PC - (g_i^PC . g_j) / ||g_j||^2 * g_j
The update is sum_i g_i^PC.

Every g_i^PC is a linear combination of the original gradients, so the
surgery runs on coefficients and the (K, T, T) Gram matrix: its cost is
independent of P, and the result comes with the weights c_t of
direction = sum_t c_t g_t (1 for every task where nothing conflicts).

Randomness: one order per task i is drawn from `generator` per call and shared by
the K rows, as the rows of one seed share their batch order: rows that differ
only in their optimizer see the same surgery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Combined, Method, check_gradients, combine, gram_matrix, task_weights

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def pcgrad_orders(num_tasks: int, generator: torch.Generator) -> torch.Tensor:
    """(T, T-1): row i holds the tasks other than i, in a random order drawn from generator."""
    keys = torch.rand(num_tasks, num_tasks - 1, generator=generator, device=generator.device)
    positions = keys.argsort(1)  # (T, T-1) a uniform random permutation per row
    # The tasks other than i, ascending: j for j < i, then j + 1.
    others = torch.arange(num_tasks - 1, device=generator.device)
    others = others + (others[None, :] >= torch.arange(num_tasks, device=generator.device)[:, None])
    return others.gather(1, positions)


def pcgrad(grads: torch.Tensor, generator: torch.Generator) -> Combined:
    """grads: (K, T, P) per-task gradients on the shared parameters -> Combined((K, P), (K, T))."""
    check_gradients(grads)
    grads = grads.detach()
    num_copies, num_tasks, _ = grads.shape
    gram = gram_matrix(grads)  # (K, T, T)
    squared_norms = gram.diagonal(dim1=1, dim2=2)  # (K, T)
    orders = pcgrad_orders(num_tasks, generator).to(grads.device)  # (T, T-1)
    tiny = torch.finfo(grads.dtype).tiny
    tasks = torch.arange(num_tasks, device=grads.device)
    # coefficients[k, i, m]: g_i^PC of row k = sum_m coefficients[k, i, m] * g_m.
    coefficients = torch.eye(num_tasks, dtype=grads.dtype, device=grads.device).repeat(num_copies, 1, 1)
    for step in range(num_tasks - 1):  # all tasks i at once, each against its own j
        partner = orders[:, step]  # (T,) j for every i
        dots = (coefficients * gram[:, :, partner].transpose(1, 2)).sum(2)  # (K, T): g_i^PC . g_j
        scale = torch.where(dots < 0, dots / squared_norms[:, partner].clamp_min(tiny), 0.0)  # (K, T)
        coefficients[:, tasks, partner] -= scale
    weights = coefficients.sum(1)  # (K, T): sum over i of g_i^PC
    return Combined(combine(weights, grads), weights)


class PCGrad(Method):
    """PCGrad for a group of rows: the tasks' weight fields on the losses, then gradient surgery."""

    def __init__(self, options: dict, context: MethodContext):
        self.weights = task_weights(context)
        # Drawn from the run's seed: the rows of a group share each step's orders, and a row alone draws the same.
        self.generator = torch.Generator().manual_seed(context.seed)

    def combine(self, task_grads: torch.Tensor) -> Combined | None:
        return pcgrad(task_grads, self.generator)
