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

import torch

from mtlviz.config import OptimizerConfig
from mtlviz.optim import OPTIMIZERS
from mtlviz.records import LAYER_METRICS

QUANTILES = (0.1, 0.5, 0.9)


def effective_lrs(config: OptimizerConfig, states: list[dict]) -> list[torch.Tensor] | float:
    """Per-element step size lr / (sqrt(v_hat) + eps) of every parameter of one optimizer.

    The rule is the optimizer spec's own (mtlviz/optim/step_size.py). Returns one
    tensor per parameter, or a float when the rate is the same for every element
    of every parameter (SGD, no state yet).
    """
    spec = OPTIMIZERS[config.name]
    return spec.step_size(config.lr, spec.resolved(config.options), states)


# Quantiles of a layer's step sizes are taken over at most this many of its
# elements: exact for smaller layers, and a sort of a million elements every few
# steps would cost more than the training step. The sample is a fixed random
# subset: a strided one would pick whole output units of a weight matrix, and
# step sizes differ systematically between units (a dead ReLU's are huge).
QUANTILE_SAMPLE = 1024
_SAMPLES: dict[tuple[int, str], torch.Tensor] = {}


def _sample_index(size: int, device: torch.device) -> torch.Tensor:
    key = (size, str(device))
    if key not in _SAMPLES:
        generator = torch.Generator().manual_seed(size)  # the same elements at every step
        _SAMPLES[key] = torch.randperm(size, generator=generator)[:QUANTILE_SAMPLE].sort().values.to(device)
    return _SAMPLES[key]


def _row_norms(tensors: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(K, L) L2 norm of row k of each layer (one small kernel per layer: on CPU that
    beats a concatenation plus index_add_ at these sizes)."""
    return torch.stack([torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1) for t in tensors], 1)


def layer_statistics(
    configs: tuple[OptimizerConfig, ...],
    optimizers: list[torch.optim.Optimizer],
    params: list[torch.Tensor],
    before: list[torch.Tensor],
    grads: list[torch.Tensor],
) -> torch.Tensor:
    """(M, K, L) statistics, M = len(LAYER_METRICS), for K configurations and L layers.

    `before` holds the parameters copied just before the optimizers stepped.
    Everything stays on the device (no host sync) and is batched across the K
    configurations: per layer one norm kernel per statistic and one quantile call.
    """
    num_layers, num_copies = len(params), len(configs)
    device = params[0].device
    sizes = [p[0].numel() for p in params]
    after = [p.detach() for p in params]
    out = torch.empty(len(LAYER_METRICS), num_copies, num_layers, device=device, dtype=params[0].dtype)
    out[0] = _row_norms(grads)
    out[1] = _row_norms(torch._foreach_sub(after, before))
    out[2] = _row_norms(after)
    out[3] = out[1] / out[2].clamp_min(1e-30)
    old_norm = _row_norms(before)  # (K, L)

    rates = [
        effective_lrs(config, [optimizer.state.get(row, {}) for row in optimizer.param_groups[0]["params"]])
        for config, optimizer in zip(configs, optimizers)
    ]
    weight_decay = [config.option("weight_decay") for config in configs]  # every optimizer has the option
    decoupled = [OPTIMIZERS[config.name].decays_decoupled(config.options) for config in configs]
    scalar = [not isinstance(r, list) for r in rates]
    # Rates that are one number: the three quantiles are that number. The weight-decay
    # part is rate * wd * ||theta|| for them and lr * wd * ||theta|| when decoupled.
    fill = torch.tensor([r if s else 0.0 for r, s in zip(rates, scalar)], device=device, dtype=out.dtype)
    out[4:7] = fill[None, :, None]
    coefficient = [
        c.lr * wd if dec else (r * wd if s else 0.0)
        for c, r, s, wd, dec in zip(configs, rates, scalar, weight_decay, decoupled)
    ]
    out[7] = torch.tensor(coefficient, device=device, dtype=out.dtype)[:, None] * old_norm
    rows = [k for k in range(num_copies) if not scalar[k]]
    if not rows:
        return out
    # (K', P): each adaptive configuration's per-element step sizes, layers side by side.
    stacked = torch.stack([torch.cat([r.reshape(-1) for r in rates[k]]) for k in rows])
    quantiles = torch.tensor(QUANTILES, device=device, dtype=stacked.dtype)
    start = 0
    for i, size in enumerate(sizes):
        segment = stacked[:, start : start + size]
        if size > QUANTILE_SAMPLE:
            segment = segment[:, _sample_index(size, device)]
        out[4:7, rows, i] = torch.quantile(segment, quantiles, dim=1)[[1, 0, 2]]
        start += size
    coupled = [j for j, k in enumerate(rows) if weight_decay[k] and not decoupled[k]]
    if coupled:
        # An L2 term passes through the adaptive step size: ||lr_eff * wd * theta||.
        ks = [rows[j] for j in coupled]
        product = stacked[coupled] * torch.cat([b.reshape(num_copies, -1) for b in before], 1)[ks]
        norms = _row_norms(torch.split(product, sizes, dim=1))  # (len(ks), L)
        out[7, ks] = norms * torch.tensor([weight_decay[k] for k in ks], device=device)[:, None]
    return out


def task_gradients(
    task_objectives: torch.Tensor, penalty: torch.Tensor, params: list[torch.Tensor], shared: list[int]
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """One backward per task; returns (summed gradients, task_grad_norm, cosines, task gradients).

    task_objectives: (K, T) weighted task losses; penalty: (K,). The summed
    gradients (tasks plus penalty) are the full gradient, so the step uses them
    instead of a second backward. On the shared parameters (indices `shared`):
    task_grad_norm (K, T), cosines (K, T, T) and every task's gradient, flattened
    over the shared parameters in order, (K, T, P) (for gradient combination).
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
    per_task = torch.stack([torch.cat(shared_grads[t], 1) for t in range(num_tasks)], 1)  # (K, T, P)
    return total, norms, cosines, per_task
