"""Per-task loss curves: one panel per task, one colour per configuration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mtlviz.charts.colors import run_colors
from mtlviz.charts.downsample import downsample, ema

SPLITS = ("train", "validation", "both")


def loss_curves(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    split: str = "both",
    log_y: bool = True,
    smoothing: float = 0.0,
    diverged: dict[str, int] | None = None,
    step_range: tuple[int, int] | None = None,
) -> go.Figure:
    """Loss against step per task.

    Train loss is drawn as a line (EMA-smoothed by `smoothing`), validation loss
    as a dashed line with markers; a configuration that diverged ends in an x
    marked "diverged at step N".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, found {split!r}")
    diverged = diverged or {}
    colors = run_colors(runs)
    cols = min(len(tasks), 2 if len(tasks) <= 4 else 3) or 1
    rows = max(1, math.ceil(len(tasks) / cols))
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=list(tasks), horizontal_spacing=0.08, vertical_spacing=0.12
    )
    metrics = {"train": ["train_loss"], "validation": ["val_loss"], "both": ["train_loss", "val_loss"]}[split]
    data = records[records["metric"].isin(metrics)]
    if step_range is not None:
        data = data[data["step"].between(*step_range)]
    shown: set[str] = set()
    groups = {key: frame for key, frame in data.groupby(["task", "run", "metric"], sort=False, observed=True)}
    for t, task in enumerate(tasks):
        row, col = t // cols + 1, t % cols + 1
        for run in runs:
            for metric in metrics:
                frame = groups.get((task, run, metric))
                if frame is None or frame.empty:
                    continue
                x = frame["step"].to_numpy()
                y = frame["value"].to_numpy()
                is_train = metric == "train_loss"
                if is_train:
                    y = ema(y, smoothing)
                x, y = downsample(x, y)
                shown_now = run not in shown
                shown.add(run)
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        mode="lines" if is_train else "lines+markers",
                        name=run,
                        legendgroup=run,  # one legend entry toggles a configuration everywhere
                        showlegend=shown_now,
                        line={"color": colors[run], "width": 1.6, "dash": None if is_train else "dash"},
                        marker={"size": 4},
                        opacity=0.95 if is_train else 0.85,
                        hovertemplate=f"{run}<br>step %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
                    ),
                    row=row,
                    col=col,
                )
            if run in diverged:
                _mark_divergence(fig, records, run, task, diverged[run], colors[run], row, col)
    # dtick=1 on a log axis: one labelled tick per decade, not the cluttered 2s and 5s.
    if log_y:
        fig.update_yaxes(type="log", dtick=1)
    else:
        fig.update_yaxes(type="linear")
    fig.update_yaxes(title_text="loss", col=1)
    fig.update_xaxes(title_text="step", row=rows)
    fig.update_layout(
        height=max(320, 300 * rows),
        margin={"l": 60, "r": 10, "t": 40, "b": 40},
        legend={"title": {"text": "solid: train<br>dashed: validation"}, "x": 1.01, "y": 1, "yanchor": "top"},
        hovermode="closest",
        uirevision="loss_curves",  # keeps legend toggles across live refreshes
        template="plotly_white",
    )
    return fig


def _mark_divergence(
    fig: go.Figure, records: pd.DataFrame, run: str, task: str, step: int, color: str, row: int, col: int
) -> None:
    last = records[(records["run"] == run) & (records["task"] == task) & (records["metric"] == "train_loss")]
    if last.empty:
        return
    y = float(last["value"].iloc[-1])
    fig.add_trace(
        go.Scatter(
            x=np.array([step]),
            y=np.array([y]),
            mode="markers+text",
            marker={"symbol": "x", "size": 12, "color": color},
            text=[f"diverged at step {step}"],
            textposition="top center",
            showlegend=False,
            hovertemplate=f"{run} diverged at step {step}<extra></extra>",
        ),
        row=row,
        col=col,
    )
