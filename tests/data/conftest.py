"""Fixtures for the data tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def _line_of(text: str, row: str) -> int:
    """The 1-based file line whose whole text is `row`."""
    return text.split("\n").index(row) + 1


@pytest.fixture
def line_of() -> Callable[[str, str], int]:
    return _line_of
