"""Figures about the data itself, shown before training."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.figure import TEMPLATE_LAYOUT, build_figure, compact
from mtlviz.charts.text import plotly_text


def correlation_heatmap(correlation: pd.DataFrame) -> go.Figure:
    """Correlation between targets, a hint of how related the tasks are."""
    names = [plotly_text(c) for c in correlation.columns]
    trace = {
        "type": "heatmap",
        "z": compact(correlation.to_numpy(dtype=float)),
        "x": names,
        "y": names,
        "zmin": -1,
        "zmax": 1,
        "colorscale": "RdBu",
        "reversescale": True,  # negative (opposed targets) red, as in the gradient-conflict view
        "texttemplate": "%{z:.2f}",
        "hovertemplate": "%{y} · %{x}: %{z:.3f}<extra></extra>",
        "colorbar": {"title": {"text": "r"}},
    }
    size = 140 + 60 * len(names)
    layout = {
        **TEMPLATE_LAYOUT,
        "height": size,
        "yaxis": {"autorange": "reversed"},
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
    }
    return build_figure([trace], layout)
