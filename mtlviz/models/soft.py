"""Soft parameter sharing: one network per task, coupled by a penalty.

Duong et al. (ACL 2015) tie corresponding layers of the task networks with an
L2 distance. `mean` couples every tower to the mean tower,
lambda * sum_t ||theta_t - mean_t theta||^2; `chain` couples neighbours,
lambda * sum_t ||theta_t - theta_{t+1}||^2. Heads are coupled too when all tasks
have the same output size (so a linear model, depth 0, is still coupled).
"""

from __future__ import annotations

import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models.independent import Independent


class SoftSharing(Independent):
    def __init__(
        self,
        config: ModelConfig,
        tasks: tuple[TaskSpec, ...],
        input_dim: int,
        num_copies: int,
        generator: torch.Generator,
        kind: str = "mean",
    ):
        super().__init__(config, tasks, input_dim, num_copies, generator)
        self.coupling = config.coupling
        self.kind = kind
        self.couple_heads = len({t.output_dim for t in tasks}) == 1

    def coupled_groups(self) -> list[torch.Tensor]:
        """Each tensor stacks corresponding parameters of all tasks: (K, T, ...)."""
        groups = [p for p in self.towers.parameters()]  # already (K, T, ...)
        if self.couple_heads:
            groups += [torch.stack([h.weight for h in self.heads], 1), torch.stack([h.bias for h in self.heads], 1)]
        return groups

    def penalty(self) -> torch.Tensor:
        total = super().penalty()
        for group in self.coupled_groups():
            if self.kind == "chain":
                diff = group[:, :-1] - group[:, 1:]
            else:
                diff = group - group.mean(1, keepdim=True)
            total = total + diff.pow(2).flatten(1).sum(1)
        return self.coupling * total
