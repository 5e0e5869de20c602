"""TaskSet: the tensors of a multi-task problem, split into training, validation and (optionally) test."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtlviz.config import TaskSpec


@dataclass(frozen=True)
class TaskSet:
    """Inputs shared by all tasks and one target column per task.

    Targets are stored as float32 in one (n, T) matrix; a classification task's
    column holds class indices 0..K-1 (cast to long by the loss).
    """

    tasks: tuple[TaskSpec, ...]
    x_train: torch.Tensor  # (n_train, d)
    y_train: torch.Tensor  # (n_train, T)
    x_val: torch.Tensor  # (n_val, d)
    y_val: torch.Tensor  # (n_val, T)
    # Per task, the standard deviation a standardised regression target was divided
    # by, so errors can be reported in the original units (1 where not rescaled).
    target_scales: tuple[float, ...] | None = None
    # The test split (None: none): read once, after training, by the final report only.
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @property
    def scales(self) -> tuple[float, ...]:
        return self.target_scales or (1.0,) * len(self.tasks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    def to(self, device: torch.device | str) -> TaskSet:
        return TaskSet(
            self.tasks,
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_val.to(device),
            self.y_val.to(device),
            self.target_scales,
            None if self.x_test is None else self.x_test.to(device),
            None if self.y_test is None else self.y_test.to(device),
        )
