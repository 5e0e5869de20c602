"""Plotly figure builders: pure functions from a records DataFrame to a go.Figure."""

from mtlviz.charts.colors import run_colors
from mtlviz.charts.loss_curves import loss_curves
from mtlviz.charts.seeds import SeedSummary, aggregate_seeds
from mtlviz.charts.sensitivity import lr_sensitivity

__all__ = ["SeedSummary", "aggregate_seeds", "loss_curves", "lr_sensitivity", "run_colors"]
