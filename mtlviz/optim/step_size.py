"""Per-element step size lr_eff of each optimizer, read from its own state.

lr_eff multiplies the (bias-corrected) first moment for Adam-family methods and
the gradient for RMSprop and Adagrad: lr / (sqrt(v_hat) + eps). A rule returns
one tensor per parameter, or a float where the rate is the same for every
element (SGD, RAdam before its rectification starts, no state yet). Each
optimizer spec (mtlviz/optim/registry.py) names its rule.

A rule is exact only where the step is that rate times the gradient or the first
moment. With momentum on SGD or RMSprop the step is lr times a running sum of past
gradients, and RAdam steps like SGD with momentum until its rectification starts:
the rule would report a flat lr that says nothing about the step taken. Each spec
also names the predicate (`always`, `without_momentum`, `radam_rectified`) that
says whether its rule is exact for given options and state; where it is not, the
engine measures the step per unit of gradient instead (mtlviz/engine/statistics.py).

torch is imported inside the functions: the registry that names these rules
is imported by the torch-free config.
"""

from __future__ import annotations

import math
from typing import Any


def _step(states: list[dict]) -> float:
    value = states[0]["step"]  # every parameter of a group steps together
    return float(value) if hasattr(value, "item") else value


def _ready(states: list[dict]) -> bool:
    return bool(states) and all(states)


def always(options: dict[str, Any], states: list[dict]) -> bool:
    """The rule is exact for every option and state (Adam, AdamW, NAdam, Adagrad)."""
    return True


def without_momentum(options: dict[str, Any], states: list[dict]) -> bool:
    """Exact without momentum (Nesterov needs momentum > 0, so it is covered)."""
    return options["momentum"] == 0


def radam_rectified(options: dict[str, Any], states: list[dict]) -> bool:
    """Whether RAdam's variance rectification has started (rho_t > 5); before, it steps like SGD with momentum."""
    if not _ready(states):
        return False
    beta2 = options["betas"][1]
    step = _step(states)
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * step * beta2**step / (1 - beta2**step) > 5


def constant(lr: float, options: dict[str, Any], states: list[dict]) -> float:
    """The step size is the learning rate itself (plain SGD's rule)."""
    return lr


def adam(lr: float, options: dict[str, Any], states: list[dict]) -> Any:
    """Adam, AdamW, NAdam: lr / (sqrt(v / (1 - beta2^t)) + eps), v the max of v with AMSGrad."""
    if not _ready(states):
        return lr
    step = _step(states)
    beta2 = options["betas"][1]
    amsgrad = options.get("amsgrad", False)
    second = [state["max_exp_avg_sq" if amsgrad else "exp_avg_sq"] for state in states]
    return reciprocal_root(second, 1 - beta2**step, options["eps"], lr)


def radam(lr: float, options: dict[str, Any], states: list[dict]) -> Any:
    """RAdam: lr * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps) once rectified, lr before."""
    if not _ready(states):
        return lr
    step = _step(states)
    beta2 = options["betas"][1]
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
    if not radam_rectified(options, states):
        return lr  # RAdam steps like SGD with momentum until the variance is tractable
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    second = [state["exp_avg_sq"] for state in states]
    return reciprocal_root(second, 1.0, options["eps"], lr * rect * math.sqrt(bias_correction2))


def rmsprop(lr: float, options: dict[str, Any], states: list[dict]) -> Any:
    """RMSprop: lr / (sqrt(v) + eps), v centred by the mean gradient when `centered`."""
    if not _ready(states):
        return lr
    import torch

    second = [state["square_avg"] for state in states]
    if options["centered"]:
        means = [s["grad_avg"] for s in states]
        second = torch._foreach_addcmul([v.clone() for v in second], means, means, value=-1)
    return reciprocal_root(second, 1.0, options["eps"], lr)


def adagrad(lr: float, options: dict[str, Any], states: list[dict]) -> Any:
    """Adagrad: lr / (1 + (t - 1) lr_decay) / (sqrt(sum g^2) + eps)."""
    if not _ready(states):
        return lr
    clr = lr / (1 + (_step(states) - 1) * options["lr_decay"])
    return reciprocal_root([state["sum"] for state in states], 1.0, options["eps"], clr)


def reciprocal_root(second: list[Any], divisor: float, eps: float, scale: float) -> list[Any]:
    """scale / (sqrt(v / divisor) + eps) for every tensor v, in a handful of foreach kernels."""
    import torch

    out = torch._foreach_div(second, divisor)
    torch._foreach_sqrt_(out)
    torch._foreach_add_(out, eps)
    torch._foreach_reciprocal_(out)
    torch._foreach_mul_(out, scale)
    return list(out)
