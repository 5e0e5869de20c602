"""Fixtures for the method tests: a brute-force grid over the simplex, the reference for the solvers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


def _simplex_grid(num_tasks: int, steps: int) -> torch.Tensor:
    """(N, T) every point of the simplex whose coordinates are multiples of 1 / steps (float64).

    Stars and bars: T - 1 bars among steps + T - 1 slots split the steps into T parts.
    """
    slots = steps + num_tasks - 1
    bars = torch.combinations(torch.arange(slots), num_tasks - 1)  # (N, T - 1), increasing
    edges = torch.cat([torch.full((len(bars), 1), -1), bars, torch.full((len(bars), 1), slots)], 1)
    return (edges.diff(dim=1) - 1).double() / steps


@pytest.fixture
def simplex_grid() -> Callable[[int, int], torch.Tensor]:
    return _simplex_grid
