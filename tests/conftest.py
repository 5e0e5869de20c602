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
