"""The batched trainer: K optimizer configurations trained side by side, fairly.

All K configurations live in one stacked model (parameters carry a leading K
axis) that starts from identical weights; every step runs one forward and one
backward for all of them on the same mini-batch. Each configuration then steps
its own real torch.optim optimizer over row k of every parameter (views of the
stacked tensors, whose .grad are views of one gradient buffer that is
overwritten in place), so optimizer semantics are exactly PyTorch's.

Losses stay on the device and reach the host once per chunk of steps: a
per-step .item() would be a CPU-GPU sync point on every step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from mtlviz import __version__
from mtlviz.config import ExperimentConfig, OptimizerConfig
from mtlviz.data.batches import BatchSampler
from mtlviz.data.sources import build_task_model, build_taskset
from mtlviz.data.taskset import TaskSet
from mtlviz.engine.cost import CostMeter
from mtlviz.engine.losses import MetricAccumulator, metric_name, task_losses
from mtlviz.engine.methods import LEARNED, TaskMethods
from mtlviz.engine.schedules import build_scheduler
from mtlviz.engine.statistics import LAYER_METRICS, layer_statistics, task_gradients
from mtlviz.errors import TrainingError
from mtlviz.methods import METHODS
from mtlviz.optim import OPTIMIZERS
from mtlviz.records import (
    CHUNK_STEPS,
    CLIPPED_SHARE,
    CONFLICT_DEAD_ZONE,
    CONFLICT_SHARE,
    COST_SECONDS,
    GRAD_COSINE,
    LR,
    PAIR_SEPARATOR,
    POSITION,
    PRE_CLIP_NORM,
    SHARED,
    TASK_GRAD_NORM,
    TASK_WEIGHT,
    TEST_LOSS,
    TEST_RMSE,
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_RMSE,
    Divergence,
    RecordSchema,
    RowInfo,
    RunMetadata,
)
from mtlviz.rows import Row, expand_rows, rows_from_optimizers

# Validation rows per forward pass, scaled down for wide models to bound memory.
EVAL_ELEMENTS = 1 << 24


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("train.device is 'cuda' but no CUDA device is available here; use 'auto' or 'cpu'")
    return torch.device(name)


class Engine:
    """Trains every optimizer configuration of an experiment in one batched model."""

    def __init__(
        self,
        config: ExperimentConfig,
        taskset: TaskSet | Callable[[int], TaskSet] | None = None,
        rows: tuple[Row, ...] | tuple[OptimizerConfig, ...] | None = None,
    ):
        """Train `rows` (default: every configuration x learning rate x seed of `config`).

        `taskset` is the prepared data (e.g. an uploaded table): a TaskSet for a
        single seed, or a function seed -> TaskSet; by default it is built from
        config.tasks for each seed. `rows` may also be plain single-lr optimizer
        configurations, all trained on train.seed. The experiment's limits are on
        what a user may ask for; the engine itself takes any number of rows.
        """
        self.config = config
        if rows is None:
            rows = expand_rows(config)
        elif rows and isinstance(rows[0], OptimizerConfig):
            rows = rows_from_optimizers(tuple(rows), config.train.seed)
        self.rows: tuple[Row, ...] = tuple(rows)
        labels = [row.key for row in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"row labels must be unique; found {labels}")
        self.device = resolve_device(config.train.device)
        self.seeds = tuple(dict.fromkeys(row.seed for row in self.rows))
        self.labels = tuple(labels)  # one per row: run, and its seed when there are several
        self.runs = tuple(row.run for row in self.rows)
        self.num_copies = len(self.rows)
        tasksets = _tasksets(config, taskset, self.seeds)
        first = tasksets[0]
        self.tasks = first.tasks
        self.task_names = first.names
        self._load_data(tasksets)
        # The task source says what is trained: a sharing strategy's network, or a point
        # whose losses are closed-form (Toy 2D).
        self.model = build_task_model(config, first, self.num_copies, self.seeds[0])
        for seed in self.seeds[1:]:
            # Rows of another seed start from that seed's own initial weights.
            own = build_task_model(config, first, 1, seed)
            index = torch.tensor([k for k, row in enumerate(self.rows) if row.seed == seed])
            with torch.no_grad():
                for stacked, single in zip(self.model.parameters(), own.parameters()):
                    stacked[index] = single.expand_as(stacked[index])
        self.model.to(self.device)
        self.has_data = self.model.closed_form_losses() is None  # Toy 2D: closed-form losses, no data
        names = [name for name, _ in self.model.named_parameters()]
        shared = set(self.model.shared_parameter_names())
        self.shared_index = [i for i, name in enumerate(names) if name in shared]
        dtype = next(self.model.parameters()).dtype
        n_train = self.taskset.x_train.shape[-2]
        self.methods = TaskMethods(
            [row.method for row in self.rows],
            self.tasks,
            self.device,
            dtype,
            window=max(1, n_train // max(1, config.train.batch_size)),  # an epoch of batches, for DWA
            seed=config.train.seed,
            has_shared=bool(self.shared_index),
        )
        self.params = list(self.model.parameters())
        if self.methods.learned is not None:  # learned task weights: the last parameter, in every row's optimizer
            self.params.append(self.methods.learned)
            names.append(LEARNED)
        # One gradient buffer per parameter; row k of it is configuration k's .grad.
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.optimizers = []
        for k, opt in enumerate(row.optimizer for row in self.rows):
            views = [p.detach()[k] for p in self.params]  # leaf views sharing the stacked storage
            for view, grad in zip(views, self.grads):
                view.grad = grad[k]
            self.optimizers.append(OPTIMIZERS[opt.name].build(views, opt.lr, opt.options))
        # One torch.optim.lr_scheduler per row that has a schedule, stepped after its optimizer.
        steps = config.train.steps
        self.schedulers = [
            build_scheduler(optimizer, row.optimizer.schedule, steps)
            for optimizer, row in zip(self.optimizers, self.rows)
        ]
        self.scheduled = any(s is not None for s in self.schedulers)
        # Clipping by global norm over each row's own parameters; inf: that row does not clip.
        clip = [row.optimizer.clip_norm if row.optimizer.clip_norm is not None else float("inf") for row in self.rows]
        self.clipping = any(c != float("inf") for c in clip)
        self.clip_norms = torch.tensor(clip, device=self.device, dtype=torch.float32)
        self._clipped = torch.zeros(self.num_copies, device=self.device)  # steps clipped so far, per row
        self.cost = CostMeter(
            [METHODS[row.method.name].per_task_gradients for row in self.rows], len(self.tasks), self.device
        )
        self.layer_names = tuple(display_name(name, self.task_names) for name in names)
        # A model that moves a point records its path every step (the layer column of position rows).
        self.trajectory_names = tuple(self.model.trajectory_names)
        self.dtype = dtype
        pairs = [(a, b) for a in range(len(self.tasks)) for b in range(a + 1, len(self.tasks))]
        self.pairs = tuple(pairs)
        self.pair_names = tuple(f"{self.task_names[a]}{PAIR_SEPARATOR}{self.task_names[b]}" for a, b in pairs)
        self.schema = RecordSchema(
            self.runs,
            self.task_names + self.pair_names,
            self.layer_names + self.trajectory_names,
            tuple(row.seed for row in self.rows),
        )
        # Statistics wait on the device until the next chunk is copied to the host.
        self._layer_stats: list[tuple[int, torch.Tensor]] = []
        self._conflicts: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        self._weights: list[tuple[int, torch.Tensor]] = []  # task weights of the methods, (K, T)
        self._positions: list[tuple[int, torch.Tensor]] = []  # the model's point, when it has one: (K, 2)
        # One batch order per seed, shared by every configuration of that seed.
        self.samplers = [BatchSampler(n_train, config.train.batch_size, seed + 1, self.device) for seed in self.seeds]
        self.step = 0
        self.active = [True] * self.num_copies
        self.diverged_at: dict[int, int] = {}  # row index -> the step at which it diverged
        self.divergences: list[Divergence] = []  # in the order they happened
        self._first_loss: np.ndarray | None = None  # (K, T) losses of step 1
        num_shared = sum(self.params[i][0].numel() for i in self.shared_index)
        test = self.taskset.x_test
        self._metadata = RunMetadata(
            rows=tuple(
                RowInfo(
                    row.run,
                    row.seed,
                    row.configuration,
                    row.optimizer.name,
                    float(row.optimizer.lr),
                    row.method.label,
                    row.trial.index,
                    {k: list(v) if isinstance(v, tuple) else v for k, v in row.trial.values},
                )
                for row in self.rows
            ),
            tasks=self.task_names,
            has_shared_parameters=self.has_shared_parameters,
            parameters=sum(p[0].numel() for p in self.model.parameters()),
            shared_parameters=num_shared,
            device=str(self.device),
            versions=_versions(),
            batch_size=config.train.batch_size if self.has_data else 0,
            train_examples=n_train if self.has_data else 0,
            test_examples=0 if test is None else int(test.shape[-2]),
        )

    # ------------------------------------------------------------------ batches

    def _load_data(self, tasksets: list[TaskSet]) -> None:
        """Move the data to the device; with several seeds, stack their splits on a seed axis."""
        if len(tasksets) == 1:
            self.taskset = tasksets[0].to(self.device)
            self.seed_index = None
            return
        width = max(t.input_dim for t in tasksets)
        shapes = {
            (t.x_train.shape[0], t.x_val.shape[0], 0 if t.x_test is None else t.x_test.shape[0]) for t in tasksets
        }
        if len(shapes) != 1 or any(t.tasks != tasksets[0].tasks for t in tasksets):
            raise TrainingError(f"the seeds' data splits differ in size or tasks ({sorted(shapes)}); expected the same")

        def stacked(name: str) -> torch.Tensor:
            # A rare category seen in one seed's training split only gives that seed an
            # extra one-hot column; the other seeds get a zero column there.
            parts = [getattr(t, name) for t in tasksets]
            if name.startswith("x_"):
                parts = [torch.nn.functional.pad(p, (0, width - p.shape[1])) for p in parts]
            return torch.stack(parts).to(self.device)  # (S, n, ...)

        test = tasksets[0].x_test is not None
        self.taskset = TaskSet(
            tasksets[0].tasks,
            stacked("x_train"),
            stacked("y_train"),
            stacked("x_val"),
            stacked("y_val"),
            x_test=stacked("x_test") if test else None,
            y_test=stacked("y_test") if test else None,
        )
        self.target_scales = torch.tensor([t.scales for t in tasksets], device=self.device)  # (S, T)
        where = {seed: s for s, seed in enumerate(self.seeds)}
        self.seed_index = torch.tensor([where[row.seed] for row in self.rows], device=self.device)  # (K,)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The same mini-batch for every configuration of a seed: (B, d) and (B, T),
        or with several seeds (K, B, d) and (K, B, T), each row its seed's batch."""
        if self.seed_index is None:
            index = self.samplers[0].next()
            return self.taskset.x_train[index], self.taskset.y_train[index]
        index = torch.stack([sampler.next() for sampler in self.samplers])  # (S, B)
        seeds = torch.arange(len(self.seeds), device=self.device)[:, None]
        x, y = self.taskset.x_train[seeds, index], self.taskset.y_train[seeds, index]  # (S, B, ...)
        return x[self.seed_index], y[self.seed_index]

    # ------------------------------------------------------------------ training

    def metadata(self) -> RunMetadata:
        """What is known about this run besides its records, with the divergences so far."""
        return self._metadata.with_divergences(tuple(self.divergences))

    @property
    def has_shared_parameters(self) -> bool:
        return bool(self.shared_index)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One update of every active configuration; returns the (K, T) batch losses."""
        step = self.step + 1
        train = self.config.train
        with_stats = train.stats_every > 0 and step % train.stats_every == 0
        with_conflict = train.conflict_every > 0 and step % train.conflict_every == 0 and self.has_shared_parameters
        cost = self.cost
        cost.begin_step()
        started = cost.now()
        losses = self.model.closed_form_losses()  # (K, T), or None for a network trained on data
        if losses is None:
            outputs = self.model(x)  # T tensors of (K, B, out_t)
            losses = task_losses(outputs, y, self.tasks)  # (K, T)
        penalty = self.model.penalty()  # (K,)
        terms = self.methods.task_objectives(losses)  # (K, T): what each row's method differentiates
        if with_conflict or self.methods.per_task:
            # One backward per task; their sum (plus the penalty's) is the step's gradient.
            grads, norms, cosines, per_task = task_gradients(terms, penalty, self.params, self.shared_index)
            if with_conflict:
                self._conflicts.append((step, norms, cosines))
            if self.methods.per_task:
                self.methods.combine(grads, per_task, self.shared_index, losses)
        else:
            objective = terms.sum(1) + penalty  # (K,)
            # Rows are independent, so the gradient of the sum is each row's own gradient.
            grads = torch.autograd.grad(objective.sum(), self.params, allow_unused=True, materialize_grads=True)
        for buffer, grad in zip(self.grads, grads):
            buffer.copy_(grad)
        if self.clipping:
            self._clip()
        active = np.asarray(self.active)
        cost.shared(cost.now() - started, active, with_conflict or self.methods.per_task)
        before = [p.detach().clone() for p in self.params] if with_stats else None
        if self.scheduled:
            self.last_lrs = [optimizer.param_groups[0]["lr"] for optimizer in self.optimizers]  # this step's rates
        for k, (optimizer, scheduler) in enumerate(zip(self.optimizers, self.schedulers)):
            if self.active[k]:
                mark = cost.now()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                cost.own(k, cost.now() - mark)
        self.methods.after_step()
        if with_stats or self.trajectory_names:  # a path's task weights are drawn along it, every step
            self._weights.append((step, self.methods.last_weights.clone()))
        if self.trajectory_names:
            self._positions.append((step, self.model.trajectory()))
        if before is not None:
            configs = [row.optimizer for row in self.rows]
            lrs = self.last_lrs if self.scheduled else None
            stats = layer_statistics(configs, self.optimizers, self.params, before, self.grads, lrs)
            self._layer_stats.append((step, stats))
        self.step = step
        return losses.detach()

    @torch.no_grad()
    def _clip(self) -> None:
        """Scale each clipping row's gradient to at most its clip_norm, as torch.nn.utils.clip_grad_norm_
        does for one model: the global norm over that row's parameters (never over the stacked tensor)."""
        norms = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1) for g in self.grads], 1), dim=1
        )  # (K,)
        self._pre_clip = norms
        factor = (self.clip_norms / (norms + 1e-6)).clamp(max=1.0)  # 1e-6 and the clamp as clip_grad_norm_ has them
        factor = torch.where(torch.isinf(self.clip_norms), torch.ones_like(factor), factor)
        self._clipped += (factor < 1.0).to(self._clipped.dtype)
        for grad in self.grads:
            grad.mul_(factor.view(-1, *([1] * (grad.dim() - 1))).to(grad.dtype))

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(K, T) loss, metric and original-unit RMSE over the whole validation (or test) split."""
        loss = self.model.closed_form_losses()
        if loss is not None:  # no data: "validation" is the same closed-form losses, and no metric
            return loss, torch.full_like(loss, float("nan")), torch.full_like(loss, float("nan"))
        x, y = getattr(self.taskset, f"x_{split}"), getattr(self.taskset, f"y_{split}")  # (n, ...) or (S, n, ...)
        width = max(self.config.model.hidden, x.shape[-1]) * self.num_copies * max(1, len(self.tasks))
        rows = max(256, EVAL_ELEMENTS // width)
        if self.seed_index is None:
            acc = MetricAccumulator(self.tasks, y, self.taskset.scales)
            for start in range(0, x.shape[0], rows):
                acc.add(self.model(x[start : start + rows]), y[start : start + rows])
            return acc.result()
        acc = MetricAccumulator(self.tasks, y[self.seed_index], self.target_scales[self.seed_index])
        for start in range(0, x.shape[1], rows):
            chunk = slice(start, start + rows)
            acc.add(self.model(x[self.seed_index, chunk]), y[self.seed_index, chunk])
        return acc.result()

    def run(self, stop: threading.Event | None = None, pace: float | None = None) -> Iterator[pd.DataFrame]:
        """Train for config.train.steps steps, yielding record chunks as they are ready.

        pace: at most this many steps per second (None: full speed), for watching a run
        form live; it only waits between steps, so the numbers are the same at any pace.
        """
        total = self.config.train.steps
        eval_every = self.config.train.eval_every
        start = time.perf_counter()
        yield self._eval_records(0.0)
        buffer = torch.empty(CHUNK_STEPS, self.num_copies, len(self.tasks), device=self.device, dtype=self.dtype)
        self._norm_buffer = torch.empty(CHUNK_STEPS, self.num_copies, 1, device=self.device) if self.clipping else None
        self._lr_rows: list[list[float]] = []
        steps, seconds = [], []
        first = self.step
        wait = stop.wait if stop is not None else time.sleep  # waiting on the stop event: Stop ends it at once
        while self.step < total and not (stop is not None and stop.is_set()):
            if pace:
                delay = start + (self.step - first) / pace - time.perf_counter()
                if delay > 0:
                    wait(delay)
                    continue  # stopped while waiting, or on time: check again before the step
            losses = self.train_step(*self.next_batch())
            buffer[len(steps)] = losses
            if self._norm_buffer is not None:
                self._norm_buffer[len(steps), :, 0] = self._pre_clip
            if self.scheduled:
                self._lr_rows.append(self.last_lrs)
            steps.append(self.step)
            seconds.append(time.perf_counter() - start)
            evaluate = self.step % eval_every == 0 or self.step == total
            if len(steps) == CHUNK_STEPS or evaluate:
                chunk = self._train_records(buffer[: len(steps)], steps, seconds)
                if evaluate:
                    chunk = pd.concat([chunk, self._eval_records(seconds[-1])], ignore_index=True)
                steps, seconds = [], []
                yield chunk
                if not any(self.active):
                    break
        if steps:
            yield self._train_records(buffer[: len(steps)], steps, seconds)
        if self.step % eval_every and self.step != total:
            # Stopped between evaluations: one last validation so the summary is current.
            yield self._eval_records(time.perf_counter() - start)
        if self.taskset.x_test is not None:
            # The test split is read here, once, after training: nothing during training sees it.
            yield self._test_records(time.perf_counter() - start)

    # ------------------------------------------------------------------ records

    def _train_records(self, losses: torch.Tensor, steps: list[int], seconds: list[float]) -> pd.DataFrame:
        values = losses.cpu().numpy()  # the one host copy of this chunk's losses, (S, K, T)
        steps_np = np.asarray(steps)
        self._check_divergence(values, steps_np)
        values = self._mask_diverged(values, steps_np)
        when_np = np.asarray(seconds)
        frames = [self.schema.grid(TRAIN_LOSS, values, steps_np, when_np, self.task_names)]
        frames += self._row_records(len(steps), steps_np, when_np)
        when = dict(zip(steps, seconds))
        frames += self._layer_records(when) + self._conflict_records(when) + self._method_records(when)
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def _row_records(self, count: int, steps: np.ndarray, seconds: np.ndarray) -> list[pd.DataFrame]:
        """Per row and step: the scheduled lr, the gradient norm before clipping; at the chunk's last step,
        the share of steps clipped so far."""
        frames = []
        if self.scheduled:
            lrs = np.asarray(self._lr_rows[-count:], dtype=np.float64)[:, :, None]  # (S, K, 1)
            self._lr_rows = []
            frames.append(self.schema.grid(LR, self._mask_diverged(lrs, steps), steps, seconds, ("",)))
        if self._norm_buffer is not None:
            norms = self._norm_buffer[:count].cpu().numpy()  # (S, K, 1)
            clipping = np.isfinite(self.clip_norms.cpu().numpy())  # rows that clip; the others record nothing
            norms[:, ~clipping] = np.nan
            frames.append(self.schema.grid(PRE_CLIP_NORM, self._mask_diverged(norms, steps), steps, seconds, ("",)))
            share = (self._clipped.cpu().numpy() / self.step)[None, :, None]
            share[:, ~clipping] = np.nan
            last = steps[-1:]
            frames.append(self.schema.grid(CLIPPED_SHARE, self._mask_diverged(share, last), last, seconds[-1:], ("",)))
        return frames

    def _layer_records(self, when: dict[int, float]) -> list[pd.DataFrame]:
        if not self._layer_stats:
            return []
        steps = np.array([s for s, _ in self._layer_stats])
        values = torch.stack([v for _, v in self._layer_stats]).cpu().numpy()  # (S, M, K, L), one copy
        self._layer_stats = []
        seconds = np.array([when.get(s, np.nan) for s in steps])
        masked = self._mask_diverged(values.swapaxes(1, 2), steps).swapaxes(1, 2)  # mask along K
        # A step size is recorded as one kind per row (closed form or measured): skip a kind no row has.
        kept = np.isfinite(masked).any(axis=(0, 2, 3))
        metrics = tuple(m for m, keep in zip(LAYER_METRICS, kept) if keep)
        return [self.schema.stacked(metrics, masked[:, kept], steps, seconds, self.layer_names, axis="layer")]

    def _conflict_records(self, when: dict[int, float]) -> list[pd.DataFrame]:
        if not self._conflicts:
            return []
        steps = np.array([s for s, _, _ in self._conflicts])
        norms = torch.stack([n for _, n, _ in self._conflicts]).cpu().numpy()  # (S, K, T)
        cosines = torch.stack([c for _, _, c in self._conflicts]).cpu().numpy()  # (S, K, T, T)
        self._conflicts = []
        seconds = np.array([when.get(s, np.nan) for s in steps])
        grid = self.schema.grid
        norm_rows = grid(
            TASK_GRAD_NORM, self._mask_diverged(norms, steps), steps, seconds, self.task_names, other=SHARED
        )
        if not self.pairs:  # one task: its gradient norm, and no pair to compare
            return [norm_rows]
        a, b = (np.array(i, dtype=int) for i in zip(*self.pairs))
        pair_cos = self._mask_diverged(cosines[:, :, a, b], steps)  # (S, K, pairs)
        # Near-orthogonal pairs (|cos| <= the dead zone) barely interact: not counted as conflict.
        share = (pair_cos < -CONFLICT_DEAD_ZONE).mean(axis=2, keepdims=True)  # NaN rows stay NaN below
        share[~np.isfinite(pair_cos).all(axis=2, keepdims=True)] = np.nan
        return [
            norm_rows,
            grid(GRAD_COSINE, pair_cos, steps, seconds, self.pair_names, other=SHARED),
            grid(CONFLICT_SHARE, share, steps, seconds, ("",), other=SHARED),
        ]

    def _method_records(self, when: dict[int, float]) -> list[pd.DataFrame]:
        """Task weights of every method that has them; for a model that moves a point, its path."""
        frames = []
        for metric, items, names, axis in (
            (TASK_WEIGHT, self._weights, self.task_names, "task"),
            (POSITION, self._positions, self.trajectory_names, "layer"),
        ):
            if not items:
                continue
            steps = np.array([s for s, _ in items])
            values = torch.stack([v for _, v in items]).cpu().numpy()  # (S, K, N), one copy
            seconds = np.array([when.get(s, np.nan) for s in steps])
            frames.append(self.schema.grid(metric, self._mask_diverged(values, steps), steps, seconds, names, axis))
        self._weights, self._positions = [], []
        return frames

    def _eval_records(self, seconds: float) -> pd.DataFrame:
        """Validation metrics, and each row's training cost so far."""
        cost = self.cost.total[None, :, None]  # (1, K, 1)
        steps = np.array([self.step])
        extra = [self.schema.grid(COST_SECONDS, self._mask_diverged(cost, steps), steps, np.array([seconds]), ("",))]
        return self._split_records("val", seconds, extra)

    def _test_records(self, seconds: float) -> pd.DataFrame:
        """Test metrics after training (rows that diverged have none)."""
        return self._split_records("test", seconds)

    def _split_records(self, split: str, seconds: float, extra: list[pd.DataFrame] | None = None) -> pd.DataFrame:
        loss, metric, rmse = (v.cpu().numpy()[None] for v in self.evaluate(split))  # (1, K, T) each
        steps = np.array([self.step])
        loss = self._mask_diverged(loss, steps)
        metric = self._mask_diverged(metric, steps)
        rmse = self._mask_diverged(rmse, steps)  # NaN (so no rows) for classification tasks
        when = np.array([seconds])
        frames = [
            self.schema.grid(VAL_LOSS if split == "val" else TEST_LOSS, loss, steps, when, self.task_names),
            self.schema.grid(VAL_RMSE if split == "val" else TEST_RMSE, rmse, steps, when, self.task_names),
        ]
        for t, task in enumerate(self.tasks):
            values = np.full_like(metric, np.nan)
            values[..., t] = metric[..., t]
            name = f"{split}_{metric_name(task)}"
            frames.append(self.schema.grid(name, values, steps, when, self.task_names))
        frames += extra or []
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else self.schema.empty()

    def _check_divergence(self, values: np.ndarray, steps: np.ndarray) -> None:
        """Stop a configuration whose loss became non-finite or exploded; the others keep training.

        values: (S, K, T) train losses. Exploded means above divergence_factor times
        the configuration's first loss on that task.
        """
        if self._first_loss is None:
            self._first_loss = np.abs(values[0])
        limit = self.config.train.divergence_factor * np.maximum(self._first_loss, 1e-12)  # (K, T)
        with np.errstate(invalid="ignore"):
            bad_cells = ~np.isfinite(values) | (values > limit)  # (S, K, T)
        bad = bad_cells.any(axis=2)  # (S, K)
        for k, row in enumerate(self.rows):
            if self.active[k] and bad[:, k].any():
                first = int(bad[:, k].argmax())
                task = int(bad_cells[first, k].argmax())  # the first task whose loss gave it away
                self.active[k] = False
                self.diverged_at[k] = int(steps[first])
                losses = {name: _finite_or_none(v) for name, v in zip(self.task_names, values[first, k])}
                self.divergences.append(
                    Divergence(
                        row.run,
                        row.seed,
                        int(steps[first]),
                        self.task_names[task],
                        losses[self.task_names[task]],
                        losses,
                    )
                )

    def _mask_diverged(self, values: np.ndarray, steps: np.ndarray) -> np.ndarray:  # values: (S, K, ...)
        """NaN out (and so drop) every value a configuration produced from its divergence on."""
        if not self.diverged_at:
            return values
        values = values.copy()
        for k, step in self.diverged_at.items():
            values[steps > step, k] = np.nan
        return values


def _tasksets(
    config: ExperimentConfig, taskset: TaskSet | Callable[[int], TaskSet] | None, seeds: tuple[int, ...]
) -> list[TaskSet]:
    if taskset is None:
        return [build_taskset(config.tasks, seed) for seed in seeds]
    if isinstance(taskset, TaskSet):
        if len(seeds) > 1:
            raise ValueError("several seeds need a function seed -> TaskSet, not one TaskSet")
        return [taskset]
    return [taskset(seed) for seed in seeds]


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _versions() -> dict[str, str]:
    """The library versions a run's numbers depend on."""
    import platform

    return {
        "mtlviz": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def display_name(name: str, tasks: tuple[str, ...]) -> str:
    """heads.1.weight -> heads.<task name>.weight: layers read by the task they serve."""
    parts = name.split(".")
    if parts[0] == "heads" and len(parts) > 2 and parts[1].isdigit():
        parts[1] = tasks[int(parts[1])]
    return ".".join(parts)
