"""Multi-task methods: loss weightings and gradient combinations, as pure batched callables.

Every callable works on K independent training rows at once: losses and weights
are (K, T), per-task gradients on the shared parameters (K, T, P). The registry
(`METHODS`) says which methods exist and what each one needs from the engine.
"""

from mtlviz.methods.base import Combined
from mtlviz.methods.cagrad import cagrad
from mtlviz.methods.dwa import dwa_weights
from mtlviz.methods.equal import equal_weights
from mtlviz.methods.gradnorm import gradnorm_loss, gradnorm_renormalise
from mtlviz.methods.mgda import mgda
from mtlviz.methods.pcgrad import pcgrad
from mtlviz.methods.registry import KINDS, METHODS, MethodSpec
from mtlviz.methods.static import static_weights
from mtlviz.methods.uncertainty import uncertainty_objective, uncertainty_terms

__all__ = [
    "KINDS",
    "METHODS",
    "Combined",
    "MethodSpec",
    "cagrad",
    "dwa_weights",
    "equal_weights",
    "gradnorm_loss",
    "gradnorm_renormalise",
    "mgda",
    "pcgrad",
    "static_weights",
    "uncertainty_objective",
    "uncertainty_terms",
]
