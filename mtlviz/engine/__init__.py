"""Batched training engine, losses and the record schema."""

from mtlviz.engine.records import COLUMNS, MetricLog
from mtlviz.engine.trainer import Engine, resolve_device

__all__ = ["COLUMNS", "Engine", "MetricLog", "resolve_device"]
