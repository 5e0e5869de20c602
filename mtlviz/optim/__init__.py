"""Optimizers (torch.optim only, never re-implemented): one spec each, in the registry. Torch-free at import."""

from mtlviz.optim.registry import OPTIMIZERS, OptimizerSpec, build_optimizer
from mtlviz.options import OptionSpec

__all__ = ["OPTIMIZERS", "OptimizerSpec", "OptionSpec", "build_optimizer"]
