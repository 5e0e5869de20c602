"""Plotly figure builders: pure functions from a records DataFrame to a go.Figure."""

from mtlviz.charts.colors import run_colors
from mtlviz.charts.loss_curves import loss_curves

__all__ = ["loss_curves", "run_colors"]
