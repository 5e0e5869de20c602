"""A run on disk: a directory with config.json and metrics.parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mtlviz.config import ExperimentConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.parquet"
SUMMARY_FILE = "summary.json"


def save_run(directory: str | Path, config: ExperimentConfig, records: pd.DataFrame, summary: dict) -> Path:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_FILE).write_text(config.to_json() + "\n", encoding="utf-8")
    records.to_parquet(path / METRICS_FILE, index=False)
    (path / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def load_run(directory: str | Path) -> tuple[ExperimentConfig, pd.DataFrame]:
    path = Path(directory)
    config = ExperimentConfig.from_json((path / CONFIG_FILE).read_text(encoding="utf-8"))
    return config, pd.read_parquet(path / METRICS_FILE)
