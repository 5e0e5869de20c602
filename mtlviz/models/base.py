"""The narrow interface every sharing strategy implements."""

from __future__ import annotations

import torch
from torch import nn

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.layers import StackedHeads


class MultiTaskModel(nn.Module):
    """K stacked copies of a multi-task network.

    forward(x) returns one output per task, each (K, B, output_dim). Parameters
    carry the configuration axis first, so row k of every parameter is
    configuration k's network.
    """

    num_copies: int
    # Coordinates of a point each copy moves through, recorded every step as its
    # path (the layer names of `position` records); () for a network.
    trajectory_names: tuple[str, ...] = ()

    def closed_form_losses(self) -> torch.Tensor | None:
        """(K, T) task losses of a model whose objective is a formula of its own parameters
        (no data, no forward pass); None for a network trained on data."""
        return None

    def trajectory(self) -> torch.Tensor | None:
        """(K, len(trajectory_names)) where each copy is now; None for a network."""
        return None

    def shared_parameter_names(self) -> list[str]:
        """Names of parameters that receive gradient from more than one task."""
        return []

    def penalty(self) -> torch.Tensor:
        """Regularisation added to each copy's objective, shape (K,)."""
        return torch.zeros(self.num_copies, device=next(self.parameters()).device)


def build_heads(
    num_copies: int, in_features: int, tasks: tuple[TaskSpec, ...], generator: torch.Generator
) -> StackedHeads:
    return StackedHeads(num_copies, in_features, [t.output_dim for t in tasks], generator)


def hidden_sizes(config: ModelConfig, input_dim: int) -> list[int]:
    return [input_dim] + [config.hidden] * config.depth
