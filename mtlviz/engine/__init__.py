"""Batched training engine: K configurations in one stacked model, yielding records."""

from mtlviz.engine.trainer import Engine, resolve_device

__all__ = ["Engine", "resolve_device"]
