"""Each row's multi-task method, applied inside the batched step.

Rows (configuration x lr x method x seed) train side by side; the method of a
row decides how its task losses become its update (mtlviz/methods). The rows
are grouped once by (method, options); each group gets one method object from
its spec (`MethodSpec.build`), holding the group's own state, and every step
calls every group the same way (`mtlviz.methods.base.Method`) on the slices of
its rows. What a group needs from the engine comes from its spec:

- learns_weights: one extra (K, T) parameter, "method.weights", that each row's
  own optimizer trains; the group's rows start at its object's learned_start;
- per_task_gradients: one backward per task every step; the group may replace
  the summed gradients on the shared parameters (a combination) and the
  learned weights' gradient (GradNorm);
- adapts_weights: where no row's method does, the step is one multiply by the
  (K, T) weights, gathered once here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtlviz.config import MethodConfig, TaskSpec
from mtlviz.errors import TrainingError
from mtlviz.methods import METHODS, MethodContext, MethodSpec
from mtlviz.methods.base import Combined, Method

LEARNED = "method.weights"  # the name of the extra parameter, as layers are named


@dataclass(frozen=True)
class _Group:
    """The rows that share a method and its options, and the method object built for them."""

    spec: MethodSpec
    method: Method
    index: torch.Tensor | None  # (k,) the group's rows; None where it holds every row (no gather, no scatter)

    def rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """The group's rows of a (K, ...) tensor."""
        return tensor if self.index is None else tensor.index_select(0, self.index)


