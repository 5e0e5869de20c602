"""The contract between the engine and everything that reads a run (torch-free).

- The record schema: a tidy long table, one row per (run, seed, step, task, layer, metric).
- The metric catalogue: every metric's name, title, axis label, unit and help,
  read by the engine, the charts, the views and the store alike.
- RunMetadata: the facts about a run that are known once, where they are known
  (its rows and seeds, which rows diverged at which step with which loss,
  whether the strategy has shared parameters, parameter counts, device,
  library versions). They travel with the records; nothing downstream
  re-derives them.

Records:

`run` is the optimizer configuration's label (a swept learning rate is its own
run, "Adam lr=0.001"); `seed` is the seed of that model (its data split,
initial weights and batch order); `layer` is empty for task-level metrics;
`seconds` is wall-clock time since training started. pandas and Plotly
consume the table directly and it is written to Parquet as is.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["run", "seed", "step", "task", "layer", "metric", "value", "seconds"]
# Steps between the engine's host copies of its records (also flushed at every evaluation).
CHUNK_STEPS = 25

TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACCURACY = "val_accuracy"
VAL_R2 = "val_r2"
VAL_RMSE = "val_rmse"  # regression only, in the target's original units
TASK_GRAD_NORM = "task_grad_norm"
GRAD_COSINE = "grad_cosine"
CONFLICT_SHARE = "conflict_share"
TASK_WEIGHT = "task_weight"  # the weight a multi-task method gave each task's loss (or gradient)
POSITION = "position"  # toy2d only: the point x, one row per coordinate (layer "x1", "x2")
SHARED = "shared"  # the layer value of gradient-conflict rows: all shared parameters together
PAIR_SEPARATOR = " ↔ "
# Two task gradients whose cosine is within ±CONFLICT_DEAD_ZONE are near orthogonal: they
# barely interact, and a minibatch's noise flips the sign of such a cosine at random. Only a
# cosine below -CONFLICT_DEAD_ZONE counts as conflict (the engine's conflict_share and the
# Conflict view's reading alike), only one above +CONFLICT_DEAD_ZONE as aligned.
CONFLICT_DEAD_ZONE = 0.05
# The test split is read once, after training (never while anything is chosen): these
# metrics exist at the last step only (mtlviz/protocol.py reports them).
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"
TEST_R2 = "test_r2"
TEST_RMSE = "test_rmse"
LR = "lr"  # the learning rate each row's scheduler set for the step (rows with a schedule)
PRE_CLIP_NORM = "pre_clip_norm"  # a row's global gradient norm before clipping (rows that clip)
CLIPPED_SHARE = "clipped_share"  # share of the steps so far whose gradient was clipped (rows that clip)
COST_SECONDS = "cost_seconds"  # seconds of training charged to a row so far (mtlviz/engine/cost.py)
# Read off a clock: like the seconds column, these differ between two runs of the same config.
TIMED_METRICS = (COST_SECONDS,)
EFFECTIVE_LR = "effective_lr"  # the closed-form step size, from the optimizer's state
MEASURED_STEP = "measured_step"  # |Δθ| / |g| measured per element, where no closed form is exact


# Per configuration and layer (see mtlviz/engine/statistics.py for their meaning).
LAYER_METRICS = (
    "grad_norm",
    "update_norm",
    "param_norm",
    "update_ratio",
    EFFECTIVE_LR,
    f"{EFFECTIVE_LR}_p10",
    f"{EFFECTIVE_LR}_p90",
    "weight_decay_norm",
    MEASURED_STEP,
    f"{MEASURED_STEP}_p10",
    f"{MEASURED_STEP}_p90",
)
# Every metric the engine records, in a fixed order (the metric column's categories).
METRICS = (
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_ACCURACY,
    VAL_R2,
    VAL_RMSE,
    *LAYER_METRICS,
    TASK_GRAD_NORM,
    GRAD_COSINE,
    CONFLICT_SHARE,
    TASK_WEIGHT,
    POSITION,
    TEST_LOSS,
    TEST_ACCURACY,
    TEST_R2,
    TEST_RMSE,
    LR,
    PRE_CLIP_NORM,
    CLIPPED_SHARE,
    COST_SECONDS,
)


@dataclass(frozen=True)
class Metric:
    """What one metric is, for every reader: menus, axes, hover text and help captions."""

    name: str
    title: str  # menus and chart titles
    axis: str  # y-axis label
    help: str  # one sentence for the UI
    unit: str = ""  # "" when the value has no unit (a ratio, a cosine, a loss)
    level: str = "task"  # what the task/layer columns hold: "task", "layer", "pair" or "run"


CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(TRAIN_LOSS, "Train loss", "loss", "Each task's loss on the training mini-batch of every step."),
        Metric(VAL_LOSS, "Validation loss", "loss", "Each task's loss on the whole validation split."),
        Metric(VAL_ACCURACY, "Validation accuracy", "accuracy", "Share of validation rows classified correctly."),
        Metric(VAL_R2, "Validation R²", "R²", "1 - SSE/SST on the validation split (1 is perfect, 0 is the mean)."),
        Metric(
            VAL_RMSE,
            "Validation RMSE",
            "RMSE",
            "Root mean squared error on the validation split, in the target's original units.",
            unit="target units",
        ),
        Metric(
            "grad_norm",
            "Gradient norm",
            "‖gradient‖",
            "Norm of the gradient each optimizer stepped with, per layer.",
            level="layer",
        ),
        Metric(
            "update_norm",
            "Update norm",
            "‖Δθ‖",
            "Norm of the actual parameter change of each step, measured around optimizer.step().",
            level="layer",
        ),
        Metric("param_norm", "Weight norm", "‖θ‖", "Norm of each layer's weights.", level="layer"),
        Metric(
            "update_ratio",
            "Update / weight ratio",
            "log10(update / weight)",
            "How far each step moves a layer relative to its size; around -3 (1e-3) is a common healthy value.",
            level="layer",
        ),
        Metric(
            EFFECTIVE_LR,
            "Effective step size",
            "lr_eff (closed form)",
            "Per-element step size read from the optimizer's own state by its exact rule (median, 10-90% band): "
            "lr / (√v̂ + ε) per unit of first moment for Adam-type optimizers, per unit of gradient for "
            "RMSprop and Adagrad, lr itself for plain SGD. Recorded only where that rule is exact.",
            level="layer",
        ),
        Metric(
            f"{EFFECTIVE_LR}_p10", "Effective step size, 10th percentile", "lr_eff (closed form)", "", level="layer"
        ),
        Metric(
            f"{EFFECTIVE_LR}_p90", "Effective step size, 90th percentile", "lr_eff (closed form)", "", level="layer"
        ),
        Metric(
            MEASURED_STEP,
            "Measured step size",
            "|Δθ| / |g| (measured)",
            "Per-element step per unit of gradient, measured around optimizer.step() (median, 10-90% band), for "
            "optimizers whose step has no exact closed form (SGD with momentum or Nesterov, RMSprop with "
            "momentum, RAdam before its rectification). Elements with a near-zero gradient are left out.",
            level="layer",
        ),
        Metric(
            f"{MEASURED_STEP}_p10", "Measured step size, 10th percentile", "|Δθ| / |g| (measured)", "", level="layer"
        ),
        Metric(
            f"{MEASURED_STEP}_p90", "Measured step size, 90th percentile", "|Δθ| / |g| (measured)", "", level="layer"
        ),
        Metric(
            "weight_decay_norm",
            "Weight-decay part",
            "‖weight-decay step‖",
            "The part of each step that comes from weight decay: decoupled (AdamW) or L2 (SGD, Adam).",
            level="layer",
        ),
        Metric(
            TASK_GRAD_NORM,
            "Task gradient norm",
            "‖∇ task loss‖",
            "Norm of each task's weighted-loss gradient on the shared parameters.",
        ),
        Metric(
            GRAD_COSINE,
            "Gradient cosine",
            "cosine",
            "Cosine between two tasks' gradients on the shared parameters: below "
            f"-{CONFLICT_DEAD_ZONE:g} they pull in opposite directions (conflict), within ±{CONFLICT_DEAD_ZONE:g} "
            f"they are near orthogonal (barely interact), above {CONFLICT_DEAD_ZONE:g} they agree.",
            level="pair",
        ),
        Metric(
            CONFLICT_SHARE,
            "Conflicting pairs",
            "share of pairs",
            f"Share of task pairs whose gradient cosine on the shared parameters is below -{CONFLICT_DEAD_ZONE:g}; "
            f"cosines within ±{CONFLICT_DEAD_ZONE:g} are near orthogonal and do not count as conflict.",
            level="run",
        ),
        Metric(
            TASK_WEIGHT,
            "Task weight",
            "weight",
            "The weight a run's method put on each task: on its loss for weightings, on its gradient for combinations.",
        ),
        Metric(POSITION, "Position", "x", "The toy problem's point (x1, x2), one row per coordinate.", level="layer"),
        Metric(TEST_LOSS, "Test loss", "loss", "Each task's loss on the test split, read once after training."),
        Metric(TEST_ACCURACY, "Test accuracy", "accuracy", "Share of test rows classified correctly, after training."),
        Metric(TEST_R2, "Test R²", "R²", "1 - SSE/SST on the test split, after training."),
        Metric(
            TEST_RMSE,
            "Test RMSE",
            "RMSE",
            "Root mean squared error on the test split after training, in the target's original units.",
            unit="target units",
        ),
        Metric(
            LR,
            "Learning rate",
            "lr",
            "The learning rate the row's schedule set for each step (warmup, then decay).",
            level="run",
        ),
        Metric(
            PRE_CLIP_NORM,
            "Gradient norm before clipping",
            "‖gradient‖",
            "The row's global gradient norm over all its parameters, before clipping.",
            level="run",
        ),
        Metric(
            CLIPPED_SHARE,
            "Steps clipped",
            "share of steps",
            "Share of the steps so far whose gradient norm was above clip_norm and was scaled down to it.",
            level="run",
        ),
        Metric(
            COST_SECONDS,
            "Training cost",
            "seconds",
            "Seconds of training charged to the row: its own optimizer step, its share of the shared "
            "forward and backward, and the per-task backward passes its method needs.",
            unit="s",
            level="run",
        ),
    ]
}


class RecordSchema:
    """The categories of one run's records: its runs, tasks (and task pairs), layers.

    Text columns are pandas categoricals with these fixed categories, so chunks
    are built from integer codes, concatenate without re-encoding, and filter
    and group by comparing codes: a live refresh stays fast with millions of rows.
    """

    def __init__(
        self,
        runs: tuple[str, ...],
        tasks: tuple[str, ...] = (),
        layers: tuple[str, ...] = (),
        seeds: tuple[int, ...] | None = None,
    ):
        """`runs` and `seeds` name each of the K engine rows (a run repeats across its seeds)."""
        self.runs = tuple(runs)
        self.run = pd.CategoricalDtype(list(dict.fromkeys(runs)))
        self.row_codes = self.run.categories.get_indexer(list(runs)).astype(np.int32)  # (K,)
        self.seeds = np.asarray(seeds if seeds is not None else [0] * len(runs), dtype=np.int32)  # (K,)
        self.task = pd.CategoricalDtype(list(dict.fromkeys(("", *tasks))))
        self.layer = pd.CategoricalDtype(list(dict.fromkeys(("", SHARED, *layers))))
        self.metric = pd.CategoricalDtype(list(METRICS))

    def empty(self) -> pd.DataFrame:
        return self.stacked((TRAIN_LOSS,), np.zeros((0, 1, len(self.runs), 0)), np.zeros(0, int), np.zeros(0), ())

    def grid(
        self,
        metric: str,
        values: np.ndarray,
        steps: np.ndarray,
        seconds: np.ndarray,
        names: tuple[str, ...],
        axis: str = "task",
        other: str = "",
    ) -> pd.DataFrame:
        """Long rows from a (S, K, N) array of one metric; non-finite values are dropped.

        The last axis is labelled by `names` in column `axis` ("task" or "layer");
        the other of the two columns holds `other`.
        """
        return self.stacked((metric,), values[:, None], steps, seconds, names, axis, other)

    def stacked(
        self,
        metrics: tuple[str, ...],
        values: np.ndarray,
        steps: np.ndarray,
        seconds: np.ndarray,
        names: tuple[str, ...],
        axis: str = "task",
        other: str = "",
    ) -> pd.DataFrame:
        """Long rows from a (S, M, K, N) array of M metrics, K runs and N tasks or layers."""
        s, m, k, n = values.shape
        label_dtype, other_dtype = (self.task, self.layer) if axis == "task" else (self.layer, self.task)
        name_codes = label_dtype.categories.get_indexer(list(names)).astype(np.int32)
        metric_codes = self.metric.categories.get_indexer(list(metrics)).astype(np.int8)
        labels = pd.Categorical.from_codes(np.tile(name_codes, s * m * k), dtype=label_dtype)
        constant = pd.Categorical.from_codes(
            np.full(s * m * k * n, other_dtype.categories.get_loc(other), dtype=np.int32), dtype=other_dtype
        )
        rows = np.tile(np.repeat(np.arange(k), n), s * m)
        frame = pd.DataFrame(
            {
                "run": pd.Categorical.from_codes(self.row_codes[rows], dtype=self.run),
                "seed": self.seeds[rows],
                "step": np.repeat(np.asarray(steps, dtype=np.int64), m * k * n),
                "task": labels if axis == "task" else constant,
                "layer": labels if axis == "layer" else constant,
                "metric": pd.Categorical.from_codes(np.tile(np.repeat(metric_codes, k * n), s), dtype=self.metric),
                "value": values.reshape(-1).astype(np.float64),
                "seconds": np.repeat(np.asarray(seconds, dtype=np.float64), m * k * n),
            }
        )
        keep = np.isfinite(frame["value"].to_numpy())
        return frame if keep.all() else frame[keep].reset_index(drop=True)


def empty_records() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in COLUMNS})


def _dtype(column: str) -> str:
    return {"seed": "int32", "step": "int64", "value": "float64", "seconds": "float64"}.get(column, "object")


class MetricLog:
    """Thread-safe, append-only store of record chunks, partitioned by metric.

    `frame(metrics)` concatenates only the metrics asked for, and caches the
    result per metric until that metric gets new rows: a view that draws the
    loss never touches the millions of per-layer statistic rows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, list[pd.DataFrame]] = {}
        self._order: list[str] = []
        self.version = 0  # bumps on every append, so readers can skip redraws

    def append(self, chunk: pd.DataFrame) -> None:
        if chunk.empty:
            return
        groups = chunk.groupby("metric", observed=True, sort=False)
        with self._lock:
            for metric, part in groups:
                if metric not in self._parts:
                    self._parts[metric] = []
                    self._order.append(metric)
                self._parts[metric].append(part)
            self.version += 1

    def metrics(self) -> list[str]:
        with self._lock:
            return list(self._order)

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """Rows of the given metrics (all when None), each metric's rows in step order."""
        with self._lock:
            names = [m for m in (self._order if metrics is None else metrics) if m in self._parts]
            frames = []
            for name in names:
                chunks = self._parts[name]
                if len(chunks) > 1:
                    chunks[:] = [pd.concat(chunks, ignore_index=True)]
                frames.append(chunks[0])
        if not frames:
            return empty_records()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class Divergence:
    """One row (a run's seed) stopped because its loss became non-finite or exploded.

    `loss` is the value that gave it away, on `task`; `losses` holds every
    task's train loss at that step (None where non-finite), so each chart panel
    can say its own task's value and the banner the one that tripped.
    """

    run: str
    seed: int
    step: int
    task: str
    loss: float | None  # None: not finite (NaN or an infinity)
    losses: dict[str, float | None] = field(default_factory=dict)

    def describe_loss(self) -> str:
        return "not finite" if self.loss is None else f"{self.loss:.3g}"


