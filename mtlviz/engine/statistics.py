"""Parameter-update statistics and per-task gradient conflict, computed on the device.

Per configuration and layer (every `stats_every` steps):
  grad_norm          L2 norm of the gradient the optimizer stepped with
  update_norm        ||theta_after - theta_before||, measured around optimizer.step()
  param_norm         ||theta_after||
  update_ratio       update_norm / param_norm
  effective_lr       median per-element step size taken from the optimizer's own
                     state by its spec's closed-form rule (p10 and p90 as
                     effective_lr_p10 / _p90); the lr for plain SGD. Only for rows
                     whose rule is exact (the spec's step_size_exact), else NaN
  measured_step      where the rule is not exact (momentum, Nesterov, RAdam before
                     rectification): median per-element |dtheta| / |g| measured around
                     optimizer.step() (p10, p90 likewise), elements with |g| at or
                     below MEASURED_GRADIENT_FLOOR x the layer's RMS gradient left out
  weight_decay_norm  the weight-decay term's direct part of this step: lr*wd*||theta||
                     when decoupled (AdamW), ||lr_eff * wd * theta|| when it is an L2
                     term added to the gradient (SGD, Adam), before momentum

Per configuration (every `conflict_every` steps, on the shared parameters):
  task_grad_norm     norm of each task's weighted-loss gradient
  grad_cosine        cosine between every pair of task gradients
  conflict_share     share of pairs whose cosine is below -CONFLICT_DEAD_ZONE (records.py)
"""

from __future__ import annotations

import torch

from mtlviz.config import OptimizerConfig
from mtlviz.optim import OPTIMIZERS
from mtlviz.records import EFFECTIVE_LR, LAYER_METRICS, MEASURED_STEP

QUANTILES = (0.1, 0.5, 0.9)


def step_rules(
    config: OptimizerConfig, states: list[dict], lr: float | None = None
) -> tuple[list[torch.Tensor] | float, bool]:
    """(per-element step sizes, whether they are exact) of every parameter of one optimizer.

    The rule and its exactness are the optimizer spec's own (mtlviz/optim/step_size.py):
    lr / (sqrt(v_hat) + eps) for Adam, lr for SGD. The sizes are one tensor per parameter,
    or a float when the rate is the same for every element of every parameter (SGD, no
    state yet). Not exact (momentum): the engine measures the step instead. `lr`: the rate this
    step used (a schedule's); by default the configuration's own.
    """
    spec = OPTIMIZERS[config.name]
    options = spec.resolved(config.options)
    rate = config.lr if lr is None else lr
    return spec.step_size(rate, options, states), spec.step_size_exact(options, states)


