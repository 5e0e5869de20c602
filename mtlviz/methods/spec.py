"""MethodSpec: everything known about one multi-task method, and the builder of its method object.

Torch-free, so the config, the sidebar and the charts read the specs without
loading torch: a spec names its method object by import path ("module:Class"),
which `build` imports only when the engine asks for one.

Two kinds of method: a "weighting" sets per-task weights w (k, T) and its rows
minimise sum_t w_t L_t; a "combination" replaces the summed task gradients on
the shared parameters by a direction built from the per-task gradients. The
engine groups its rows by (spec, options) once, builds one method object per
group (the interface is `mtlviz.methods.base.Method`) and then calls every
group the same way; it never asks which method a group is.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mtlviz.options import OptionSpec

if TYPE_CHECKING:
    import torch

    from mtlviz.config import TaskSpec
    from mtlviz.methods.base import Method

KINDS = ("weighting", "combination")


@dataclass(frozen=True)
class MethodContext:
    """What a method object is told about its group of rows when it is built."""

    rows: int  # k, the rows of the group; every tensor it is given has them as its leading axis
    tasks: tuple[TaskSpec, ...]  # the T tasks (weight field, type), in the order of the loss columns
    device: torch.device
    dtype: torch.dtype  # the model's: losses, weights and gradients come in it
    window: int  # steps per loss window, an epoch of batches (DWA's averaging period), at least 1
    seed: int  # the run's seed, for a method that draws random numbers (PCGrad's task orders)


@dataclass(frozen=True)
class MethodSpec:
    """One multi-task method: what the UI shows, its options, what it needs from the engine, its builder."""

    name: str  # registry key, lowercase
    title: str  # shown in the UI
    kind: str  # "weighting" or "combination"
    paper: str  # authors and venue of the paper the method comes from; "baseline (no paper)" for the baselines
    builder: str  # "module:attribute" of the method object's class (or factory), called as (options, context)
    options: dict[str, OptionSpec] = field(default_factory=dict)
    help: str = ""  # one sentence for the UI
    # Extra parameters (k, T) trained with the row's optimizer, handed to the method object on every call.
    learns_weights: bool = False
    # Needs one backward per task every step (not only every conflict_every steps).
    per_task_gradients: bool = False
    # Whether the task weights change during training. False promises that the method object's
    # `weights` (k, T) are its whole behaviour: rows that all use such methods cost one multiply per step.
    adapts_weights: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name!r}: kind: expected one of {', '.join(KINDS)}, found {self.kind!r}")
        module, _, attribute = self.builder.partition(":")
        if not module or not attribute:
            raise ValueError(f"method {self.name!r}: builder: expected 'module:attribute', found {self.builder!r}")
        if (self.learns_weights or self.kind == "combination") and not self.adapts_weights:
            raise ValueError(f"method {self.name!r}: learned weights and combinations adapt their weights")
        if self.kind == "combination" and not self.per_task_gradients:
            raise ValueError(f"method {self.name!r}: a combination needs per-task gradients")

    def build(self, options: Mapping[str, Any], context: MethodContext) -> Method:
        """The method object for one group of rows; options missing from `options` take their defaults."""
        module, _, attribute = self.builder.partition(":")
        factory = getattr(importlib.import_module(module), attribute)  # imports torch on the first build
        values = {key: options.get(key, option.default) for key, option in self.options.items()}
        return factory(values, context)