@dataclass(frozen=True)
class RowInfo:
    """One model trained side by side: a run (configuration x trial x method) on one seed."""

    run: str
    seed: int
    configuration: str  # the label of the configuration (an (optimizer, method) pair when methods vary)
    optimizer: str  # registry name
    lr: float  # the initial (peak) learning rate; a schedule's rate at each step is recorded as "lr"
    method: str  # the method's label
    trial: int = 0  # the trial's index within its configuration
    # The searched knobs' values for this trial ("lr", "weight_decay", "schedule.warmup_steps", ...).
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunMetadata:
    """What is known about a run besides its records, computed once by the engine."""

    rows: tuple[RowInfo, ...] = ()
    tasks: tuple[str, ...] = ()
    # Whether the sharing strategy has parameters that several tasks train (only
    # then are gradient-conflict cosines recorded); None: not known (an old saved run).
    has_shared_parameters: bool | None = None
    parameters: int = 0  # trainable parameters of one row's model
    shared_parameters: int = 0  # of which shared between tasks
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    divergences: tuple[Divergence, ...] = ()
    batch_size: int = 0  # examples per step (the x-axis of examples seen); 0: not known (an old saved run)
    train_examples: int = 0  # rows of the training split (an epoch); 0: none (Toy 2D) or not known
    test_examples: int = 0  # rows of the test split, read only by the final report; 0: no test split

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.run for row in self.rows))

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(row.seed for row in self.rows))

    def seeds_of(self, run: str) -> int:
        return sum(row.run == run for row in self.rows)

    def diverged_runs(self) -> dict[str, dict[int, int]]:
        """run -> {seed: step at which that seed diverged}."""
        out: dict[str, dict[int, int]] = {}
        for event in self.divergences:
            out.setdefault(event.run, {})[event.seed] = event.step
        return out

    def first_divergence(self, run: str) -> Divergence | None:
        """The earliest divergence among a run's seeds (where the charts mark the run)."""
        events = [e for e in self.divergences if e.run == run]
        return min(events, key=lambda e: (e.step, e.seed)) if events else None

    def with_divergences(self, events: tuple[Divergence, ...]) -> RunMetadata:
        return replace(self, divergences=tuple(events))

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["divergences"] = [_jsonable_event(asdict(e)) for e in self.divergences]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunMetadata:
        """Read back what to_dict wrote; ValueError naming the key when it is damaged."""
        if not isinstance(data, dict):
            raise ValueError(f"metadata: expected an object, found {type(data).__name__}")
        try:
            rows = tuple(
                RowInfo(
                    str(r["run"]),
                    int(r["seed"]),
                    str(r["configuration"]),
                    str(r["optimizer"]),
                    float(r["lr"]),
                    str(r["method"]),
                    int(r.get("trial", 0)),
                    {str(k): _hyperparameter(v) for k, v in (r.get("hyperparameters") or {}).items()},
                )
                for r in data.get("rows", [])
            )
            events = tuple(
                Divergence(
                    str(e["run"]),
                    int(e["seed"]),
                    int(e["step"]),
                    str(e.get("task", "")),
                    _number_or_none(e.get("loss")),
                    {str(k): _number_or_none(v) for k, v in (e.get("losses") or {}).items()},
                )
                for e in data.get("divergences", [])
            )
            shared = data.get("has_shared_parameters")
            return cls(
                rows=rows,
                tasks=tuple(str(t) for t in data.get("tasks", [])),
                has_shared_parameters=shared if isinstance(shared, bool) else None,
                parameters=int(data.get("parameters", 0)),
                shared_parameters=int(data.get("shared_parameters", 0)),
                device=str(data.get("device", "")),
                versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
                divergences=events,
                batch_size=int(data.get("batch_size", 0)),
                train_examples=int(data.get("train_examples", 0)),
                test_examples=int(data.get("test_examples", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"metadata: expected rows and divergences as written by mtlviz, found {exc!r}") from None


def _hyperparameter(value: Any) -> float | tuple[float, ...]:
    """A searched value read back: a number, or a pair (betas)."""
    if isinstance(value, list | tuple):
        return tuple(float(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a hyperparameter must be a number or a pair of numbers, found {value!r}")
    return value


def _number_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _jsonable_event(event: dict[str, Any]) -> dict[str, Any]:
    event["loss"] = _number_or_none(event["loss"])
    event["losses"] = {k: _number_or_none(v) for k, v in event["losses"].items()}
    return event


def without_clocks(records: pd.DataFrame) -> pd.DataFrame:
    """The records two runs of the same config share: no seconds column, no metric read off a clock."""
    kept = records[~records["metric"].astype(str).isin(TIMED_METRICS)]
    return kept.drop(columns="seconds").reset_index(drop=True)
