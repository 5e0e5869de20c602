"""The field table: the sidebar and restore are one mapping (widget key <-> config path), both ways.

`apply_config(config)` then drawing the sidebar must give back `config` (or
name, in its `lost` list, exactly what the sidebar cannot show); the untouched
sidebar must build `ExperimentConfig()`; and a link to an uploaded table must
restore that table's settings once the file is uploaded again.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.config import (
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)
from mtlviz.optim import OPTIMIZERS
from mtlviz.presets import PRESETS
from mtlviz.share import QUERY_KEY, decode_config, encode_config

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 60


def _sidebar_script(config_json: str | None, via_callback: bool) -> None:
    """The sidebar alone; `config_json` applied before the first drawing (a link) or from a button (a preset)."""
    import streamlit as st

    from mtlviz.config import ExperimentConfig
    from mtlviz.ui.restore import apply_config
    from mtlviz.ui.sidebar import experiment_sidebar

    def apply() -> None:
        st.session_state["harness_lost"] = apply_config(ExperimentConfig.from_json(config_json))

    if config_json is not None:
        if via_callback:
            st.button("Apply", key="harness_apply", on_click=apply)
        elif "harness_lost" not in st.session_state:
            apply()
    config, errors, _ = experiment_sidebar()
    st.session_state["harness_config"] = config
    st.session_state["harness_errors"] = errors


def sidebar(config: ExperimentConfig | None = None, via_callback: bool = False) -> AppTest:
    at = AppTest.from_function(
        _sidebar_script, args=(config.to_json() if config else None, via_callback), default_timeout=TIMEOUT
    )
    at.run()
    if via_callback:
        at.button(key="harness_apply").click().run()
    assert not at.exception, at.exception
    return at


def built(at: AppTest) -> ExperimentConfig:
    config = at.session_state["harness_config"]
    assert config is not None, at.session_state["harness_errors"]
    return config


# ----------------------------------------------------------------------- defaults (b)


def test_the_untouched_sidebar_builds_the_default_config() -> None:
    at = sidebar()
    assert built(at) == ExperimentConfig()
    # The option widgets start from the optimizer specs: AdamW's weight decay is the spec's, not a second value.
    uid = next(u for u in at.session_state["optimizer_uids"] if at.session_state[f"opt{u}_name"] == "adamw")
    decay = at.number_input(key=f"opt{uid}_adamw_weight_decay").value
    assert decay == OPTIMIZERS["adamw"].options["weight_decay"].default


# ---------------------------------------------------------------------- round trip (c)

EVERY_FIELD = ExperimentConfig(
    tasks=SyntheticTasks(
        targets=(
            TaskSpec("size", loss_scale=10.0),
            TaskSpec("kind", "classification", num_classes=3),
            TaskSpec("third", "classification", loss_scale=0.5),
        ),
        relatedness=-0.3,
        input_dim=20,
        num_samples=3000,
        val_fraction=0.25,
        noise_std=0.2,
    ),
    # experts is only shown for mmoe: a hidden field keeps its value.
    model=ModelConfig(sharing="soft", hidden=32, depth=3, activation="tanh", coupling=0.5, experts=6),
    optimizers=(
        OptimizerConfig("sgd", 0.1, "SGD momentum", {"momentum": 0.9, "nesterov": True}),
        OptimizerConfig("adam", 3e-4, options={"betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
        OptimizerConfig("adamw", 1e-3, "AdamW", {"weight_decay": 0.1}),
        OptimizerConfig("radam", 1e-3, "RAdam", {"decoupled_weight_decay": True, "weight_decay": 0.05}),
        OptimizerConfig("rmsprop", 1e-3, "RMSprop", {"centered": True, "alpha": 0.9}),
    ),
    train=TrainConfig(steps=321, batch_size=64, eval_every=7, seed=7, seeds=2, device="cpu"),
    val_targets={"size": 0.05, "third": 0.4},
    methods=(MethodConfig("dwa", options={"temperature": 3.0}), MethodConfig("cagrad", options={"c": 0.3})),
)
PENGUINS = ExperimentConfig(
    tasks=TableTasks(
        dataset="penguins",
        targets=(TaskSpec("species", "classification"), TaskSpec("body_mass_g", "regression"), TaskSpec("sex", "auto")),
        features=("island", "bill_length_mm", "flipper_length_mm"),
        missing="impute",
        val_fraction=0.3,
    ),
    model=ModelConfig(sharing="mmoe", experts=3),
    val_targets={"species": 0.2},
)
ROUND_TRIPS = {
    **{f"preset {key}": preset.config for key, preset in PRESETS.items()},
    "default": ExperimentConfig(),
    "every field": EVERY_FIELD,
    "bundled table": PENGUINS,
    "bundled table, every feature": ExperimentConfig(
        tasks=TableTasks(dataset="wine", targets=(TaskSpec("alcohol", "auto"),))
    ),
    "toy2d": ExperimentConfig(
        tasks=Toy2DTasks(start=(1.5, -2.0)),
        optimizers=(OptimizerConfig("adam", 0.02, "Adam"),),
        methods=(MethodConfig("equal"), MethodConfig("mgda"), MethodConfig("cagrad", options={"c": 0.3})),
        val_targets={"L2": -0.5},
    ),
    "lr sweep and seeds": ExperimentConfig(
        optimizers=(
            OptimizerConfig("adam", (1e-4, 1e-3, 1e-2), "Adam sweep"),
            OptimizerConfig("sgd", {"from": 1e-3, "to": 1e-1, "num": 4}, "SGD sweep", {"momentum": 0.5}),
            OptimizerConfig("nadam", 0.0123456789),
        ),
        train=TrainConfig(seed=11, seeds=3, steps=5),
    ),
    "methods with options": ExperimentConfig(
        methods=(MethodConfig("gradnorm", options={"alpha": 0.5}), MethodConfig("uncertainty"), MethodConfig("pcgrad"))
    ),
}


@pytest.mark.parametrize("via_callback", [False, True], ids=["link", "callback"])
@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_apply_config_then_the_sidebar_gives_the_config_back(name: str, via_callback: bool) -> None:
    config = ROUND_TRIPS[name]
    at = sidebar(config, via_callback)
    assert at.session_state["harness_lost"] == []
    assert built(at) == config
    assert built(at).to_json() == config.to_json()


def test_what_the_sidebar_cannot_show_is_reported_by_its_config_path() -> None:
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a", weight=2.0), TaskSpec("b")), num_sines=3, scale=0.5),
        model=ModelConfig(hidden=100),
        train=TrainConfig(stats_every=0, divergence_factor=50.0, batch_size=100),
        methods=(MethodConfig("dwa", label="my DWA"),),
    )
    at = sidebar(config)
    lost = at.session_state["harness_lost"]
    assert sorted(re.sub(r" = .*", "", item) for item in lost) == sorted(
        [
            "tasks.targets[0].weight",
            "tasks.num_sines",
            "tasks.scale",
            "model.hidden",
            "train.stats_every",
            "train.divergence_factor",
            "train.batch_size",
            "methods[0].label",
        ]
    ), lost
    assert "model.hidden = 100" in lost
    # Everything else came through; the lost values fell back to what the sidebar can show.
    back = built(at)
    assert back.tasks.relatedness == config.tasks.relatedness and back.tasks.targets[0].weight == 1.0
    assert back.model.hidden == 128 and back.train.batch_size == 128  # the nearest sizes offered
    assert back.train.stats_every == TrainConfig().stats_every


def test_a_table_targets_unshown_settings_are_reported() -> None:
    tasks = TableTasks(dataset="penguins", targets=(TaskSpec("species", loss_scale=0.1),), max_categories=5)
    at = sidebar(ExperimentConfig(tasks=tasks))
    lost = at.session_state["harness_lost"]
    paths = sorted(re.sub(r" = .*", "", item) for item in lost)
    assert paths == ["tasks.max_categories", "tasks.targets[0].loss_scale"], lost


# ------------------------------------------------------------------ one table, both ways


def _widget_keys(node) -> set[str]:
    keys = set()
    for child in getattr(node, "children", {}).values():
        if getattr(child, "key", None) and getattr(child, "type", "") != "button":
            keys.add(child.key)
        keys |= _widget_keys(child)
    return keys


@pytest.mark.parametrize("name", ["every field", "bundled table", "toy2d", "lr sweep and seeds"])
def test_every_sidebar_widget_holding_a_setting_is_in_the_field_table(name: str) -> None:
    from mtlviz.ui.fields import key_pattern, table

    patterns = [re.compile(key_pattern(f.key)) for f in table()]
    at = sidebar(ROUND_TRIPS[name])
    helpers = {"toy_start", "upload"}  # a start-point menu that sets the fields, and the file itself
    keys = _widget_keys(at.sidebar)
    assert {"steps", "seeds", "batch_size", "device"} <= keys  # the walk reaches the widgets
    layout = re.compile(r"opt\d+_open")  # a configuration's expander, open or closed: not a setting
    unknown = [
        k for k in keys if k not in helpers and not layout.fullmatch(k) and not any(p.fullmatch(k) for p in patterns)
    ]
    assert unknown == []


# ---------------------------------------------------------------------- uploaded table (a)


def _table_bytes() -> bytes:
    rows = 120
    frame = pd.DataFrame(
        {
            "x": [0.1 * i for i in range(rows)],
            "z": [i % 7 for i in range(rows)],
            "kind": ["a" if i % 3 else "b" for i in range(rows)],
            "y": [0.5 * i for i in range(rows)],
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_a_link_to_an_uploaded_table_restores_its_settings_once_the_file_is_uploaded() -> None:
    config = ExperimentConfig(
        tasks=TableTasks(
            path="mine.csv",
            targets=(TaskSpec("kind", "classification"), TaskSpec("y", "regression")),
            features=("x",),
            missing="impute",
            val_fraction=0.3,
        ),
        train=TrainConfig(steps=50),
    )
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    assert any("mine.csv" in i.value for i in at.info), "the page asks for the file"

    data = _table_bytes()
    at.file_uploader(key="upload").upload("mine.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    digest = hashlib.sha256(data).hexdigest()
    assert at.multiselect(key=f"targets_{digest}").value == ["kind", "y"]
    assert at.multiselect(key=f"features_{digest}").value == ["x"]
    assert at.selectbox(key=f"type_{digest}_kind").value == "classification"
    assert at.selectbox(key=f"type_{digest}_y").value == "regression"
    assert at.radio(key="missing").value == "impute"
    assert at.slider(key="table_val_fraction").value == pytest.approx(0.3)
    assert not any("mine.csv" in i.value for i in at.info), "the file is there now"
    assert decode_config(at.query_params[QUERY_KEY]) == config

    # Applied once: the user's own changes afterwards stay.
    at.multiselect(key=f"features_{digest}").set_value(["x", "z"]).run()
    assert at.multiselect(key=f"features_{digest}").value == ["x", "z"]
    assert decode_config(at.query_params[QUERY_KEY]).tasks.features == ("x", "z")


def test_a_link_to_an_uploaded_table_waits_for_the_named_file() -> None:
    config = ExperimentConfig(tasks=TableTasks(path="mine.csv", targets=(TaskSpec("y"),), features=("x",)))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    data = _table_bytes()
    digest = hashlib.sha256(data).hexdigest()
    at.file_uploader(key="upload").upload("other.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    assert at.multiselect(key=f"targets_{digest}").value == []  # another file: not this link's settings
    assert any("mine" in c.value and "when that file is uploaded" in c.value for c in at.sidebar.caption)


# ------------------------------------------------------------------------- interaction


def test_a_new_optimizer_starts_from_its_specs_learning_rate_and_options() -> None:
    at = sidebar()
    uid = at.session_state["optimizer_uids"][0]
    at.selectbox(key=f"opt{uid}_name").set_value("nadam").run()
    assert at.number_input(key=f"opt{uid}_lr").value == OPTIMIZERS["nadam"].default_lr
    decay = at.number_input(key=f"opt{uid}_nadam_momentum_decay").value
    assert decay == OPTIMIZERS["nadam"].options["momentum_decay"].default
    # The automatic label follows the optimizer: a legend never says SGD for a NAdam.
    assert built(at).optimizers[0] == OptimizerConfig("nadam", OPTIMIZERS["nadam"].default_lr, "NAdam")
    at.button(key="add_optimizer").click().run()
    added = built(at).optimizers[-1]
    first = ExperimentConfig().optimizers[0]
    assert (added.name, added.lr, added.options) == (first.name, OPTIMIZERS[first.name].default_lr, {})


def labels(at: AppTest) -> list[str]:
    return [o.label for o in built(at).optimizers]


def test_an_automatic_label_follows_the_optimizer() -> None:
    at = sidebar()
    at.button(key="add_optimizer").click().run()
    uids = at.session_state["optimizer_uids"]
    assert labels(at) == ["SGD", "Adam", "AdamW", "SGD 2"]
    at.selectbox(key=f"opt{uids[3]}_name").set_value("adamw").run()
    assert labels(at) == ["SGD", "Adam", "AdamW", "AdamW 2"]  # numbered: "AdamW" is taken
    at.selectbox(key=f"opt{uids[0]}_name").set_value("rmsprop").run()
    assert labels(at)[0] == "RMSprop"
    assert not at.warning


def test_a_default_label_naming_the_lr_follows_the_lr_and_the_optimizer() -> None:
    config = ExperimentConfig(optimizers=(OptimizerConfig("sgd", 0.05), OptimizerConfig("adam", 1e-3)))
    at = sidebar(config)
    assert labels(at) == ["SGD lr=0.05", "Adam lr=0.001"]
    uid = at.session_state["optimizer_uids"][0]
    at.number_input(key=f"opt{uid}_lr").set_value(0.1).run()
    assert labels(at)[0] == "SGD lr=0.1"
    at.selectbox(key=f"opt{uid}_name").set_value("adagrad").run()
    assert labels(at)[0] == f"Adagrad lr={OPTIMIZERS['adagrad'].default_lr:g}"


def test_a_typed_label_stays_and_warns_when_it_names_another_optimizer() -> None:
    at = sidebar()
    uid = at.session_state["optimizer_uids"][0]
    at.text_input(key=f"opt{uid}_label").input("my SGD").run()
    at.selectbox(key=f"opt{uid}_name").set_value("adamw").run()
    assert labels(at)[0] == "my SGD"
    assert [w.value for w in at.warning] == [
        "The label 'my SGD' names SGD, but this configuration trains AdamW. Rename it, or clear it for the "
        "automatic label."
    ]
    at.text_input(key=f"opt{uid}_label").input("fast one").run()
    assert labels(at)[0] == "fast one"
    assert not at.warning


def test_a_setting_the_chosen_strategy_does_not_use_keeps_its_value() -> None:
    at = sidebar()
    at.selectbox(key="sharing").set_value("soft").run()
    at.number_input(key="coupling").set_value(0.5).run()
    at.selectbox(key="sharing").set_value("hard").run()
    assert not any(n.key == "coupling" for n in at.sidebar.number_input)
    at.number_input(key="steps").set_value(200).run()  # another rerun with coupling hidden
    assert built(at).model == ModelConfig(sharing="hard", coupling=0.5)
    at.selectbox(key="sharing").set_value("soft").run()
    assert at.number_input(key="coupling").value == 0.5


def test_the_toy_start_menu_sets_the_start_fields() -> None:
    at = sidebar()
    at.segmented_control(key="task_source").set_value("toy2d").run()
    assert built(at).tasks == Toy2DTasks()
    at.selectbox(key="toy_start").set_value("centre").run()
    assert built(at).tasks == Toy2DTasks(start=(0.0, 0.0))
    assert any("no network" in c.value for c in at.sidebar.caption)
