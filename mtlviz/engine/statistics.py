"""Parameter-update statistics and per-task gradient conflict, computed on the device.

Per configuration and layer (every `stats_every` steps):
  grad_norm          L2 norm of the gradient the optimizer stepped with
  update_norm        ||theta_after - theta_before||, measured around optimizer.step()
  param_norm         ||theta_after||
  update_ratio       update_norm / param_norm
  effective_lr       median per-element step size taken from the optimizer's own
                     state (p10 and p90 as effective_lr_p10 / _p90); the lr for SGD
  weight_decay_norm  the weight-decay term's direct part of this step: lr*wd*||theta||
                     when decoupled (AdamW), ||lr_eff * wd * theta|| when it is an L2
                     term added to the gradient (SGD, Adam), before momentum

Per configuration (every `conflict_every` steps, on the shared parameters):
  task_grad_norm     norm of each task's weighted-loss gradient
  grad_cosine        cosine between every pair of task gradients
  conflict_share     share of pairs whose cosine is negative
"""

from __future__ import annotations

import math

import torch

from mtlviz.config import OptimizerConfig

LAYER_METRICS = (
    "grad_norm",
    "update_norm",
    "param_norm",
    "update_ratio",
    "effective_lr",
    "effective_lr_p10",
    "effective_lr_p90",
    "weight_decay_norm",
)
QUANTILES = (0.1, 0.5, 0.9)


def _state_value(state: dict, key: str) -> float:
    value = state[key]
    return float(value) if torch.is_tensor(value) else value


def effective_lr(config: OptimizerConfig, state: dict) -> torch.Tensor | float:
    """Per-element step size lr / (sqrt(v_hat) + eps) as the optimizer applies it.

    It multiplies the (bias-corrected) first moment for Adam-family methods and
    the gradient for RMSprop and Adagrad. A float where it is the same for every
    element (SGD, RAdam before its rectification starts, no state yet).
    """
    lr, name = config.lr, config.name
    if name == "sgd" or not state:
        return lr
    step = _state_value(state, "step")
    eps = config.option("eps")
    if name in ("adam", "adamw", "nadam", "radam"):
        beta2 = config.option("betas")[1]
        bias_correction2 = 1 - beta2**step
        amsgrad = name in ("adam", "adamw") and config.option("amsgrad")
        v = state["max_exp_avg_sq"] if amsgrad else state["exp_avg_sq"]
        if name != "radam":
            return lr / ((v / bias_correction2).sqrt() + eps)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
        if rho_t <= 5:
            return lr  # RAdam steps like SGD with momentum until the variance is tractable
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return lr * rect * math.sqrt(bias_correction2) / (v.sqrt() + eps)
    if name == "rmsprop":
        v = state["square_avg"]
        if config.option("centered"):
            v = v - state["grad_avg"].pow(2)
        return lr / (v.sqrt() + eps)
    if name == "adagrad":
        clr = lr / (1 + (step - 1) * config.option("lr_decay"))
        return clr / (state["sum"].sqrt() + eps)
    raise ValueError(f"no effective learning rate rule for optimizer {name!r}")


def decoupled_weight_decay(config: OptimizerConfig) -> bool:
    if config.name == "adamw":
        return True
    return config.name in ("nadam", "radam") and config.option("decoupled_weight_decay")


