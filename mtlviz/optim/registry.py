"""Registry of torch.optim optimizers by name, with the options each one accepts.

The spec is the single place that says which options an optimizer takes, their
defaults and their allowed ranges: the config validates against it, the UI draws
its widgets from it, and `build_optimizer` passes the options to torch verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class OptionSpec:
    """One optimizer option: kind is "float", "bool" or "betas" (a pair of floats)."""

    kind: str
    default: Any
    low: float = 0.0
    high: float = float("inf")
    high_inclusive: bool = True
    help: str = ""

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        close = "]" if self.high_inclusive else ")"
        rng = f"a number in [{self.low:g}, {self.high:g}{close}"
        return f"a pair [beta1, beta2], each {rng}" if self.kind == "betas" else rng


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    title: str
    cls: type[torch.optim.Optimizer]
    options: dict[str, OptionSpec] = field(default_factory=dict)
    # Adaptive optimizers keep a per-element second-moment estimate.
    adaptive: bool = False
    # torch.optim on CPU defaults to the slow for-loop path; these run the fused
    # kernel (one call for all tensors) where PyTorch has one, else foreach.
    fused: bool = False


_BETAS = OptionSpec("betas", (0.9, 0.999), 0.0, 1.0, False, "Decay rates of the first and second moment.")
_EPS = OptionSpec("float", 1e-8, 0.0, 1.0, True, "Added to the denominator for numerical stability.")
_WD = OptionSpec("float", 0.0, 0.0, 10.0, True, "Weight decay (L2 penalty added to the gradient).")
_DECOUPLED = OptionSpec("bool", False, help="Decoupled (AdamW-style) weight decay.")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in [
        OptimizerSpec(
            "sgd",
            "SGD",
            torch.optim.SGD,
            {
                "momentum": OptionSpec("float", 0.0, 0.0, 1.0, False, "Heavy-ball momentum."),
                "dampening": OptionSpec("float", 0.0, 0.0, 1.0, False, "Dampening for momentum."),
                "nesterov": OptionSpec("bool", False, help="Nesterov momentum (needs momentum > 0, dampening 0)."),
                "weight_decay": _WD,
            },
            fused=True,
        ),
        OptimizerSpec(
            "adam",
            "Adam",
            torch.optim.Adam,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": _WD,
                "amsgrad": OptionSpec("bool", False, help="Use the AMSGrad variant."),
            },
            adaptive=True,
            fused=True,
        ),
        OptimizerSpec(
            "adamw",
            "AdamW",
            torch.optim.AdamW,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": OptionSpec("float", 0.01, 0.0, 10.0, True, "Decoupled weight decay."),
                "amsgrad": OptionSpec("bool", False, help="Use the AMSGrad variant."),
            },
            adaptive=True,
            fused=True,
        ),
        OptimizerSpec(
            "rmsprop",
            "RMSprop",
            torch.optim.RMSprop,
            {
                "alpha": OptionSpec("float", 0.99, 0.0, 1.0, False, "Smoothing constant."),
                "eps": _EPS,
                "weight_decay": _WD,
                "momentum": OptionSpec("float", 0.0, 0.0, 1.0, False, "Momentum factor."),
                "centered": OptionSpec("bool", False, help="Normalise by the estimated variance."),
            },
            adaptive=True,
        ),
        OptimizerSpec(
            "adagrad",
            "Adagrad",
            torch.optim.Adagrad,
            {
                "lr_decay": OptionSpec("float", 0.0, 0.0, 1.0, True, "Learning-rate decay."),
                "weight_decay": _WD,
                "eps": OptionSpec("float", 1e-10, 0.0, 1.0, True, "Added to the denominator."),
                "initial_accumulator_value": OptionSpec("float", 0.0, 0.0, 10.0, True, "Start of the accumulator."),
            },
            adaptive=True,
            fused=True,
        ),
        OptimizerSpec(
            "nadam",
            "NAdam",
            torch.optim.NAdam,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": _WD,
                "momentum_decay": OptionSpec("float", 4e-3, 0.0, 1.0, True, "Momentum decay."),
                "decoupled_weight_decay": _DECOUPLED,
            },
            adaptive=True,
        ),
        OptimizerSpec(
            "radam",
            "RAdam",
            torch.optim.RAdam,
            {
                "betas": _BETAS,
                "eps": _EPS,
                "weight_decay": _WD,
                "decoupled_weight_decay": _DECOUPLED,
            },
            adaptive=True,
        ),
    ]
}


def build_optimizer(
    name: str, params: Iterable[torch.Tensor], lr: float, options: dict[str, Any] | None = None
) -> torch.optim.Optimizer:
    """A real torch.optim optimizer, on the fastest implementation PyTorch offers for it."""
    spec = OPTIMIZERS[name]
    kwargs = {key: opt.default for key, opt in spec.options.items()}
    kwargs.update(options or {})
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if spec.fused:
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = True
    return spec.cls(list(params), lr=lr, **kwargs)
