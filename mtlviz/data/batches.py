"""Mini-batch order: epochs of a seeded shuffle, the same for every configuration."""

from __future__ import annotations

import torch


class BatchSampler:
    """Yields index tensors of `batch_size` rows; reshuffles when an epoch runs out.

    The last incomplete batch of an epoch is skipped so every step sees a full batch.
    """

    def __init__(self, num_rows: int, batch_size: int, seed: int, device: torch.device | str = "cpu"):
        self.num_rows = num_rows
        self.batch_size = min(batch_size, num_rows)
        self.device = device
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0

    def next(self) -> torch.Tensor:
        if self._cursor + self.batch_size > self._order.numel():
            # Shuffled on the CPU generator so the order is the same on every device.
            self._order = torch.randperm(self.num_rows, generator=self._generator).to(self.device)
            self._cursor = 0
        index = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return index
