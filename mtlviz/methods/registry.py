"""The multi-task methods by name: one spec each (mtlviz/methods/spec.py), nothing else.

Adding a method means adding its file (the pure callable and the method object,
`mtlviz.methods.base.Method`) and one spec here; no other file names it.
"""

from __future__ import annotations

from mtlviz.methods.spec import MethodSpec
from mtlviz.options import OptionSpec

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
        MethodSpec(
            "equal",
            "Equal weights",
            "weighting",
            "baseline (no paper)",
            "mtlviz.methods.equal:Equal",
            help="Minimise the plain sum of the task losses.",
            adapts_weights=False,
        ),
        MethodSpec(
            "static",
            "Static weights",
            "weighting",
            "baseline (no paper)",
            "mtlviz.methods.static:Static",
            help="Minimise sum_t w_t L_t with each task's own weight field as w_t.",
            adapts_weights=False,
        ),
        MethodSpec(
            "uncertainty",
            "Uncertainty weighting",
            "weighting",
            "Kendall, Gal & Cipolla, CVPR 2018",
            "mtlviz.methods.uncertainty:Uncertainty",
            help="Learn one noise variance per task and weight its loss by its inverse, plus a log-variance penalty.",
            learns_weights=True,
        ),
        MethodSpec(
            "dwa",
            "Dynamic Weight Average",
            "weighting",
            "Liu, Johns & Davison, CVPR 2019",
            "mtlviz.methods.dwa:DWA",
            {
                "temperature": OptionSpec(
                    "float", 2.0, 0.1, 100.0, True, "Softmax temperature: larger gives more equal weights."
                )
            },
            help="Weight each task by how slowly its loss has been falling over the last two windows.",
        ),
        MethodSpec(
            "gradnorm",
            "GradNorm",
            "weighting",
            "Chen et al., ICML 2018",
            "mtlviz.methods.gradnorm:GradNorm",
            {
                "alpha": OptionSpec(
                    "float", 1.5, 0.0, 5.0, True, "Pull towards tasks that train slower: 0 equalises gradient norms."
                )
            },
            help="Learn task weights that balance the gradient norms on the last shared layer with training rates.",
            learns_weights=True,
            per_task_gradients=True,
        ),
        MethodSpec(
            "pcgrad",
            "PCGrad",
            "combination",
            "Yu et al., NeurIPS 2020",
            "mtlviz.methods.pcgrad:PCGrad",
            help="Project each task's gradient off the gradients it conflicts with, then sum them.",
            per_task_gradients=True,
        ),
        MethodSpec(
            "mgda",
            "MGDA",
            "combination",
            "Sener & Koltun, NeurIPS 2018",
            "mtlviz.methods.mgda:MGDA",
            help="Step along the minimum-norm convex combination of the task gradients, which helps every task.",
            per_task_gradients=True,
        ),
        MethodSpec(
            "cagrad",
            "CAGrad",
            "combination",
            "Liu et al., NeurIPS 2021",
            "mtlviz.methods.cagrad:CAGrad",
            {
                "c": OptionSpec(
                    "float", 0.5, 0.0, 1.0, False, "Radius around the mean gradient: 0 gives the mean gradient."
                )
            },
            help="Take the update near the mean gradient that most helps the task it helps least.",
            per_task_gradients=True,
        ),
    ]
}
