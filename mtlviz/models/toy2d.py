"""The toy2d "model": K copies of a point x = (x1, x2), whose two task losses are closed-form.

There are no inputs and no heads: the point itself is the only parameter, and
both task losses (mtlviz/data/toy2d.py) depend on all of it, so it is shared.
The engine calls `losses()` where other models go through forward and the
task losses.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlviz.data.toy2d import toy2d_losses
from mtlviz.models.base import MultiTaskModel


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

    def losses(self) -> torch.Tensor:
        """The two task losses of every copy at its current point: (K, 2), float64."""
        return toy2d_losses(self.point)

    def forward(self, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Not used: the point has no inputs, and its losses come from `losses()`."""
        raise NotImplementedError("Toy2DModel takes no inputs: expected a call to losses(), found forward(x)")

    def shared_parameter_names(self) -> list[str]:
        return ["point"]

    def penalty(self) -> torch.Tensor:
        return torch.zeros(self.num_copies, dtype=torch.float64, device=self.point.device)
