"""Multi-gate mixture of experts, MMoE (Ma et al., KDD 2018).

`experts` expert networks read the input; each task has its own softmax gate,
a linear map from the input to one logit per expert, and its head reads the
gate-weighted sum of the experts' outputs: f_t(x) = sum_e softmax(G_t x)_e e_e(x).
The experts are shared (every task's head reads them); each gate serves one task.

Experts have `depth` hidden layers of width `hidden`. With depth 0 each expert is
a single linear layer without activation (input to `hidden`), so the model is a
gated mixture of linear experts (Jacobs et al., 1991) rather than experts that
are all the identity, whose mixture would ignore the gates.
"""

from __future__ import annotations

import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.base import MultiTaskModel, build_heads
from mtlviz.models.layers import StackedLinear, StackedMLP


class MMoE(MultiTaskModel):
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
        self.linear_experts = config.depth == 0
        sizes = [input_dim] + [config.hidden] * max(config.depth, 1)
        # All E experts of all K copies run in one batched matmul per layer, as do the T gates.
        self.experts = StackedMLP((num_copies, config.experts), sizes, config.activation, generator)
        self.gates = StackedLinear((num_copies, len(tasks)), input_dim, config.experts, generator)
        self.heads = build_heads(num_copies, config.hidden, tasks, generator)

    def shared_parameter_names(self) -> list[str]:
        return [f"experts.{name}" for name, _ in self.experts.named_parameters()]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.linear_experts:
            experts = self.experts[0](x)  # (K, E, B, hidden), no activation
        else:
            experts = self.experts(x)  # (K, E, B, hidden)
        gates = self.gates(x).softmax(-1)  # (K, T, B, E)
        # Task t's input: sum_e gates[k, t, b, e] * experts[k, e, b]; a batched matmul over (K, B).
        mixed = torch.einsum("ktbe,kebh->ktbh", gates, experts)  # (K, T, B, hidden)
        return self.heads.forward_per_task(mixed)
