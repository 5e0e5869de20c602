"""The record schema: a tidy long table, one row per (run, seed, step, task, layer, metric).

`run` is the optimizer configuration's label (a swept learning rate is its own
run, "Adam lr=0.001"); `seed` is the seed of that model (its data split,
initial weights and batch order); `layer` is empty for task-level metrics;
`seconds` is wall-clock time since training started. pandas and Plotly
consume the table directly and it is written to Parquet as is.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

COLUMNS = ["run", "seed", "step", "task", "layer", "metric", "value", "seconds"]

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


# Per configuration and layer (see mtlviz/engine/statistics.py for their meaning).
LAYER_METRICS = (
    "grad_norm",
    "update_norm",
    "param_norm",
    "update_ratio",
    "effective_lr",
    "effective_lr_p10",
    "effective_lr_p90",
    "weight_decay_norm",
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
)


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
