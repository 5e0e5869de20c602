"""Building blocks shared by the figure builders: a panel grid and an unvalidated figure.

Figures are assembled as plain dicts and wrapped without Plotly's per-property
validation: for 64 traces of 2,000 points that takes 9 ms instead of 350 ms, which
matters on a live refresh. The tests run full validation on every builder's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

TEMPLATE_LAYOUT = {
    "plot_bgcolor": "white",
    "paper_bgcolor": "white",
    "font": {"size": 12},
    "hovermode": "closest",
    "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
}
AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#c8c8c8", "linecolor": "#bbbbbb", "showline": True}


@dataclass(frozen=True)
class Panel:
    xaxis: str  # trace reference: "x", "x2", ...
    yaxis: str
    row: int
    col: int


def panel_grid(
    titles: list[str] | tuple[str, ...], cols: int, row_height: int = 300, x_title: str = "step", y_title: str = ""
) -> tuple[dict, list[Panel]]:
    """A layout with one titled panel per title, `cols` per row; returns (layout, panels)."""
    n = max(1, len(titles))
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    hgap, vgap = 0.07, min(0.12, 0.35 / rows)
    width = (1 - hgap * (cols - 1)) / cols
    height = (1 - vgap * (rows - 1)) / rows
    layout: dict = {**TEMPLATE_LAYOUT, "height": max(320, row_height * rows), "annotations": []}
    panels = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (width + hgap)
        y1 = 1 - r * (height + vgap)
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"] = {
            **AXIS,
            "domain": _domain(x0, x0 + width),
            "anchor": f"y{suffix}",
            "title": {"text": x_title if r == rows - 1 or i + cols >= n else ""},
        }
        layout[f"yaxis{suffix}"] = {
            **AXIS,
            "domain": _domain(y1 - height, y1),
            "anchor": f"x{suffix}",
            "title": {"text": y_title if c == 0 else ""},
        }
        if i < len(titles):
            layout["annotations"].append(
                {
                    "text": titles[i],
                    "x": x0 + width / 2,
                    "y": y1,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 13},
                }
            )
        panels.append(Panel(f"x{suffix}", f"y{suffix}", r + 1, c + 1))
    return layout, panels


def _domain(low: float, high: float) -> list[float]:
    """Clamped to [0, 1]: the float arithmetic above can land a hair outside."""
    return [min(1.0, max(0.0, round(low, 6))), min(1.0, max(0.0, round(high, 6)))]


def set_axes(layout: dict, axis: str, **props) -> None:
    """Apply props to every x ("x") or y ("y") axis of a layout."""
    for key in list(layout):
        if key.startswith(f"{axis}axis"):
            layout[key] = {**layout[key], **props}


def build_figure(traces: list[dict], layout: dict) -> go.Figure:
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def compact(values: np.ndarray) -> np.ndarray:
    """float32 / int32 arrays: half the bytes sent to the browser, plenty of precision for a chart."""
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int32, copy=False)
    return values.astype(np.float32, copy=False)


def empty_figure(message: str, height: int = 320) -> go.Figure:
    layout = {
        **TEMPLATE_LAYOUT,
        "height": height,
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "annotations": [{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    }
    return build_figure([], layout)
