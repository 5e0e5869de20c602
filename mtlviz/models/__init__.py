"""Sharing strategies: a registry by name; each builds a stacked MultiTaskModel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.base import MultiTaskModel
from mtlviz.models.cross_stitch import CrossStitch
from mtlviz.models.hard import HardSharing
from mtlviz.models.independent import Independent
from mtlviz.models.mmoe import MMoE
from mtlviz.models.soft import SoftSharing

SHARING_STRATEGIES: dict[str, Callable[..., MultiTaskModel]] = {
    "independent": Independent,
    "hard": HardSharing,
    "soft": partial(SoftSharing, kind="mean"),
    "soft_chain": partial(SoftSharing, kind="chain"),
    "cross_stitch": CrossStitch,
    "mmoe": MMoE,
}

SHARING_DESCRIPTIONS = {
    "independent": "One network per task; nothing shared (baseline).",
    "hard": "Shared trunk, one head per task.",
    "soft": "One network per task, pulled towards the mean network by an L2 penalty.",
    "soft_chain": "One network per task, each pulled towards the next by an L2 penalty.",
    "cross_stitch": "One network per task; after each hidden layer, learned units mix the tasks' activations.",
    "mmoe": "Shared expert networks; each task's softmax gate weighs them for its own head.",
}


def build_model(
    config: ModelConfig, tasks: tuple[TaskSpec, ...], input_dim: int, num_copies: int, seed: int
) -> MultiTaskModel:
    """K copies of the chosen strategy, all with the same initial weights for a given seed."""
    generator = torch.Generator().manual_seed(seed)
    return SHARING_STRATEGIES[config.sharing](config, tasks, input_dim, num_copies, generator)


__all__ = ["SHARING_DESCRIPTIONS", "SHARING_STRATEGIES", "MultiTaskModel", "build_model"]
