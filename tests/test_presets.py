"""Classroom presets: valid configs with two-sentence explanations, and each explanation's claim holds in training."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig, OptimizerConfig
from mtlviz.engine.trainer import Engine
from mtlviz.presets import PACES, PRESETS
from mtlviz.share import decode_config, encode_config

VIEWS = ("Loss view", "Updates view", "Conflict view", "Loss space view", "Task weights view")


pytestmark = pytest.mark.usefixtures("one_thread")  # as in the dashboard's jobs


def train(config: ExperimentConfig, **train_fields: object) -> tuple[Engine, pd.DataFrame]:
    """Train `config` (with train settings replaced by `train_fields`) and return its engine and records."""
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, device="cpu", **train_fields))
    engine = Engine(config)
    return engine, pd.concat(list(engine.run()), ignore_index=True)


def task_values(records: pd.DataFrame, metric: str, step: int) -> pd.DataFrame:
    """run x task table of one metric at one step."""
    rows = records[(records["metric"] == metric) & (records["step"] == step)]
    return rows.pivot_table(index="run", columns="task", values="value", observed=True)


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text.strip())


# ------------------------------------------------------------------------ the catalogue


@pytest.mark.parametrize("key", list(PRESETS))
def test_preset_is_valid_and_round_trips(key: str) -> None:
    preset = PRESETS[key]
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key)
    assert preset.title.strip() == preset.title and preset.title
    config = preset.config
    back = ExperimentConfig.from_json(config.to_json())
    assert back == config and back.to_json() == config.to_json()
    assert decode_config(encode_config(config)) == config
    assert 300 <= config.train.steps <= 1500  # a few seconds on a laptop CPU
    assert config.train.device == "auto"


@pytest.mark.parametrize("key", list(PRESETS))
def test_explanation_is_two_sentences_that_point_at_a_view(key: str) -> None:
    text = PRESETS[key].explanation
    parts = sentences(text)
    assert len(parts) == 2, parts
    for part in parts:
        assert part[0].isupper() and part.endswith("."), part
    assert any(view in text for view in VIEWS), text
    assert "e.g." not in text and "i.e." not in text  # abbreviations would hide a third sentence


def test_the_first_preset_compares_sgd_adam_and_adamw() -> None:
    key, preset = next(iter(PRESETS.items()))
    assert key == "sgd_vs_adam_vs_adamw" and preset.title == "SGD vs Adam vs AdamW"
    assert [o.name for o in preset.config.optimizers] == ["sgd", "adam", "adamw"]


@pytest.mark.parametrize("key", list(PRESETS))
def test_presets_train_at_a_pace_you_can_watch(key: str) -> None:
    preset = PRESETS[key]
    assert preset.pace in PACES and preset.pace  # steps per second; 0 would be full speed
    assert 10 <= preset.config.train.steps / preset.pace <= 60  # seconds: tens of them, in class


def test_sentence_splitting_counts_sentences() -> None:
    assert len(sentences("One (at 0.01 it fails). Two: lr × 0.1 of itself.")) == 2
    assert len(sentences("One. Two. Three.")) == 3


# ------------------------------------------------------------------- claims, by training


def test_sgd_starts_fastest_adam_overtakes_and_strong_decoupled_decay_holds_adamw_back() -> None:
    preset = PRESETS["sgd_vs_adam_vs_adamw"]
    end = preset.config.train.steps
    _, records = train(preset.config, stats_every=100, conflict_every=0)  # statistics at the last step too
    loss = {step: task_values(records, "val_loss", step).mean(axis=1) for step in (100, 200, 300, end)}
    for step in (100, 200, 300):
        assert loss[step]["SGD"] < loss[step]["Adam"], loss[step]  # "SGD drops fastest at first"
    assert loss[end]["Adam"] < 0.8 * loss[end]["SGD"], loss[end]  # "ends below SGD's"
    # The three curves stay apart: AdamW's loss is far above Adam's from early on, not on top of it.
    for step in (200, 300, end):
        assert loss[step]["AdamW, decay 10"] > 1.5 * loss[step]["Adam"], loss[step]
    assert loss[end]["AdamW, decay 10"] > 10 * loss[end]["Adam"], loss[end]  # "more than ten times higher"
    at_end = records[(records["step"] == end) & (records["metric"] == "param_norm")]
    norm = at_end.groupby("run", observed=True)["value"].apply(lambda v: float(np.sqrt((v**2).sum())))
    assert norm["AdamW, decay 10"] < 0.6 * norm["Adam"], norm  # "about half Adam's"
    # "With decay 0 it would lie exactly on Adam's curve": AdamW without decay is Adam.
    adam, adamw = preset.config.optimizers[1], preset.config.optimizers[2]
    plain = dataclasses.replace(
        preset.config,
        optimizers=(adam, dataclasses.replace(adamw, options={"weight_decay": 0.0}, label="AdamW, decay 0")),
    )
    _, records = train(plain, steps=100, stats_every=0, conflict_every=0)
    loss = records[records["metric"] == "val_loss"].pivot_table(index="step", columns="run", values="value")
    assert np.allclose(loss["Adam"], loss["AdamW, decay 0"], rtol=1e-5), loss


def test_loss_scale_imbalance_slows_sgd_on_the_small_task_but_not_adam() -> None:
    preset = PRESETS["loss_scale_imbalance"]
    # The explanation says SGD at lr 0.01 diverges: train that row alongside the preset's own.
    config = dataclasses.replace(
        preset.config, optimizers=(*preset.config.optimizers, OptimizerConfig("sgd", 0.01, "SGD 0.01"))
    )
    _, records = train(config, stats_every=0, conflict_every=0)
    end = config.train.steps
    loss = task_values(records, "val_loss", end)["task B"]
    assert loss["SGD"] > 2 * loss["Adam"], loss
    # A diverged configuration stops and records nothing after it diverged.
    last = records.groupby("run", observed=True)["step"].max()
    assert last["SGD 0.01"] < end / 2 and last["SGD"] == last["Adam"] == end, last
    # Both fit the scaled task: SGD's small rate is enough for task A, it just starves task B.
    r2 = task_values(records, "val_r2", end)["task A"]
    assert r2["SGD"] > 0.95 and r2["Adam"] > 0.95, r2


def test_adam_weight_decay_is_magnified_adamw_is_not() -> None:
    preset = PRESETS["adamw_vs_adam"]
    end = preset.config.train.steps
    _, records = train(preset.config, stats_every=100, conflict_every=0)  # statistics at the last step too
    at_end = records[(records["step"] == end) & records["layer"].astype(str).str.startswith("trunk.")]

    def trunk(metric: str) -> pd.Series:
        values = at_end[at_end["metric"] == metric].groupby("run", observed=True)["value"]
        return values.apply(lambda v: float(np.sqrt((v**2).sum())))  # norm over all trunk layers

    norm, decay = trunk("param_norm"), trunk("weight_decay_norm")
    loss = task_values(records, "val_loss", end).mean(axis=1)
    adam, l2, adamw = "Adam, no decay", "Adam, decay 0.1", "AdamW, decay 0.1"
    assert decay[l2] > 10 * decay[adamw] > 0, decay  # "tens of times AdamW's"
    assert norm[l2] < norm[adamw] / 2.5, norm  # "several times smaller"
    assert loss[l2] > 1.5 * loss[adamw], loss  # "its validation loss stays higher"
    assert 0.85 * norm[adam] < norm[adamw] < norm[adam], norm  # "only slightly smaller than ... no decay"
    assert loss[adamw] < 1.2 * loss[adam], loss  # "it fits as well"


def conflict(records: pd.DataFrame) -> pd.Series:
    """Per run: the share of measured steps at which the two tasks' gradients had a negative cosine."""
    cosines = records[records["metric"] == "grad_cosine"]
    assert not cosines.empty
    return (cosines["value"] < 0).groupby(cosines["run"], observed=True).mean()


