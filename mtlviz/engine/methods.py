"""Each row's multi-task method, applied inside the batched step.

Rows (configuration x lr x method x seed) train side by side; the method of a
row decides how its task losses become its update (mtlviz/methods):

- weightings give per-task weights w (K, T) and the row minimises sum_t w_t L_t:
  equal, static (each task's weight field), dwa (from the loss history);
  uncertainty and gradnorm learn theirs, in one extra (K, T) parameter,
  "method.weights", that the row's own optimizer trains (log-variances s for
  uncertainty, starting at 0; weights w for gradnorm, starting at 1);
- combinations (pcgrad, mgda, cagrad) replace the summed task gradients on the
  shared parameters by their own direction, from one backward per task.

Everything is batched over rows: a method's rows are selected by a mask, never
by a Python loop over rows.
"""

from __future__ import annotations

import torch

from mtlviz.config import MethodConfig, TaskSpec
from mtlviz.errors import TrainingError
from mtlviz.methods import (
    METHODS,
    cagrad,
    dwa_weights,
    gradnorm_loss,
    gradnorm_renormalise,
    mgda,
    pcgrad,
    uncertainty_terms,
)

LEARNED = "method.weights"  # the name of the extra parameter, as layers are named


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
        self.methods = methods
        self.names = [m.name for m in methods]
        self.num_tasks = len(tasks)
        k = len(methods)
        needs_shared = sorted({n for n in self.names if METHODS[n].per_task_gradients})
        if needs_shared and not has_shared:
            raise TrainingError(
                f"{', '.join(needs_shared)} work on the gradients of shared parameters, and this sharing strategy "
                "has none; choose hard, cross_stitch or mmoe sharing"
            )
        self.per_task = bool(needs_shared)
        self.static = torch.tensor([t.weight for t in tasks], device=device, dtype=dtype)  # (T,)
        self.classification = [t.type == "classification" for t in tasks]
        self.device, self.dtype = device, dtype
        self.mask = {name: torch.tensor([n == name for n in self.names], device=device) for name in set(self.names)}
        self.learned: torch.nn.Parameter | None = None
        if "uncertainty" in self.names or "gradnorm" in self.names:
            start = torch.where(self.mask.get("gradnorm", torch.zeros(k, dtype=torch.bool, device=device)), 1.0, 0.0)
            self.learned = torch.nn.Parameter(start[:, None].expand(k, self.num_tasks).to(dtype).clone())
        # DWA: mean task losses over windows of `window` steps (an epoch of batches).
        self.window = max(1, window)
        self._window_sum = torch.zeros(k, self.num_tasks, device=device, dtype=dtype)
        self._window_steps = 0
        self._history: list[torch.Tensor] = []
        self._initial: torch.Tensor | None = None  # GradNorm's L(0)
        self._generator = torch.Generator().manual_seed(seed)  # PCGrad's task order
        self.last_weights = torch.full((k, self.num_tasks), float("nan"), device=device, dtype=dtype)
        # Rows that all use fixed weights (the default) skip the per-method masks on every step.
        self._fixed: torch.Tensor | None = None
        if set(self.names) <= {"static", "equal"}:
            equal = torch.tensor([n == "equal" for n in self.names], device=device)[:, None]
            self._fixed = torch.where(equal, 1.0, self.static.expand(k, self.num_tasks)).to(dtype)

    def _rows_option(self, name: str, key: str) -> torch.Tensor:
        """(K, 1) the option's value on the rows of method `name`."""
        values = [m.option(key) if m.name == name else 0.0 for m in self.methods]
        return torch.tensor(values, device=self.device, dtype=self.dtype)[:, None]

    # ------------------------------------------------------------------ objectives

    def task_objectives(self, losses: torch.Tensor) -> torch.Tensor:
        """(K, T) the terms each row differentiates: w_t L_t (plus s_t / 2 for uncertainty)."""
        losses = losses.to(self.dtype)
        if self._fixed is not None:  # only static or equal weights: one multiply, as before methods existed
            self.last_weights = self._fixed
            return losses * self._fixed
        if self._initial is None:
            self._initial = losses.detach().clone()
        weights = torch.ones_like(losses)  # equal
        weights = torch.where(self._is(("static", "pcgrad", "mgda", "cagrad")), self.static, weights)
        if "dwa" in self.mask:
            previous = self._history[-1] if self._history else losses.detach()
            before = self._history[-2] if len(self._history) > 1 else None
            # Each DWA row's own temperature: dwa_weights takes one, so group by value.
            for temperature in {m.option("temperature") for m in self.methods if m.name == "dwa"}:
                rows = self.mask["dwa"] & (self._rows_option("dwa", "temperature")[:, 0] == temperature)
                weights = torch.where(rows[:, None], dwa_weights(previous, before, temperature), weights)
        if "gradnorm" in self.mask:
            weights = torch.where(self.mask["gradnorm"][:, None], self.learned.detach(), weights)
        terms = weights * losses
        shown = weights
        if "uncertainty" in self.mask:
            own, factors = uncertainty_terms(losses, self.learned, self.classification)
            terms = torch.where(self.mask["uncertainty"][:, None], own, terms)
            shown = torch.where(self.mask["uncertainty"][:, None], factors, shown)
        self.last_weights = shown.detach()  # a combination overwrites its rows' with its own
        self._remember(losses.detach())
        return terms

    def _is(self, names: tuple[str, ...]) -> torch.Tensor:
        """(K, 1) whether each row's method is one of `names`."""
        hit = torch.zeros(len(self.names), dtype=torch.bool, device=self.device)
        for name in names:
            if name in self.mask:
                hit = hit | self.mask[name]
        return hit[:, None]

    def _remember(self, losses: torch.Tensor) -> None:
        if "dwa" not in self.mask:
            return
        self._window_sum += losses
        self._window_steps += 1
        if self._window_steps == self.window:
            self._history = [*self._history[-1:], self._window_sum / self.window]
            self._window_sum = torch.zeros_like(self._window_sum)
            self._window_steps = 0

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
        flat = torch.cat([g.flatten(1) for g in shared], 1)  # (K, P)
        # The summed gradient minus the tasks' part is the penalty's: a combination keeps it.
        penalty = flat - task_grads.sum(1)
        direction = flat
        for name in ("pcgrad", "mgda", "cagrad"):
            if name not in self.mask:
                continue
            values = [None] if name != "cagrad" else sorted({m.option("c") for m in self.methods if m.name == name})
            for c in values:
                rows = self.mask[name] if c is None else self.mask[name] & (self._rows_option(name, "c")[:, 0] == c)
                index = rows.nonzero().squeeze(1)
                grads = task_grads[index]  # only this method's rows
                if name == "pcgrad":
                    combined = pcgrad(grads, self._generator)
                elif name == "mgda":
                    combined = mgda(grads)
                else:
                    combined = cagrad(grads, c)
                direction = direction.index_copy(0, index, combined.direction + penalty[index])
                if combined.weights is not None:
                    self.last_weights = self.last_weights.index_copy(0, index, combined.weights.to(self.dtype))
        if "gradnorm" in self.mask:
            self._gradnorm(total, task_grads, shared, losses)
        start = 0
        for g in shared:
            size = g[0].numel()
            g.copy_(direction[:, start : start + size].view_as(g))
            start += size

    def _gradnorm(self, total, task_grads, shared, losses) -> None:
        """The learned weights' gradient: GradNorm's loss on the last shared layer (Chen et al., 2018)."""
        rows = self.mask["gradnorm"]
        # The last shared weight matrix (K, in, out): where the paper measures the gradient norms.
        start, last = 0, (0, task_grads.shape[2])
        for g in shared:
            size = g[0].numel()
            if g.dim() >= 3:
                last = (start, start + size)
            start += size
        own = task_grads[:, :, last[0] : last[1]]  # (K, T, n): each task's gradient of w_t L_t there
        unweighted = own.norm(dim=2) / self.learned.detach().clamp_min(1e-12)  # (K, T) ||grad_W L_t||
        w = self.learned.detach().clone().requires_grad_(True)
        current = losses.detach().to(self.dtype)
        loss = torch.zeros(len(self.names), device=self.device, dtype=self.dtype)
        for alpha in sorted({m.option("alpha") for m in self.methods if m.name == "gradnorm"}):
            these = rows & (self._rows_option("gradnorm", "alpha")[:, 0] == alpha)
            loss = torch.where(these, gradnorm_loss(w, w * unweighted, current, self._initial, alpha), loss)
        (grad,) = torch.autograd.grad(loss.sum(), w)
        learned_grad = total[-1]  # the extra parameter is the engine's last
        learned_grad.copy_(torch.where(rows[:, None], grad, learned_grad))

    @torch.no_grad()
    def after_step(self) -> None:
        """GradNorm keeps its weights summing to T."""
        if "gradnorm" in self.mask:
            rows = self.mask["gradnorm"][:, None]
            self.learned.copy_(torch.where(rows, gradnorm_renormalise(self.learned), self.learned))
