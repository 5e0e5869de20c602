"""The toy2d "model": K copies of a point x = (x1, x2), whose two task losses are closed-form.

There are no inputs and no heads: the point itself is the only parameter, and
both task losses (mtlviz/data/toy2d.py) depend on all of it, so it is shared.
The engine takes `closed_form_losses()` where other models go through forward
and the task losses, and records `trajectory()` (the point) every step.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlviz.data.toy2d import COORDINATES, FLOOR
from mtlviz.models.base import MultiTaskModel


def toy2d_losses(x: torch.Tensor) -> torch.Tensor:
    """(L1, L2) at points x of shape (..., 2): a tensor of shape (..., 2), float64, differentiable.

    Computed in float64 whatever x's dtype; autograd passes through max and abs
    (the gradient is zero on the 5e-6 floor, as in the papers' code).
    """
    if x.shape[-1:] != (2,):
        raise ValueError(f"expected points of shape (..., 2), found shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    x1, x2 = x[..., 0], x[..., 1]
    t = torch.tanh(-x2)
    f1 = torch.clamp((0.5 * (-x1 - 7) - t).abs(), min=FLOOR).log() + 6
    f2 = torch.clamp((0.5 * (-x1 + 3) + t + 2).abs(), min=FLOOR).log() + 6
    height = 0.1 * (-x2 - 8) ** 2  # the bowls' shared x2 term
    g1 = ((-x1 + 7) ** 2 + height) / 10 - 20
    g2 = ((-x1 - 7) ** 2 + height) / 10 - 20
    c1 = torch.clamp(torch.tanh(x2 / 2), min=0)
    c2 = torch.clamp(torch.tanh(-x2 / 2), min=0)
    return torch.stack([c1 * f1 + c2 * g1, c1 * f2 + c2 * g2], dim=-1)


class Toy2DModel(MultiTaskModel):
    def __init__(self, start: tuple[float, float], num_copies: int):
        super().__init__()
        if len(start) != 2:
            raise ValueError(f"expected a start point (x1, x2), found {start!r}")
        if num_copies < 1:
            raise ValueError(f"expected at least one copy, found num_copies={num_copies}")
        self.num_copies = num_copies
        # float64, as the problem is defined: its log-valleys narrow to 2e-5 in x1 at their floor.
        start_row = torch.tensor([float(start[0]), float(start[1])], dtype=torch.float64)
        self.point = nn.Parameter(start_row.repeat(num_copies, 1))  # (K, 2)

    trajectory_names = COORDINATES

    def closed_form_losses(self) -> torch.Tensor:
        """The two task losses of every copy at its current point: (K, 2), float64."""
        return toy2d_losses(self.point)

    def trajectory(self) -> torch.Tensor:
        return self.point.detach().clone()  # (K, 2)

    def forward(self, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Not used: the point has no inputs, and its losses come from `closed_form_losses()`."""
        raise NotImplementedError(
            "Toy2DModel takes no inputs: expected a call to closed_form_losses(), found forward(x)"
        )

    def shared_parameter_names(self) -> list[str]:
        return ["point"]

    def penalty(self) -> torch.Tensor:
        return torch.zeros(self.num_copies, dtype=torch.float64, device=self.point.device)
