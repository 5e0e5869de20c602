"""Learning-rate sensitivity: final validation loss against the learning rate.

One panel per task, one line per configuration through the learning rates it
swept. A flat, wide valley means the configuration forgives a badly chosen lr;
a narrow one means it needs tuning. With several seeds each point is the mean
over seeds with a std error bar (population std, as in charts/seeds.py).

A point says what it rests on: a filled marker is the mean of every seed; an
open circle the mean of the seeds that did not diverge ("partly diverged, mean
of 1 of 3 seeds"), with no error bar from a single seed; an x at the top of
the panel an lr at which every seed diverged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import configuration_colors
from mtlviz.charts.figure import build_figure, compact, empty_figure, legend_key, panel_grid, set_axes
from mtlviz.charts.text import plotly_text, template_text

FINAL_COLUMNS = ("run", "task", "val_loss")
ROW_COLUMNS = ("run", "configuration", "lr")


def lr_sensitivity(
    final: pd.DataFrame,
    rows: pd.DataFrame,
    tasks: Sequence[str],
    best: dict[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Final validation loss against learning rate, per task (log-log).

    final: columns run, seed (optional), task, val_loss: each run and seed's
    final validation loss, NaN where it diverged. rows: columns run,
    configuration, lr: one row per run. An lr at which every seed diverged is
    an x at the top of the panel; an lr at which some seeds diverged is the mean
    of the others, an open circle whose hover says on how many seeds it rests.
    best maps a configuration to its best run, marked with a star. colors maps
    runs to their colours (as in the run's other charts): a configuration takes
    its first run's colour.
    """
    _require(final, FINAL_COLUMNS, "final")
    _require(rows, ROW_COLUMNS, "rows")
    points = _points(final, rows, tasks)
    if points.empty or not np.isfinite(points["mean"]).any():
        return empty_figure("No final validation loss yet: it is measured when a run finishes.")
    configurations = list(dict.fromkeys(rows["configuration"].astype(str)))
    colors = configuration_colors(rows, configurations, colors)
    best_runs = {str(run) for run in (best or {}).values()}
    layout, panels = panel_grid(
        list(tasks), cols=2 if len(tasks) <= 4 else 3, x_title="learning rate", y_title="final validation loss"
    )
    traces: list[dict] = []
    shown: set[str] = set()
    kinds: set[str] = set()  # which divergence markers are drawn, for their legend keys
    for task, panel in zip(tasks, panels):
        in_panel = points[points["task"] == task]
        top, low = _top(in_panel), _bottom(in_panel)
        if top is not None and low is not None:
            # Room above the highest point for the diverged markers at the top edge.
            axis = "yaxis" + panel.yaxis.removeprefix("y")
            margin = 0.05 * (np.log10(top) - low or 1)
            layout[axis] = {**layout[axis], "type": "log", "range": [low - margin, np.log10(top) + margin]}
        for configuration in configurations:
            line = in_panel[in_panel["configuration"] == configuration].sort_values("lr", kind="stable")
            if line.empty:
                continue
            finite = line[np.isfinite(line["mean"])]
            color = colors[configuration]
            if not finite.empty:
                show = configuration not in shown
                shown.add(configuration)
                traces.append(_line(finite, configuration, color, panel, show))
                marked = finite[finite["run"].isin(best_runs)]
                if not marked.empty:
                    traces.append(_best(marked, configuration, color, panel))
                partly = finite[finite["good"] < finite["seeds"]]
                if not partly.empty:
                    traces.append(_partly(partly, configuration, color, panel))
                    kinds.add("partly")
            failed = line[~np.isfinite(line["mean"])]
            if not failed.empty:
                traces.append(_diverged(failed, configuration, color, panel, top))
                kinds.add("wholly")
    traces += [_key(kind) for kind in ("partly", "wholly") if kind in kinds]
    set_axes(layout, "x", type="log")
    set_axes(layout, "y", type="log")
    layout["legend"] = {"title": {"text": "configuration"}, "x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "lr_sensitivity"
    return build_figure(traces, layout)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"expected columns {', '.join(columns)} in {name}, found {', '.join(map(str, frame.columns))}")


