"""Stacked layers: one set of weights per configuration, run in one batched matmul.

A StackedLinear holds weights of shape (*stack, in, out) where stack[0] = K is the
configuration axis. Every configuration starts from the same weights: they are
drawn once for stack[1:] (so separate towers differ) and copied across K. With
K = 1 the layer is an ordinary linear layer, which the tests check against nn.Linear.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}


class StackedLinear(nn.Module):
    def __init__(self, stack: tuple[int, ...], in_features: int, out_features: int, generator: torch.Generator):
        super().__init__()
        self.stack = stack
        # nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        bound = 1.0 / math.sqrt(in_features)
        inner = stack[1:]
        weight = torch.rand(*inner, in_features, out_features, generator=generator) * 2 * bound - bound
        bias = torch.rand(*inner, 1, out_features, generator=generator) * 2 * bound - bound
        self.weight = nn.Parameter(weight.expand(stack[0], *weight.shape).clone())  # (*stack, in, out)
        self.bias = nn.Parameter(bias.expand(stack[0], *bias.shape).clone())  # (*stack, 1, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in) shared by every stack entry, (K, B, in) one input per configuration
        (e.g. seeds with their own batches), or (*stack, B, in). Returns (*stack, B, out)."""
        n = math.prod(self.stack)
        w = self.weight.reshape(n, *self.weight.shape[-2:])  # (n, in, out)
        b = self.bias.reshape(n, *self.bias.shape[-2:])  # (n, 1, out)
        if x.dim() == 2:
            x = x.expand(n, *x.shape)
        else:
            if x.dim() - 2 < len(self.stack):  # (K, B, in) into towers (K, T, ...): the same input per tower
                x = x.reshape(*x.shape[:-2], *[1] * (len(self.stack) + 2 - x.dim()), *x.shape[-2:])
                x = x.expand(*self.stack, *x.shape[-2:])
            x = x.reshape(n, *x.shape[-2:])  # (n, B, in)
        return torch.baddbmm(b, x, w).reshape(*self.stack, x.shape[-2], w.shape[-1])


class StackedMLP(nn.ModuleList):
    """Linear layers each followed by the activation (the hidden layers of a trunk or tower).

    A ModuleList, so parameters are named by plain paths: trunk.0.weight, towers.1.bias.
    """

    def __init__(self, stack: tuple[int, ...], sizes: list[int], activation: str, generator: torch.Generator):
        super().__init__(StackedLinear(stack, a, b, generator) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = self.activation(layer(x))
        return x


class StackedHeads(nn.ModuleList):
    """One linear head per task, all run as a single batched matmul.

    Each task keeps its own StackedLinear (parameters heads.<t>.weight, .bias),
    but the forward pass concatenates them: on a CPU, T narrow matmuls (a
    regression head is 1 wide) cost several times one matmul of all of them.
    """

    def __init__(self, num_copies: int, in_features: int, out_features: list[int], generator: torch.Generator):
        super().__init__(StackedLinear((num_copies,), in_features, size, generator) for size in out_features)
        self.sizes = list(out_features)

    def __getitem__(self, index):
        if isinstance(index, slice):  # ModuleList would call this class's constructor
            return nn.ModuleList(list(self)[index])
        return super().__getitem__(index)

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        """h: (B, in) or (K, B, in), the same input for every task. Returns T tensors (K, B, out_t)."""
        weight = torch.cat([head.weight for head in self], -1)  # (K, in, sum out)
        bias = torch.cat([head.bias for head in self], -1)  # (K, 1, sum out)
        x = h.expand(weight.shape[0], *h.shape) if h.dim() == 2 else h
        return list(torch.baddbmm(bias, x, weight).split(self.sizes, -1))

    def forward_per_task(self, z: torch.Tensor) -> list[torch.Tensor]:
        """z: (K, T, B, in), task t's own input in z[:, t]. Returns T tensors (K, B, out_t)."""
        k, t, b, _ = z.shape
        widest = max(self.sizes)
        # Pad every head to the widest so all T fit one batched matmul over K * T.
        weight = torch.stack([F.pad(head.weight, (0, widest - size)) for head, size in zip(self, self.sizes)], 1)
        bias = torch.stack([F.pad(head.bias, (0, widest - size)) for head, size in zip(self, self.sizes)], 1)
        out = torch.baddbmm(bias.flatten(0, 1), z.flatten(0, 1), weight.flatten(0, 1)).view(k, t, b, widest)
        return [out[:, i, :, :size] for i, size in enumerate(self.sizes)]
