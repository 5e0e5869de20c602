"""Multi-task methods: loss weightings and gradient combinations.

Torch-free at import: the package exports the specs (`METHODS`, one
`MethodSpec` per method, in registry.py), which the config and the UI read.
Each method's file (pcgrad.py, dwa.py, ...) holds its pure batched callable,
testable on hand-made tensors, and its method object (`base.Method`), which
`MethodSpec.build` imports when the engine builds one. Every callable works
on k independent training rows at once: losses and weights are (k, T),
per-task gradients on the shared parameters (k, T, P).
"""

from mtlviz.methods.registry import METHODS
from mtlviz.methods.spec import KINDS, MethodContext, MethodSpec

__all__ = ["KINDS", "METHODS", "MethodContext", "MethodSpec"]