# Quantiles of a layer's step sizes are taken over at most this many of its
# elements: exact for smaller layers, and a sort of a million elements every few
# steps would cost more than the training step. The sample is a fixed random
# subset: a strided one would pick whole output units of a weight matrix, and
# step sizes differ systematically between units (a dead ReLU's are huge).
QUANTILE_SAMPLE = 1024
_SAMPLES: dict[tuple[int, str], torch.Tensor] = {}
# The measured step |dtheta| / |g| leaves out elements whose gradient is below this fraction of
# their layer's RMS gradient: 0/0 is undefined, and with momentum a step carried over from
# earlier gradients divided by a near-zero one is a huge ratio that says nothing about the rate.
MEASURED_GRADIENT_FLOOR = 1e-3
_CLOSED = slice(LAYER_METRICS.index(EFFECTIVE_LR), LAYER_METRICS.index(EFFECTIVE_LR) + 3)  # median, p10, p90
_MEASURED = slice(LAYER_METRICS.index(MEASURED_STEP), LAYER_METRICS.index(MEASURED_STEP) + 3)
_WEIGHT_DECAY = LAYER_METRICS.index("weight_decay_norm")


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
    lrs: list[float] | None = None,
) -> torch.Tensor:
    """(M, K, L) statistics, M = len(LAYER_METRICS), for K configurations and L layers.

    `lrs`: the learning rate each row stepped with (its schedule's at this step); by default
    each configuration's own lr.

    `before` holds the parameters copied just before the optimizers stepped.
    Everything stays on the device (no host sync) and is batched across the K
    configurations: per layer one norm kernel per statistic and one quantile call.
    Each configuration's step size is either its spec's closed form (effective_lr)
    or, where that is not exact, measured (measured_step); the other is NaN (no record).
    """
    num_layers, num_copies = len(params), len(configs)
    device = params[0].device
    sizes = [p[0].numel() for p in params]
    after = [p.detach() for p in params]
    delta = torch._foreach_sub(after, before)
    out = torch.full((len(LAYER_METRICS), num_copies, num_layers), float("nan"), device=device, dtype=params[0].dtype)
    out[0] = _row_norms(grads)
    out[1] = _row_norms(delta)
    out[2] = _row_norms(after)
    out[3] = out[1] / out[2].clamp_min(1e-30)
    old_norm = _row_norms(before)  # (K, L)

    lrs = [config.lr for config in configs] if lrs is None else lrs
    rules = [
        step_rules(config, [optimizer.state.get(row, {}) for row in optimizer.param_groups[0]["params"]], lr)
        for config, optimizer, lr in zip(configs, optimizers, lrs)
    ]
    rates = [rate for rate, _ in rules]
    exact = [is_exact for _, is_exact in rules]
    weight_decay = [config.option("weight_decay") for config in configs]  # every optimizer has the option
    decoupled = [OPTIMIZERS[config.name].decays_decoupled(config.options) for config in configs]
    scalar = [not isinstance(r, list) for r in rates]
    # Rates that are one number: the three quantiles are that number. The weight-decay
    # part is rate * wd * ||theta|| for them and lr * wd * ||theta|| when decoupled.
    fill = [r if s and e else float("nan") for r, s, e in zip(rates, scalar, exact)]
    out[_CLOSED] = torch.tensor(fill, device=device, dtype=out.dtype)[None, :, None]
    coefficient = [
        lr * wd if dec else (r * wd if s else 0.0)
        for lr, r, s, wd, dec in zip(lrs, rates, scalar, weight_decay, decoupled)
    ]
    out[_WEIGHT_DECAY] = torch.tensor(coefficient, device=device, dtype=out.dtype)[:, None] * old_norm
    adaptive = [k for k in range(num_copies) if not scalar[k]]
    # (K', P): each adaptive configuration's per-element step sizes, layers side by side.
    stacked = torch.stack([torch.cat([r.reshape(-1) for r in rates[k]]) for k in adaptive]) if adaptive else None
    closed = [k for k in adaptive if exact[k]]
    if stacked is not None and len(closed) < len(adaptive):
        stacked_closed = stacked[[j for j, k in enumerate(adaptive) if exact[k]]]
    else:
        stacked_closed = stacked
    measured = [k for k in range(num_copies) if not exact[k]]
    rows = closed + measured
    if rows:
        quantiles = torch.tensor(QUANTILES, device=device, dtype=out.dtype)
        quantile = torch.nanquantile if measured else torch.quantile
        if measured:
            index = torch.tensor(measured, device=device)
            # Gradients at or below the floor are left out (NaN) of the measured ratio: (K'', L).
            floor = MEASURED_GRADIENT_FLOOR * out[0, index] / torch.tensor(sizes, device=device, dtype=out.dtype).sqrt()
        start = 0
        for i, size in enumerate(sizes):
            sample = _sample_index(size, device) if size > QUANTILE_SAMPLE else None
            parts = []
            if closed:
                segment = stacked_closed[:, start : start + size]
                parts.append(segment if sample is None else segment[:, sample])
            if measured:
                change, grad = delta[i][index].reshape(len(measured), -1), grads[i][index].reshape(len(measured), -1)
                if sample is not None:
                    change, grad = change[:, sample], grad[:, sample]
                grad = grad.abs()
                parts.append((change.abs() / grad).masked_fill_(grad <= floor[:, i : i + 1], float("nan")))
            segment = parts[0] if len(parts) == 1 else torch.cat(parts)
            result = quantile(segment, quantiles, dim=1)[[1, 0, 2]]  # (3, K''): median, p10, p90
            if closed:
                out[_CLOSED, closed, i] = result[:, : len(closed)]
            if measured:
                out[_MEASURED, measured, i] = result[:, len(closed) :]
            start += size
    coupled = [j for j, k in enumerate(adaptive) if weight_decay[k] and not decoupled[k]]
    if coupled:
        # An L2 term passes through the adaptive step size: ||lr_eff * wd * theta||.
        ks = [adaptive[j] for j in coupled]
        product = stacked[coupled] * torch.cat([b.reshape(num_copies, -1) for b in before], 1)[ks]
        norms = _row_norms(torch.split(product, sizes, dim=1))  # (len(ks), L)
        out[_WEIGHT_DECAY, ks] = norms * torch.tensor([weight_decay[k] for k in ks], device=device)[:, None]
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