def _points(final: pd.DataFrame, rows: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """One row per (task, run): configuration, lr, mean, std, low (lowest seed), seeds, diverged seeds."""
    final = final[final["task"].astype(str).isin([str(t) for t in tasks])]
    table = pd.DataFrame(
        {
            "run": final["run"].astype(str).to_numpy(),
            "task": final["task"].astype(str).to_numpy(),
            "value": final["val_loss"].to_numpy(dtype=np.float64),
        }
    )
    # A non-finite loss (diverged) or a non-positive one (off a log axis) has no point.
    good = np.isfinite(table["value"]) & (table["value"] > 0)
    table["good"] = good
    table["kept"] = table["value"].where(good)
    grouped = table.groupby(["task", "run"], sort=False)
    points = pd.DataFrame(
        {
            "mean": grouped["kept"].mean(),
            # No spread from fewer than two seeds: one seed's std is no measurement.
            "std": grouped["kept"].std(ddof=0).where(grouped["good"].sum() > 1),
            "low": grouped["kept"].min(),
            "seeds": grouped["value"].size(),
            "good": grouped["good"].sum(),
        }
    ).reset_index()
    runs = pd.DataFrame(
        {
            "run": rows["run"].astype(str).to_numpy(),
            "configuration": rows["configuration"].astype(str).to_numpy(),
            "lr": rows["lr"].to_numpy(dtype=np.float64),
        }
    ).drop_duplicates("run")
    return points.merge(runs, on="run", how="inner")


def _top(points: pd.DataFrame) -> float | None:
    """The panel's highest point, error bar included (data units); None with none finite."""
    finite = points[np.isfinite(points["mean"])]
    if finite.empty:
        return None
    return float((finite["mean"] + finite["std"].fillna(0)).max()) * 1.5


def _bottom(points: pd.DataFrame) -> float | None:
    """log10 of the panel's lowest drawn value, error bar included."""
    finite = points[np.isfinite(points["mean"])]
    if finite.empty:
        return None
    return float(np.log10(_lower(finite).min()))


def _lower(points: pd.DataFrame) -> pd.Series:
    """Lower end of each error bar: mean - std, or the lowest seed where that is not positive."""
    low = points["mean"] - points["std"].fillna(0)
    return low.where(low > 0, points["low"])


def _hover(points: pd.DataFrame) -> list[str]:
    text = []
    for run, mean, std, seeds, good in points[["run", "mean", "std", "seeds", "good"]].itertuples(index=False):
        line = f"{plotly_text(run)}<br>final val loss {mean:.4g}"
        if good > 1:
            line += f" ± {std:.2g}"
        if good < seeds:
            line += f"<br>partly diverged: mean of {good} of {seeds} seeds ({seeds - good} diverged)"
        elif good > 1:
            line += f" (mean of {good} seeds)"
        text.append(line)
    return text


def _line(points: pd.DataFrame, configuration: str, color: str, panel, show: bool) -> dict:
    trace = {
        "type": "scatter",
        "x": compact(points["lr"].to_numpy()),
        "y": compact(points["mean"].to_numpy()),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        # A configuration run at one lr is a point, not a line.
        "mode": "lines+markers" if len(points) > 1 else "markers",
        "name": plotly_text(configuration),
        "legendgroup": configuration,
        "showlegend": show,
        "line": {"color": color, "width": 1.6},
        "marker": {"size": 8, "color": color},
        "text": _hover(points),
        "hovertemplate": f"<b>{template_text(configuration)}</b><br>lr %{{x:.3g}}<br>%{{text}}<extra></extra>",
    }
    if (points["good"] > 1).any():
        std = points["std"].fillna(0).to_numpy()
        trace["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": compact(std),
            # On the log axis the bar stops at the lowest seed rather than at or below zero.
            "arrayminus": compact((points["mean"] - _lower(points)).to_numpy()),
            "color": color,
            "thickness": 1.2,
            "width": 4,
        }
    return trace


def _best(points: pd.DataFrame, configuration: str, color: str, panel) -> dict:
    return {
        "type": "scatter",
        "x": compact(points["lr"].to_numpy()),
        "y": compact(points["mean"].to_numpy()),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        "mode": "markers",
        "name": f"{plotly_text(configuration)} best lr",
        "legendgroup": configuration,
        "showlegend": False,
        "marker": {"symbol": "star", "size": 17, "color": color, "line": {"color": "white", "width": 1}},
        "text": [f"{plotly_text(run)}: best lr" for run in points["run"]],
        "hovertemplate": f"<b>{template_text(configuration)}</b> best lr %{{x:.3g}}<br>%{{text}}<extra></extra>",
    }


def _diverged(points: pd.DataFrame, configuration: str, color: str, panel, top: float | None) -> dict:
    """An x at the top edge of the panel for each lr at which every seed diverged."""
    return {
        "type": "scatter",
        "x": compact(points["lr"].to_numpy()),
        "y": compact(np.full(len(points), top if top is not None else 1.0)),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        "mode": "markers",
        "name": f"{plotly_text(configuration)} diverged",
        "legendgroup": configuration,
        "showlegend": False,
        "marker": {"symbol": "x", "size": 11, "color": color},
        "text": [f"{plotly_text(run)}: diverged" for run in points["run"]],
        "hovertemplate": f"<b>{template_text(configuration)}</b> lr %{{x:.3g}}<br>%{{text}}<extra></extra>",
    }


def _partly(points: pd.DataFrame, configuration: str, color: str, panel) -> dict:
    """An open circle around each point that is the mean of only some seeds: the others diverged."""
    return {
        "type": "scatter",
        "x": compact(points["lr"].to_numpy()),
        "y": compact(points["mean"].to_numpy()),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        "mode": "markers+text",
        "name": f"{plotly_text(configuration)} partly diverged",
        "legendgroup": configuration,
        "showlegend": False,
        "marker": {"symbol": "circle-open", "size": 16, "color": color, "line": {"width": 2}},
        # On the chart, not only in the hover: what the point rests on.
        "text": [f"{good} of {seeds} seeds" for good, seeds in zip(points["good"], points["seeds"])],
        "textposition": "middle left",
        "textfont": {"color": color, "size": 11},
        "hovertext": _hover(points),
        "hovertemplate": f"<b>{template_text(configuration)}</b><br>lr %{{x:.3g}}<br>%{{hovertext}}<extra></extra>",
    }


KEYS = {
    "partly": ("circle-open", "partly diverged: mean of the seeds that did not diverge"),
    "wholly": ("x", "every seed diverged (at the top)"),
}


def _key(kind: str) -> dict:
    """A legend entry (no data) that says what a divergence marker means."""
    return legend_key(kind, *KEYS[kind])
