"""Registry of sharing strategies by name: one spec each, holding all that is known about it.

A spec says what the strategy is called, what it does (one sentence for the
sidebar) and which class builds it; the class itself says which of its
parameters are shared (`shared_parameter_names`). Torch-free at import: the
config and the sidebar read the registry, and the class is imported only when
a model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SharingSpec:
    name: str  # registry key, lowercase (the config's model.sharing)
    title: str  # shown in menus
    description: str  # one sentence for the sidebar
    cls: str  # "module:Class" under mtlviz.models
    options: dict[str, Any] = field(default_factory=dict)  # passed to the class after the common arguments
    # ModelConfig fields this strategy reads besides hidden, depth and activation (the sidebar shows only these).
    uses: tuple[str, ...] = ()

    def model_class(self) -> type:
        module, name = self.cls.split(":")
        return getattr(importlib.import_module(f"mtlviz.models.{module}"), name)

    def build(self, config: Any, tasks: tuple, input_dim: int, num_copies: int, generator: Any) -> Any:
        """K stacked copies of this strategy's network (a MultiTaskModel)."""
        return self.model_class()(config, tasks, input_dim, num_copies, generator, **self.options)


SHARING: dict[str, SharingSpec] = {
    spec.name: spec
    for spec in [
        SharingSpec(
            "independent", "Independent", "One network per task; nothing shared (baseline).", "independent:Independent"
        ),
        SharingSpec("hard", "Hard sharing", "Shared trunk, one head per task.", "hard:HardSharing"),
        SharingSpec(
            "soft",
            "Soft sharing (mean)",
            "One network per task, pulled towards the mean network by an L2 penalty.",
            "soft:SoftSharing",
            {"kind": "mean"},
            uses=("coupling",),
        ),
        SharingSpec(
            "soft_chain",
            "Soft sharing (chain)",
            "One network per task, each pulled towards the next by an L2 penalty.",
            "soft:SoftSharing",
            {"kind": "chain"},
            uses=("coupling",),
        ),
        SharingSpec(
            "cross_stitch",
            "Cross-stitch",
            "One network per task; after each hidden layer, learned units mix the tasks' activations.",
            "cross_stitch:CrossStitch",
        ),
        SharingSpec(
            "mmoe",
            "MMoE (mixture of experts)",
            "Shared expert networks; each task's softmax gate weighs them for its own head.",
            "mmoe:MMoE",
            uses=("experts",),
        ),
    ]
}