class TaskMethods:
    """The methods of an engine's rows: objectives, per-task gradients, learned weights."""

    def __init__(
        self,
        methods: list[MethodConfig],  # one per row
        tasks: tuple[TaskSpec, ...],
        device: torch.device,
        dtype: torch.dtype,
        window: int,
        seed: int,
        has_shared: bool,
    ):
        num_rows, num_tasks = len(methods), len(tasks)
        self.dtype = dtype
        members: dict[tuple, list[int]] = {}  # (name, options) -> rows, in order of first appearance
        for row, method in enumerate(methods):
            members.setdefault((method.name, tuple(sorted(method.options.items()))), []).append(row)
        specs = [METHODS[name] for name, _ in members]
        needs_shared = sorted({spec.name for spec in specs if spec.per_task_gradients})
        if needs_shared and not has_shared:
            raise TrainingError(
                f"{', '.join(needs_shared)} work on the gradients of shared parameters, and this sharing strategy "
                "has none; choose hard, cross_stitch or mmoe sharing"
            )
        self.per_task = bool(needs_shared)
        self.groups: list[_Group] = []
        for spec, ((_, options), rows) in zip(specs, members.items()):
            context = MethodContext(len(rows), tasks, device, dtype, window=max(1, window), seed=seed)
            index = None if len(rows) == num_rows else torch.tensor(rows, device=device)
            self.groups.append(_Group(spec, spec.build(dict(options), context), index))
        # Pieces computed group by group, concatenated, come back to row order through one gather.
        order = torch.tensor([row for rows in members.values() for row in rows], device=device)
        self._inverse = None if len(self.groups) == 1 else order.argsort()
        self._learning = [group for group in self.groups if group.spec.learns_weights]
        self._gradient = [group for group in self.groups if group.spec.per_task_gradients]
        self._learning_gradient = [group for group in self._gradient if group.spec.learns_weights]
        self.learned: torch.nn.Parameter | None = None
        if self._learning:
            start = torch.zeros(num_rows, num_tasks, device=device, dtype=dtype)
            for group in self._learning:
                start[slice(None) if group.index is None else group.index] = group.method.learned_start
            self.learned = torch.nn.Parameter(start)
        self._last_layer: tuple[int, int] | None = None  # GradNorm's slice of the flattened shared gradient
        self.last_weights = torch.full((num_rows, num_tasks), float("nan"), device=device, dtype=dtype)
        # Rows whose methods all keep fixed weights (the default) cost one multiply per step.
        self._fixed = None
        if not any(spec.adapts_weights for spec in specs):
            self._fixed = self._gather([group.method.weights for group in self.groups]).to(dtype)

    def _gather(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        """(K, ...) from one (k, ...) piece per group."""
        return pieces[0] if self._inverse is None else torch.cat(pieces).index_select(0, self._inverse)

    # ------------------------------------------------------------------ objectives

    def task_objectives(self, losses: torch.Tensor) -> torch.Tensor:
        """(K, T) the terms each row differentiates, summing to its objective (w_t L_t for a weighting)."""
        losses = losses.to(self.dtype)
        if self._fixed is not None:  # only fixed weights: one multiply, as before methods existed
            self.last_weights = self._fixed
            return losses * self._fixed
        terms, shown = [], []
        for group in self.groups:
            learned = group.rows(self.learned) if group.spec.learns_weights else None
            own_terms, own_weights = group.method.objectives(group.rows(losses), learned)
            terms.append(own_terms)
            shown.append(own_weights)
        self.last_weights = self._gather(shown).detach()  # a combination overwrites its rows' with its own
        return self._gather(terms)

    # ------------------------------------------------------------------ gradients

    def combine(
        self,
        total: list[torch.Tensor],
        task_grads: torch.Tensor,
        shared_index: list[int],
        losses: torch.Tensor,
    ) -> None:
        """Rewrite `total` (the summed gradients, in place) for the rows whose method needs it.

        task_grads: (K, T, P) every task's gradient on the shared parameters, flattened.
        """
        shared = [total[i] for i in shared_index]
        combined: list[tuple[_Group, Combined]] = []
        for group in self._gradient:
            result = group.method.combine(group.rows(task_grads))
            if result is not None:
                combined.append((group, result))
        if combined:
            flat = torch.cat([g.flatten(1) for g in shared], 1)  # (K, P)
            # The summed gradient minus the tasks' part is the penalty's: a combination keeps it.
            penalty = flat - task_grads.sum(1)
            direction = flat
            for group, result in combined:
                if group.index is None:
                    direction = result.direction + penalty
                else:
                    direction = direction.index_copy(0, group.index, result.direction + group.rows(penalty))
                if result.weights is None:
                    continue
                weights = result.weights.to(self.dtype)
                if group.index is None:
                    self.last_weights = weights
                else:
                    self.last_weights = self.last_weights.index_copy(0, group.index, weights)
            start = 0
            for g in shared:
                size = g[0].numel()
                g.copy_(direction[:, start : start + size].view_as(g))
                start += size
        if self._learning_gradient:
            self._learned_gradient(total[-1], task_grads, shared, losses.detach().to(self.dtype))

    def _learned_gradient(self, learned_grad, task_grads, shared, losses) -> None:
        """Let learning groups replace their rows' gradient of the learned weights (the engine's last parameter)."""
        if self._last_layer is None:
            # The last shared weight matrix (K, in, out): where GradNorm measures the gradient norms.
            start, self._last_layer = 0, (0, task_grads.shape[2])
            for g in shared:
                size = g[0].numel()
                if g.dim() >= 3:
                    self._last_layer = (start, start + size)
                start += size
        first, last = self._last_layer
        layer = task_grads[:, :, first:last]  # (K, T, n)
        learned = self.learned.detach()
        for group in self._learning_gradient:
            grad = group.method.learned_gradient(group.rows(learned), group.rows(layer), group.rows(losses))
            if grad is None:
                continue
            if group.index is None:
                learned_grad.copy_(grad)
            else:
                learned_grad.index_copy_(0, group.index, grad)

    @torch.no_grad()
    def after_step(self) -> None:
        """Let each learning group reset its learned weights (GradNorm keeps them summing to T)."""
        for group in self._learning:
            new = group.method.after_step(group.rows(self.learned))
            if new is None:
                continue
            if group.index is None:
                self.learned.copy_(new)
            else:
                self.learned.index_copy_(0, group.index, new)
