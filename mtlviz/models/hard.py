"""Hard parameter sharing: a shared trunk and one head per task (Caruana, 1997)."""

from __future__ import annotations

import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.base import MultiTaskModel, build_heads, hidden_sizes
from mtlviz.models.layers import StackedMLP


class HardSharing(MultiTaskModel):
    def __init__(
        self,
        config: ModelConfig,
        tasks: tuple[TaskSpec, ...],
        input_dim: int,
        num_copies: int,
        generator: torch.Generator,
    ):
        super().__init__()
        self.num_copies = num_copies
        sizes = hidden_sizes(config, input_dim)
        self.trunk = StackedMLP((num_copies,), sizes, config.activation, generator)
        self.heads = build_heads(num_copies, sizes[-1], tasks, generator)

    def shared_parameter_names(self) -> list[str]:
        return [f"trunk.{name}" for name, _ in self.trunk.named_parameters()]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.trunk(x) if len(self.trunk) else x  # (K, B, hidden), or x for a linear model
        return self.heads(h)
