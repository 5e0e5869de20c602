"""Registry of torch.optim optimizers by name: each spec holds everything known about one.

A spec is the single place that says which options an optimizer takes (their
defaults and allowed ranges), the learning rate a new configuration starts
from, how to read its per-element step size from its state, whether its
weight decay is decoupled, and how to build it. The config validates against
it, the sidebar draws its widgets and defaults from it, the engine builds and
measures it; nobody else names an optimizer.

Torch-free at import: torch is loaded only when an optimizer is built, so the
config and the dashboard's forms import this without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mtlviz.optim import step_size
from mtlviz.options import OptionSpec

# (lr, options with defaults filled in, per-parameter optimizer states) -> step sizes
StepSizeRule = Callable[[float, dict[str, Any], list[dict]], Any]
# (options with defaults filled in, per-parameter optimizer states) -> whether the rule is exact
ExactRule = Callable[[dict[str, Any], list[dict]], bool]
_ALWAYS_EXACT = step_size.always  # the field `step_size` below hides the module inside the class body


@dataclass(frozen=True)
class OptimizerSpec:
    name: str  # registry key, lowercase
    title: str  # shown in legends and menus
    torch_class: str  # the class's name in torch.optim
    default_lr: float  # where a new configuration of this optimizer starts
    options: dict[str, OptionSpec] = field(default_factory=dict)
    # Per-element step size lr_eff, read from the optimizer's own state (mtlviz/optim/step_size.py).
    step_size: StepSizeRule = step_size.constant
    # Whether that rule is the step actually taken per unit of gradient (or of first moment)
    # for these options and state; where not (momentum), the engine measures |Δθ| / |g| instead.
    step_size_exact: ExactRule = _ALWAYS_EXACT
    # True: weight decay is decoupled (AdamW); an option's name: decoupled when that option is on.
    decoupled_decay: bool | str = False
    # torch.optim on CPU defaults to the slow for-loop path; these run the fused
    # kernel (one call for all tensors) where PyTorch has one, else foreach.
    fused: bool = False
    # Checks across options that one option's bounds cannot express: options -> (option, message) or None.
    check: Callable[[dict[str, Any]], tuple[str, str] | None] | None = None
    # Tensors of state it keeps per parameter tensor (Adam: exp_avg, exp_avg_sq), from the resolved
    # options: what mtlviz/budget.py counts as optimizer memory before anything is built.
    state_slots: Callable[[dict[str, Any]], int] = lambda options: 2

    @property
    def cls(self) -> type:
        import torch

        return getattr(torch.optim, self.torch_class)

    def resolved(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every option's value: the given ones, PyTorch's defaults for the rest."""
        values = {key: opt.default for key, opt in self.options.items()}
        values.update(options or {})
        return values

    def decays_decoupled(self, options: dict[str, Any] | None = None) -> bool:
        if isinstance(self.decoupled_decay, str):
            return bool(self.resolved(options)[self.decoupled_decay])
        return self.decoupled_decay

    def build(self, params: Iterable[Any], lr: float, options: dict[str, Any] | None = None) -> Any:
        """A real torch.optim optimizer, on the fastest implementation PyTorch offers for it."""
        kwargs = self.resolved(options)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        kwargs["fused" if self.fused else "foreach"] = True
        return self.cls(list(params), lr=lr, **kwargs)


def _nesterov(options: dict[str, Any]) -> tuple[str, str] | None:
    momentum, dampening = options["momentum"], options["dampening"]
    if options["nesterov"] and (momentum <= 0 or dampening != 0):
        return (
            "nesterov",
            "Nesterov momentum needs momentum > 0 and dampening 0; "
            f"found momentum {momentum:g}, dampening {dampening:g}",
        )
    return None


