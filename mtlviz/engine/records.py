"""The record schema: a tidy long table, one row per (run, step, task, layer, metric).

`run` is the optimizer configuration's label; `layer` is empty for task-level
metrics; `seconds` is wall-clock time since training started. pandas and Plotly
consume the table directly and it is written to Parquet as is.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

COLUMNS = ["run", "step", "task", "layer", "metric", "value", "seconds"]

TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACCURACY = "val_accuracy"
VAL_R2 = "val_r2"
VAL_RMSE = "val_rmse"  # regression only, in the target's original units
TASK_GRAD_NORM = "task_grad_norm"
GRAD_COSINE = "grad_cosine"
CONFLICT_SHARE = "conflict_share"
SHARED = "shared"  # the layer value of gradient-conflict rows: all shared parameters together
PAIR_SEPARATOR = " ↔ "


def empty_records() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in COLUMNS})


def _dtype(column: str) -> str:
    return {"step": "int64", "value": "float64", "seconds": "float64"}.get(column, "object")


def grid_records(
    metric: str,
    values: np.ndarray,
    steps: np.ndarray,
    seconds: np.ndarray,
    runs: tuple[str, ...],
    names: tuple[str, ...],
    axis: str = "task",
    other: str = "",
) -> pd.DataFrame:
    """Long rows from a (S, K, N) array of one metric; non-finite values are dropped.

    The last axis is labelled by `names` in column `axis` ("task" or "layer");
    the other of the two columns holds `other`.
    """
    return stacked_records((metric,), values[:, None], steps, seconds, runs, names, axis, other)


def stacked_records(
    metrics: tuple[str, ...],
    values: np.ndarray,
    steps: np.ndarray,
    seconds: np.ndarray,
    runs: tuple[str, ...],
    names: tuple[str, ...],
    axis: str = "task",
    other: str = "",
) -> pd.DataFrame:
    """Long rows from a (S, M, K, N) array of M metrics, built in one DataFrame."""
    s, m, k, n = values.shape
    labels = np.tile(np.asarray(names, dtype=object), s * m * k)
    frame = pd.DataFrame(
        {
            "run": np.tile(np.repeat(np.asarray(runs, dtype=object), n), s * m),
            "step": np.repeat(steps, m * k * n),
            "task": labels if axis == "task" else other,
            "layer": labels if axis == "layer" else other,
            "metric": np.tile(np.repeat(np.asarray(metrics, dtype=object), k * n), s),
            "value": values.reshape(-1).astype(np.float64),
            "seconds": np.repeat(seconds, m * k * n),
        }
    )
    return frame[np.isfinite(frame["value"].to_numpy())]


class MetricLog:
    """Thread-safe, append-only store of record chunks; `frame()` is a cached concat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[pd.DataFrame] = []
        self._cache: pd.DataFrame | None = None
        self.version = 0  # bumps on every append, so readers can skip redraws

    def append(self, chunk: pd.DataFrame) -> None:
        if chunk.empty:
            return
        with self._lock:
            self._chunks.append(chunk)
            self._cache = None
            self.version += 1

    def frame(self) -> pd.DataFrame:
        with self._lock:
            if self._cache is None:
                self._cache = pd.concat(self._chunks, ignore_index=True) if self._chunks else empty_records()
                self._chunks = [self._cache]
            return self._cache