def layer_statistics(
    configs: tuple[OptimizerConfig, ...],
    optimizers: list[torch.optim.Optimizer],
    params: list[torch.Tensor],
    before: list[torch.Tensor],
    grads: list[torch.Tensor],
) -> torch.Tensor:
    """(M, K, L) statistics, M = len(LAYER_METRICS), for K configurations and L layers.

    `before` holds the parameters copied just before the optimizers stepped.
    Everything stays on the device (no host sync), and work is batched across
    the K configurations: one quantile call and a few vector ops per layer.
    """
    num_layers, num_copies = len(params), len(configs)
    device = params[0].device
    out = torch.empty(len(LAYER_METRICS), num_copies, num_layers, device=device)
    quantiles = torch.tensor(QUANTILES, device=device)
    weight_decay = [config.option("weight_decay") for config in configs]  # every optimizer has the option
    decoupled = [decoupled_weight_decay(config) for config in configs]
    for i, (param, old, grad) in enumerate(zip(params, before, grads)):
        after = param.detach()
        old_flat = old.flatten(1)  # (K, n)
        out[0, :, i] = grad.flatten(1).norm(dim=1)
        out[1, :, i] = (after - old).flatten(1).norm(dim=1)
        out[2, :, i] = after.flatten(1).norm(dim=1)
        old_norm = old_flat.norm(dim=1)  # (K,)
        # Per configuration: a tensor of per-element step sizes, or one number for all elements.
        rates = [
            effective_lr(config, optimizer.state.get(optimizer.param_groups[0]["params"][i], {}))
            for config, optimizer in zip(configs, optimizers)
        ]
        scalars = torch.tensor([0.0 if torch.is_tensor(r) else r for r in rates])
        out[4:7, :, i] = scalars.to(device)
        # Weight-decay part for scalar rates (SGD; decoupled decay uses lr): rate * wd * ||theta||.
        coefficient = torch.tensor(
            [
                c.lr * wd if dec else (0.0 if torch.is_tensor(r) else r) * wd
                for c, r, wd, dec in zip(configs, rates, weight_decay, decoupled)
            ]
        )
        out[7, :, i] = coefficient.to(device) * old_norm
        rows = [k for k, r in enumerate(rates) if torch.is_tensor(r)]
        if rows:
            stacked = torch.stack([rates[k].reshape(-1) for k in rows]).float()  # (k', n)
            out[4:7, rows, i] = torch.quantile(stacked, quantiles, dim=1)[[1, 0, 2]]
            coupled = [j for j, k in enumerate(rows) if weight_decay[k] and not decoupled[k]]
            if coupled:
                # An L2 term passes through the adaptive step size: ||lr_eff * wd * theta||.
                ks = [rows[j] for j in coupled]
                wd = torch.tensor([weight_decay[k] for k in ks], device=device)
                out[7, ks, i] = (stacked[coupled] * old_flat[ks]).norm(dim=1) * wd
    out[3] = out[1] / out[2].clamp_min(1e-30)
    return out


def task_gradients(
    task_objectives: torch.Tensor, penalty: torch.Tensor, params: list[torch.Tensor], shared: list[int]
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """One backward per task; returns (summed gradients, task_grad_norm, cosines).

    task_objectives: (K, T) weighted task losses; penalty: (K,). The summed
    gradients (tasks plus penalty) are the full gradient, so the step uses them
    instead of a second backward. On the shared parameters (indices `shared`):
    task_grad_norm (K, T) and cosines (K, T, T).
    """
    num_copies, num_tasks = task_objectives.shape
    total = [torch.zeros_like(p) for p in params]
    gram = torch.zeros(num_copies, num_tasks, num_tasks, device=task_objectives.device)
    shared_grads: list[list[torch.Tensor]] = []
    for t in range(num_tasks):
        grads = torch.autograd.grad(
            task_objectives[:, t].sum(), params, retain_graph=True, allow_unused=True, materialize_grads=True
        )
        for acc, g in zip(total, grads):
            acc.add_(g)
        shared_grads.append([grads[i].flatten(1) for i in shared])  # each (K, n_i)
    if penalty.requires_grad:
        for acc, g in zip(total, torch.autograd.grad(penalty.sum(), params, allow_unused=True, materialize_grads=True)):
            acc.add_(g)
    for i in range(len(shared)):
        stacked = torch.stack([shared_grads[t][i] for t in range(num_tasks)], 1)  # (K, T, n_i)
        gram += stacked @ stacked.transpose(1, 2)  # (K, T, T)
    norms = gram.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()  # (K, T)
    cosines = gram / (norms[:, :, None] * norms[:, None, :]).clamp_min(1e-30)
    return total, norms, cosines