@pytest.mark.slow
def test_conflicting_tasks_on_a_narrow_trunk_have_opposed_gradients() -> None:
    preset = PRESETS["related_vs_conflicting"]
    _, records = train(preset.config, stats_every=0)
    assert (conflict(records) > 0.6).all(), conflict(records)  # "negative most of the time"
    same = dataclasses.replace(preset.config, tasks=dataclasses.replace(preset.config.tasks, relatedness=1.0))
    _, records = train(same, stats_every=0)
    assert (conflict(records) < 0.4).all(), conflict(records)  # "stays mostly positive"


@pytest.mark.slow
def test_soft_sharing_generalises_better_than_hard_on_little_data() -> None:
    preset = PRESETS["hard_vs_soft"]
    end = preset.config.train.steps
    hard = dataclasses.replace(preset.config, model=dataclasses.replace(preset.config.model, sharing="hard"))
    results = {}
    for name, config in (("soft", preset.config), ("hard", hard)):
        _, records = train(config, stats_every=0, conflict_every=0)
        train_loss = records[(records["metric"] == "train_loss") & (records["step"] > end - 100)]
        fit = train_loss.groupby("run", observed=True)["value"].mean() * 2  # per-task mean -> sum over 2 tasks
        results[name] = (task_values(records, "val_loss", end).sum(axis=1), fit)
    (soft_val, soft_fit), (hard_val, hard_fit) = results["soft"], results["hard"]
    for run in ("SGD", "Adam"):
        assert hard_fit[run] < soft_fit[run], (hard_fit, soft_fit)  # "fits the training rows more closely"
        assert hard_val[run] > 1.2 * soft_val[run], (hard_val, soft_val)  # "its validation loss ends higher"
        assert hard_val[run] - hard_fit[run] > soft_val[run] - soft_fit[run]  # "the gap ... stays smaller"


def test_on_the_toy_adam_matters_more_than_the_method_and_mgda_ends_most_balanced() -> None:
    _, records = train(PRESETS["methods_vs_optimizer"].config, stats_every=0, conflict_every=0)
    points = records[records["metric"] == "position"]
    end = points.groupby(["run", "layer"], observed=True)["value"].last().unstack()
    for method in ("Equal weights", "MGDA", "CAGrad"):
        assert end.loc[f"SGD · {method}", "x2"] > 0, end  # still on the flat upper half
    assert end.loc["Adam · Equal weights", "x2"] < -3, end  # down in the valley
    # Distance to the middle of the Pareto set, (0, -8.355).
    distance = ((end["x1"] ** 2 + (end["x2"] + 8.355) ** 2) ** 0.5).filter(like="Adam")
    assert distance.idxmin() == "Adam · MGDA", distance
    loss = task_values(records, "val_loss", 1500)
    mgda, equal = loss.loc["Adam · MGDA"], loss.loc["Adam · Equal weights"]
    gain, cost = equal["L1"] - mgda["L1"], mgda["L2"] - equal["L2"]
    assert 0 < cost < gain, (gain, cost)  # a little of L2 for much more of L1
