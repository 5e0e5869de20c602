"""Shared fixtures. Tests run on the CPU unless MTLVIZ_TEST_DEVICE names another device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("MTLVIZ_TEST_DEVICE", "cpu")


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
