"""Cross-stitch networks: one tower per task, mixed by learned units (Misra et al., CVPR 2016).

After every hidden layer a cross-stitch unit replaces each task's activation by
a linear combination of all tasks' activations, h'_t = sum_s alpha_{t,s} h_s,
with one (T, T) matrix alpha per layer. The paper also allows one alpha per
channel; one scalar matrix per layer is its simplest form and keeps the unit
readable (alpha_{t,s}: how much task t takes from task s). Alpha starts as the
paper's (alpha_S, alpha_D) = (0.9, 0.1) split, spread over the T - 1 other tasks,
so every row sums to 1 and training starts close to independent towers. The
paper scales the learning rate of alpha up; here every parameter of a
configuration shares its optimizer, so alpha learns at the configuration's rate.

With depth 0 there is no hidden layer and so no unit: each task is a linear
head on the input, exactly the independent strategy, and nothing is shared.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.base import MultiTaskModel, build_heads, hidden_sizes
from mtlviz.models.layers import StackedMLP

# alpha_S of the paper: the weight a task keeps on its own activation at initialisation.
SELF_WEIGHT = 0.9


def initial_alpha(num_tasks: int) -> torch.Tensor:
    """(T, T): SELF_WEIGHT on the diagonal, the rest of each row spread over the other tasks."""
    if num_tasks == 1:
        return torch.ones(1, 1)  # a lone task keeps its activation unchanged
    off = (1.0 - SELF_WEIGHT) / (num_tasks - 1)
    return torch.full((num_tasks, num_tasks), off).fill_diagonal_(SELF_WEIGHT)


class CrossStitch(MultiTaskModel):
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
        # The towers and heads draw from the generator as the independent strategy's do, so
        # for one seed both start from the same towers; alpha is deterministic.
        self.towers = StackedMLP((num_copies, len(tasks)), sizes, config.activation, generator)
        alpha = initial_alpha(len(tasks))
        self.cross_stitch = nn.ParameterList(
            nn.Parameter(alpha.expand(num_copies, *alpha.shape).clone()) for _ in range(config.depth)
        )  # one (K, T, T) unit per hidden layer
        self.heads = build_heads(num_copies, sizes[-1], tasks, generator)

    def shared_parameter_names(self) -> list[str]:
        # Each unit sends tower s's activation to every task, so all tower layers get
        # gradient from every task, and so does every unit that feeds a later layer.
        # The last unit is not shared: its row t feeds task t's head and nothing else.
        if not len(self.towers):
            return []
        towers = [f"towers.{name}" for name, _ in self.towers.named_parameters()]
        return towers + [f"cross_stitch.{i}" for i in range(len(self.cross_stitch) - 1)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not len(self.towers):  # depth 0: each head is a linear model of x
            return self.heads(x)
        h = x
        for layer, alpha in zip(self.towers, self.cross_stitch):
            h = self.towers.activation(layer(h))  # (K, T, B, hidden)
            # h'[k, t] = sum_s alpha[k, t, s] h[k, s]: one batched matmul over K.
            h = torch.matmul(alpha, h.flatten(2)).view(h.shape)
        return self.heads.forward_per_task(h)
