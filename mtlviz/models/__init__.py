"""Sharing strategies: a torch-free registry of specs (`SHARING`), each building a stacked MultiTaskModel.

`build_model` and `MultiTaskModel` load torch; they are imported on first use,
so `from mtlviz.models import SHARING` stays torch-free.
"""

from __future__ import annotations

from typing import Any

from mtlviz.models.registry import SHARING, SharingSpec


def build_model(config: Any, tasks: tuple, input_dim: int, num_copies: int, seed: int) -> Any:
    """K copies of the chosen strategy, all with the same initial weights for a given seed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return SHARING[config.sharing].build(config, tasks, input_dim, num_copies, generator)


def __getattr__(name: str) -> Any:
    if name == "MultiTaskModel":
        from mtlviz.models.base import MultiTaskModel

        return MultiTaskModel
    raise AttributeError(f"module 'mtlviz.models' has no attribute {name!r}")


__all__ = ["SHARING", "MultiTaskModel", "SharingSpec", "build_model"]
