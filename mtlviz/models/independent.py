"""Independent: one network per task, nothing shared (the no-sharing baseline)."""

from __future__ import annotations

import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.base import MultiTaskModel, build_heads, hidden_sizes
from mtlviz.models.layers import StackedMLP


class Independent(MultiTaskModel):
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
        # All T towers of all K copies run in one batched matmul per layer.
        self.towers = StackedMLP((num_copies, len(tasks)), sizes, config.activation, generator)
        self.heads = build_heads(num_copies, sizes[-1], tasks, generator)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not len(self.towers):  # depth 0: each head is a linear model of x
            return self.heads(x)
        return self.heads.forward_per_task(self.towers(x))  # towers: (K, T, B, hidden)
