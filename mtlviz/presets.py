"""Classroom presets: ready-made experiments that each show one effect.

Every preset is an ordinary ExperimentConfig plus a two-sentence explanation of
what to look at in the charts and why it happens, and a pace. Each trains in a
few seconds on a laptop CPU, uses only settings the sidebar can show, and its
explanation states only effects that tests/test_presets.py checks by training it.
The pace (steps per second) slows the dashboard's run so the curves develop over
tens of seconds in class; it is not part of the experiment (the numbers are the
same at any pace) and the CLI always trains at full speed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mtlviz.config import (
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)

# The dashboard's pace choices, in steps per second; 0 is full speed.
PACES = (0, 100, 50, 20, 10)
CLASSROOM_PACE = 50  # 800-1,500 steps take 16-30 s: long enough to watch the curves form


@dataclass(frozen=True)
class Preset:
    key: str  # lowercase snake_case, the key in PRESETS
    title: str
    explanation: str  # two sentences: what to look at, and why it happens
    config: ExperimentConfig
    pace: int = CLASSROOM_PACE  # steps per second in the dashboard, one of PACES


def _sgd_vs_adam_vs_adamw() -> Preset:
    return Preset(
        key="sgd_vs_adam_vs_adamw",
        title="SGD vs Adam vs AdamW",
        explanation=(
            "In the Loss view SGD drops fastest at first and then crawls, while Adam, which scales every "
            "parameter's step by that parameter's own gradient history, catches up and ends below SGD. "
            "AdamW is Adam plus decoupled weight decay, here a deliberately strong 10 that shrinks every weight by "
            "lr × 10 = 1% of itself per step, so its weights stay about half as large as Adam's (weight norm, "
            "Updates view) and its loss levels off more than ten times higher; with decay 0 it would lie exactly "
            "on Adam's curve."
        ),
        config=ExperimentConfig(
            tasks=SyntheticTasks(),
            model=ModelConfig(sharing="hard", hidden=64),
            optimizers=(
                OptimizerConfig("sgd", 0.05, "SGD"),
                OptimizerConfig("adam", 1e-3, "Adam"),
                # Decay 0.1 (the usual default) would leave AdamW on top of Adam for the whole run: too little to see.
                OptimizerConfig("adamw", 1e-3, "AdamW, decay 10", {"weight_decay": 10.0}),
            ),
            train=TrainConfig(steps=800),
        ),
    )


def _loss_scale_imbalance() -> Preset:
    return Preset(
        key="loss_scale_imbalance",
        title="Adam vs SGD under loss-scale imbalance",
        explanation=(
            "Task A's loss is multiplied by 100, so its gradients are 100 times larger and SGD needs a learning "
            "rate small enough for them (at 0.01 it diverges), which leaves task B learning slowly: in the Loss "
            "view task B's validation loss ends more than twice as high with SGD as with Adam. "
            "Adam divides each parameter's step by that parameter's own running gradient size, so task B's head "
            "takes full-size steps however large task A's loss is."
        ),
        config=ExperimentConfig(
            tasks=SyntheticTasks(targets=(TaskSpec("task A", loss_scale=100.0), TaskSpec("task B"))),
            model=ModelConfig(sharing="hard", hidden=64),
            # 0.002 is about the largest rate at which SGD stays stable on task A.
            optimizers=(OptimizerConfig("sgd", 0.002, "SGD"), OptimizerConfig("adam", 1e-3, "Adam")),
            train=TrainConfig(steps=800),
        ),
    )


def _adamw_vs_adam() -> Preset:
    return Preset(
        key="adamw_vs_adam",
        title="AdamW vs Adam with weight decay",
        explanation=(
            "Adam with decay 0.1 adds the decay to the gradient, which Adam then divides by √v̂, tiny once "
            "gradients are small, so the decay is magnified: in the Updates view its weight-decay part is tens of "
            "times AdamW's, its trunk weight norm ends several times smaller, and its validation loss stays higher. "
            "AdamW applies the same 0.1 outside the adaptive step, shrinking each weight by lr × 0.1 of itself "
            "per step, so its weights end only slightly smaller than those of Adam without decay and it fits as well."
        ),
        config=ExperimentConfig(
            tasks=SyntheticTasks(),
            model=ModelConfig(sharing="hard", hidden=64),
            optimizers=(
                OptimizerConfig("adam", 1e-3, "Adam, no decay"),
                OptimizerConfig("adam", 1e-3, "Adam, decay 0.1", {"weight_decay": 0.1}),
                OptimizerConfig("adamw", 1e-3, "AdamW, decay 0.1", {"weight_decay": 0.1}),
            ),
            train=TrainConfig(steps=1000),
        ),
    )


def _related_vs_conflicting() -> Preset:
    return Preset(
        key="related_vs_conflicting",
        title="Related vs conflicting tasks",
        explanation=(
            "The two tasks differ (relatedness −0.9: their directions are nearly opposite) yet must share a narrow "
            "trunk of 8 units, so they compete for it: in the Conflict view the cosine between their gradients on "
            "the trunk is negative most of the time, meaning a step for one task partly undoes the other's. "
            "Set relatedness to 1 (two copies of the same task) and run again: with nothing to compete over, the "
            "gradients agree and the cosine stays mostly positive."
        ),
        config=ExperimentConfig(
            tasks=SyntheticTasks(relatedness=-0.9),
            # A narrow trunk makes the tasks compete; at width 32 and more the conflict mostly fades.
            model=ModelConfig(sharing="hard", hidden=8),
            optimizers=(OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("adam", 1e-3, "Adam")),
            # Which steps conflict varies with the seed: over seeds 0-4, SGD's cosine is negative at 66-90% of
            # the measured steps and Adam's at 31-84%; seed 3 shows both clearly (90% and 84%).
            train=TrainConfig(steps=800, seed=3),
        ),
    )


def _hard_vs_soft() -> Preset:
    return Preset(
        key="hard_vs_soft",
        title="Hard vs soft sharing",
        explanation=(
            "Soft sharing gives each task its own network and only pulls the networks towards their mean "
            "(coupling 0.1), which acts as a regulariser on this small data set: in the Loss view the gap between "
            "training and validation loss stays smaller than with hard sharing. "
            "Switch the sharing strategy to hard and run again: the shared trunk fits the 160 training rows "
            "more closely, but its validation loss ends higher."
        ),
        config=ExperimentConfig(
            # Few, noisy samples: where the choice of sharing shows in generalisation.
            tasks=SyntheticTasks(num_samples=200, noise_std=0.1),
            model=ModelConfig(sharing="soft", hidden=32, coupling=0.1),
            optimizers=(OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("adam", 1e-3, "Adam")),
            train=TrainConfig(steps=1000),
        ),
    )


def _methods_vs_optimizer() -> Preset:
    return Preset(
        key="methods_vs_optimizer",
        title="MTL methods vs a better optimizer (toy 2D)",
        explanation=(
            "With SGD at a safe learning rate none of the three methods gets off the flat upper half of the "
            "Toy 2D landscape in 1,500 steps, while Adam with plain equal weights already descends into the valley: "
            "here the optimizer matters more than the method. "
            "Among the Adam runs MGDA ends closest to the middle of the Pareto set (the white line in the Loss "
            "space view), giving up a little of task L2 for much more of task L1."
        ),
        config=ExperimentConfig(
            tasks=Toy2DTasks(start=(-8.5, 7.5)),  # the papers' top-left start
            optimizers=(OptimizerConfig("sgd", 1e-3, "SGD"), OptimizerConfig("adam", 1e-2, "Adam")),
            methods=(MethodConfig("equal"), MethodConfig("mgda"), MethodConfig("cagrad")),
            train=TrainConfig(steps=1500, eval_every=100),
        ),
    )


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        _sgd_vs_adam_vs_adamw(),
        _loss_scale_imbalance(),
        _adamw_vs_adam(),
        _related_vs_conflicting(),
        _hard_vs_soft(),
        _methods_vs_optimizer(),
    )
}


def preset_names() -> dict[str, str]:
    """Preset key -> title, in display order."""
    return {key: preset.title for key, preset in PRESETS.items()}


def warm_up_config() -> ExperimentConfig:
    """The run a class starts with (the first preset), shortened to 30 steps: what the server and
    each worker train once to pay for torch's lazy set-up before a person presses Start."""
    first = next(iter(PRESETS.values())).config
    train = dataclasses.replace(first.train, steps=30, eval_every=10, stats_every=10, conflict_every=10)
    return dataclasses.replace(first, train=train)
