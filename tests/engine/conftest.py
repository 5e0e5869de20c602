"""Fixtures for the engine tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig
from mtlviz.engine import Engine


def _records_of(config: ExperimentConfig) -> pd.DataFrame:
    """Every record of `config` trained to the end by the batched engine."""
    return pd.concat(list(Engine(config).run()), ignore_index=True)


@pytest.fixture
def records_of() -> Callable[[ExperimentConfig], pd.DataFrame]:
    return _records_of
