"""Per-task losses and validation metrics for K stacked configurations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mtlviz.config import TaskSpec


def task_loss(output: torch.Tensor, target: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    """Mean loss of one task for every configuration.

    output: (K, B, out) for one task; target: (B,) shared by every configuration,
    or (K, B) one per configuration (seeds with their own data). Returns (K,),
    already multiplied by the task's loss scale. MSE for regression,
    cross-entropy for classification.
    """
    if task.type == "regression":
        loss = (output.squeeze(-1) - target).pow(2).mean(-1)
    else:
        k, b, _ = output.shape
        # cross_entropy takes (N, C, d1): put the configuration axis last so the
        # shared targets broadcast without copying them K times.
        labels = target.long().unsqueeze(1).expand(b, k) if target.dim() == 1 else target.long().T  # (B, K)
        loss = F.cross_entropy(output.permute(1, 2, 0), labels, reduction="none")
        loss = loss.mean(0)
    return loss * task.loss_scale


def task_losses(outputs: list[torch.Tensor], targets: torch.Tensor, tasks: tuple[TaskSpec, ...]) -> torch.Tensor:
    """(K, T) losses; targets is (B, T), or (K, B, T) with one batch per configuration."""
    return torch.stack([task_loss(o, targets[..., t], task) for t, (o, task) in enumerate(zip(outputs, tasks))], 1)


def metric_name(task: TaskSpec) -> str:
    return "accuracy" if task.type == "classification" else "r2"


class MetricAccumulator:
    """Accumulates validation loss and metrics over chunks of the validation set.

    targets: (n, T) shared by every configuration, or (K, n, T) one validation set
    per configuration; scales: (T,) or (K, T), the target units for the RMSE.
    """

    def __init__(self, tasks: tuple[TaskSpec, ...], targets: torch.Tensor, scales: tuple[float, ...] | torch.Tensor):
        self.tasks = tasks
        self.scales = torch.as_tensor(scales, dtype=targets.dtype, device=targets.device)
        # Total sum of squares per task, for R^2 = 1 - SSE / SST.
        self.sst = (targets - targets.mean(-2, keepdim=True)).pow(2).sum(-2)  # (T,) or (K, T)
        self.count = 0
        self.loss_sum: torch.Tensor | None = None
        self.hit_or_sse: torch.Tensor | None = None

    def add(self, outputs: list[torch.Tensor], targets: torch.Tensor) -> None:
        n = targets.shape[-2]
        losses = task_losses(outputs, targets, self.tasks) * n  # (K, T)
        scores = []
        for t, (o, task) in enumerate(zip(outputs, self.tasks)):
            if task.type == "classification":
                scores.append((o.argmax(-1) == targets[..., t].long()).float().sum(-1))  # correct count, (K,)
            else:
                scores.append((o.squeeze(-1) - targets[..., t]).pow(2).sum(-1))  # SSE, (K,)
        scores = torch.stack(scores, 1)
        self.loss_sum = losses if self.loss_sum is None else self.loss_sum + losses
        self.hit_or_sse = scores if self.hit_or_sse is None else self.hit_or_sse + scores
        self.count += n

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(K, T) each: mean validation loss, metric (accuracy or R^2), and RMSE in the
        target's original units (NaN for classification tasks)."""
        loss = self.loss_sum / self.count
        metric = torch.empty_like(loss)
        rmse = torch.full_like(loss, float("nan"))
        for t, task in enumerate(self.tasks):
            if task.type == "classification":
                metric[:, t] = self.hit_or_sse[:, t] / self.count
            else:
                metric[:, t] = 1 - self.hit_or_sse[:, t] / self.sst[..., t].clamp_min(1e-12)
                rmse[:, t] = (self.hit_or_sse[:, t] / self.count).sqrt() * self.scales[..., t]
        return loss, metric, rmse
