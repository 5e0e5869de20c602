"""Fixtures for the chart tests."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import pytest


def _validated(figure: go.Figure) -> go.Figure:
    """The figure itself, once Plotly has checked every property (the builders skip validation for speed)."""
    go.Figure(figure.to_dict())  # raises on any invalid property
    return figure


@pytest.fixture
def validated() -> Callable[[go.Figure], go.Figure]:
    return _validated
