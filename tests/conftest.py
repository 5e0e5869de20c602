"""Shared fixtures. Tests run on the CPU unless MTLVIZ_TEST_DEVICE names another device."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("MTLVIZ_TEST_DEVICE", "cpu")


def _toy2d_losses(x1: float, x2: float) -> tuple[float, float]:
    """The toy2d losses written out with the math module, term by term as the paper states them,
    independently of the package (the reference for mtlviz/models/toy2d.py and the engine)."""
    f1 = math.log(max(abs(0.5 * (-x1 - 7) - math.tanh(-x2)), 5e-6)) + 6
    f2 = math.log(max(abs(0.5 * (-x1 + 3) + math.tanh(-x2) + 2), 5e-6)) + 6
    g1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    g2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    c1 = max(math.tanh(x2 / 2), 0.0)
    c2 = max(math.tanh(-x2 / 2), 0.0)
    return c1 * f1 + c2 * g1, c1 * f2 + c2 * g2


@pytest.fixture
def toy2d_reference() -> Callable[[float, float], tuple[float, float]]:
    return _toy2d_losses


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture
def device() -> str:
    return DEVICE


@pytest.fixture(autouse=True)
def runs_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test saves runs (dashboard jobs, CLI runs) into its own folder, never the checkout's runs/."""
    path = tmp_path / "saved-runs"
    monkeypatch.setenv("MTLVIZ_RUNS_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread, as in the dashboard's jobs: on tiny matmuls a second thread only
    adds barrier waits, badly so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
