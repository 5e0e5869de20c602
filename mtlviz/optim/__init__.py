"""Optimizers (torch.optim only, never re-implemented) and their option specs."""

from mtlviz.optim.registry import OPTIMIZERS, OptimizerSpec, OptionSpec, build_optimizer

__all__ = ["OPTIMIZERS", "OptimizerSpec", "OptionSpec", "build_optimizer"]
