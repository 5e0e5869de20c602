"""GradNorm: learned task weights that balance the tasks' gradient norms and training rates.

Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for
Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018 (Algorithm 1).

How the engine uses it, each step (the paper's Algorithm 1):
  1. The weights w (K, T) are parameters, initialised to 1 and trained with the
     row's optimizer; the first step's task losses are kept as initial_losses L_t(0).
  2. The network's objective is sum_t w_t L_t with w detached: the network's
     gradient does not move w.
  3. G_t = || grad_W (w_t L_t) || on W, the last shared layer, kept differentiable
     in w. As w_t > 0, G_t = w_t * || grad_W L_t ||, so grad_norms may be built as
     weights * (unweighted norms, detached): no second-order backward is needed.
  4. The weights' gradient is that of gradnorm_loss(...) with respect to w only
     (never the network): the targets mean(G) * r_t^alpha are constants.
  5. After the optimizer step, w <- gradnorm_renormalise(w) (under no_grad), so
     that sum_t w_t = T.
alpha sets how strongly tasks that train slower (larger r_t) are pulled up: the
paper uses 1.5 on NYUv2, 0.12 where tasks are alike; alpha = 0 equalises G.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mtlviz.methods.base import Method, check_matrix, check_same_shape

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


def gradnorm_loss(
    weights: torch.Tensor,
    grad_norms: torch.Tensor,
    losses: torch.Tensor,
    initial_losses: torch.Tensor,
    alpha: float = 1.5,
) -> torch.Tensor:
    """(K,) L_grad = sum_t | G_t - mean_t(G) * r_t^alpha |, differentiable through grad_norms only.

    weights: (K, T) the learned w that grad_norms was computed with (checked for
    shape; the gradient reaches it through grad_norms); grad_norms: (K, T) G_t;
    losses, initial_losses: (K, T) L_t now and at the first step. The relative
    inverse training rate is r_t = L~_t / mean_t(L~), L~_t = L_t / L_t(0).
    """
    check_matrix("weights", weights)
    check_same_shape("grad_norms", grad_norms, weights)
    check_same_shape("losses", losses, weights)
    check_same_shape("initial_losses", initial_losses, weights)
    if not alpha >= 0:
        raise ValueError(f"alpha: expected a number >= 0, found {alpha!r}")
    tiny = torch.finfo(losses.dtype).tiny
    loss_ratios = losses.detach() / initial_losses.detach().clamp_min(tiny)  # (K, T) L~
    rates = loss_ratios / loss_ratios.mean(1, keepdim=True).clamp_min(tiny)  # (K, T) r
    targets = (grad_norms.detach().mean(1, keepdim=True) * rates**alpha).detach()  # (K, T), constants
    return (grad_norms - targets).abs().sum(1)


def gradnorm_renormalise(weights: torch.Tensor) -> torch.Tensor:
    """(K, T) weights rescaled to sum to T per row, each first kept above 0 (a new tensor, no history)."""
    check_matrix("weights", weights)
    positive = weights.detach().clamp_min(torch.finfo(weights.dtype).eps)  # a weight driven to <= 0 stays alive
    return positive * (weights.shape[1] / positive.sum(1, keepdim=True))


class GradNorm(Method):
    """GradNorm for a group of rows, steps 1 to 5 above: their learned weights are w, starting at 1."""

    learned_start = 1.0

    def __init__(self, options: dict, context: MethodContext):
        self.alpha = options["alpha"]
        self._initial: torch.Tensor | None = None  # (k, T) L(0), the first step's losses

    def objectives(self, losses: torch.Tensor, learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self._initial is None:
            self._initial = losses.detach().clone()
        # Detached: the network's gradient must not move w. A copy: shown as this step's, not the next.
        weights = learned.detach().clone()
        return weights * losses, weights

    def learned_gradient(
        self, learned: torch.Tensor, layer_grads: torch.Tensor, losses: torch.Tensor
    ) -> torch.Tensor | None:
        # layer_grads are gradients of w_t L_t: divided by w_t, ||grad_W L_t||.
        unweighted = layer_grads.norm(dim=2) / learned.clamp_min(1e-12)  # (k, T)
        weights = learned.clone().requires_grad_(True)
        loss = gradnorm_loss(weights, weights * unweighted, losses.detach(), self._initial, self.alpha)  # (k,)
        (grad,) = torch.autograd.grad(loss.sum(), weights)
        return grad

    def after_step(self, learned: torch.Tensor) -> torch.Tensor | None:
        return gradnorm_renormalise(learned)
