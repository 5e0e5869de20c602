"""Registry of multi-task methods by name, with the options each one takes.

Two kinds of method: a "weighting" sets per-task weights w (K, T) and the engine
minimises sum_t w_t L_t; a "combination" replaces the summed task gradients on
the shared parameters by a direction built from the per-task gradients. The
spec says what the engine has to provide (per-task gradients every step, extra
learned parameters) and what the UI shows; the callables are exported by the
package (`mtlviz.methods`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mtlviz.optim.registry import OptionSpec

KINDS = ("weighting", "combination")


@dataclass(frozen=True)
class MethodSpec:
    name: str  # registry key, lowercase
    title: str  # shown in the UI
    kind: str  # "weighting" or "combination"
    paper: str  # authors and venue of the paper the method comes from; "baseline (no paper)" for the baselines
    options: dict[str, OptionSpec] = field(default_factory=dict)
    help: str = ""  # one sentence for the UI
    # Extra parameters (per task and row) trained with the row's optimizer.
    learns_weights: bool = False
    # Needs one backward per task every step (not only every conflict_every steps).
    per_task_gradients: bool = False


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
        MethodSpec(
            "equal",
            "Equal weights",
            "weighting",
            "baseline (no paper)",
            help="Minimise the plain sum of the task losses.",
        ),
        MethodSpec(
            "static",
            "Static weights",
            "weighting",
            "baseline (no paper)",
            help="Minimise sum_t w_t L_t with each task's own weight field as w_t.",
        ),
        MethodSpec(
            "uncertainty",
            "Uncertainty weighting",
            "weighting",
            "Kendall, Gal & Cipolla, CVPR 2018",
            help="Learn one noise variance per task and weight its loss by its inverse, plus a log-variance penalty.",
            learns_weights=True,
        ),
        MethodSpec(
            "dwa",
            "Dynamic Weight Average",
            "weighting",
            "Liu, Johns & Davison, CVPR 2019",
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
            help="Project each task's gradient off the gradients it conflicts with, then sum them.",
            per_task_gradients=True,
        ),
        MethodSpec(
            "mgda",
            "MGDA",
            "combination",
            "Sener & Koltun, NeurIPS 2018",
            help="Step along the minimum-norm convex combination of the task gradients, which helps every task.",
            per_task_gradients=True,
        ),
        MethodSpec(
            "cagrad",
            "CAGrad",
            "combination",
            "Liu et al., NeurIPS 2021",
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