_BETAS = OptionSpec("betas", (0.9, 0.999), 0.0, 1.0, False, "Decay rates of the first and second moment.")
_EPS = OptionSpec("float", 1e-8, 0.0, 1.0, True, "Added to the denominator for numerical stability.")
_WD = OptionSpec("float", 0.0, 0.0, 10.0, True, "Weight decay (L2 penalty added to the gradient).")
_DECOUPLED = OptionSpec("bool", False, help="Decoupled (AdamW-style) weight decay.")
_AMSGRAD = OptionSpec("bool", False, help="Use the AMSGrad variant.")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in [
        OptimizerSpec(
            "sgd",
            "SGD",
            "SGD",
            0.05,
            {
                "momentum": OptionSpec("float", 0.0, 0.0, 1.0, False, "Heavy-ball momentum."),
                "dampening": OptionSpec("float", 0.0, 0.0, 1.0, False, "Dampening for momentum."),
                "nesterov": OptionSpec("bool", False, help="Nesterov momentum (needs momentum > 0, dampening 0)."),
                "weight_decay": _WD,
            },
            step_size_exact=step_size.without_momentum,
            fused=True,
            check=_nesterov,
            state_slots=lambda o: int(o["momentum"] > 0),  # momentum_buffer
        ),
        OptimizerSpec(
            "adam",
            "Adam",
            "Adam",
            1e-3,
            {"betas": _BETAS, "eps": _EPS, "weight_decay": _WD, "amsgrad": _AMSGRAD},
            step_size=step_size.adam,
            fused=True,
            state_slots=lambda o: 2 + bool(o["amsgrad"]),  # exp_avg, exp_avg_sq (+ max_exp_avg_sq)
        ),
        OptimizerSpec(
            "adamw",
            "AdamW",
            "AdamW",
            1e-3,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": OptionSpec("float", 0.01, 0.0, 10.0, True, "Decoupled weight decay."),
                "amsgrad": _AMSGRAD,
            },
            step_size=step_size.adam,
            decoupled_decay=True,
            fused=True,
            state_slots=lambda o: 2 + bool(o["amsgrad"]),
        ),
        OptimizerSpec(
            "rmsprop",
            "RMSprop",
            "RMSprop",
            1e-3,
            {
                "alpha": OptionSpec("float", 0.99, 0.0, 1.0, False, "Smoothing constant."),
                "eps": _EPS,
                "weight_decay": _WD,
                "momentum": OptionSpec("float", 0.0, 0.0, 1.0, False, "Momentum factor."),
                "centered": OptionSpec("bool", False, help="Normalise by the estimated variance."),
            },
            step_size=step_size.rmsprop,
            step_size_exact=step_size.without_momentum,
            # square_avg, momentum_buffer, grad_avg
            state_slots=lambda o: 1 + (o["momentum"] > 0) + bool(o["centered"]),
        ),
        OptimizerSpec(
            "adagrad",
            "Adagrad",
            "Adagrad",
            0.05,
            {
                "lr_decay": OptionSpec("float", 0.0, 0.0, 1.0, True, "Learning-rate decay."),
                "weight_decay": _WD,
                "eps": OptionSpec("float", 1e-10, 0.0, 1.0, True, "Added to the denominator."),
                "initial_accumulator_value": OptionSpec("float", 0.0, 0.0, 10.0, True, "Start of the accumulator."),
            },
            step_size=step_size.adagrad,
            fused=True,
            state_slots=lambda o: 1,  # sum
        ),
        OptimizerSpec(
            "nadam",
            "NAdam",
            "NAdam",
            2e-3,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": _WD,
                "momentum_decay": OptionSpec("float", 4e-3, 0.0, 1.0, True, "Momentum decay."),
                "decoupled_weight_decay": _DECOUPLED,
            },
            step_size=step_size.adam,
            decoupled_decay="decoupled_weight_decay",
        ),
        OptimizerSpec(
            "radam",
            "RAdam",
            "RAdam",
            1e-3,
            {"betas": _BETAS, "eps": _EPS, "weight_decay": _WD, "decoupled_weight_decay": _DECOUPLED},
            step_size=step_size.radam,
            step_size_exact=step_size.radam_rectified,
            decoupled_decay="decoupled_weight_decay",
        ),
    ]
}


def build_optimizer(name: str, params: Iterable[Any], lr: float, options: dict[str, Any] | None = None) -> Any:
    """OPTIMIZERS[name].build(...): a real torch.optim optimizer."""
    return OPTIMIZERS[name].build(params, lr, options)
