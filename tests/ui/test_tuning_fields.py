"""Tuning settings in the sidebar: schedule, clipping, searched values, the test split and the search.

Like tests/ui/test_fields.py: `apply_config(config)` then drawing the sidebar must
give back `config`, so a link, a saved run's "load settings" and restore all carry
them; a search without a test split cannot start, and says why.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.config import (
    ExperimentConfig,
    OptimizerConfig,
    Schedule,
    SearchConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    TrainConfig,
)
from mtlviz.share import QUERY_KEY, encode_config
from tests.ui.test_fields import APP, TIMEOUT, built, sidebar

TUNED = ExperimentConfig(
    tasks=SyntheticTasks(test_fraction=0.2),
    optimizers=(
        OptimizerConfig(
            "adamw",
            1e-3,
            "AdamW",
            {"weight_decay": [0, 0.01, 0.1]},
            schedule=Schedule("cosine", warmup_steps=20),
            clip_norm=1.0,
        ),
        OptimizerConfig(
            "sgd", 0.05, "SGD", {"momentum": [0.5, 0.9]}, schedule={"name": "constant", "warmup_steps": [0, 50]}
        ),
        OptimizerConfig("adam", (1e-4, 1e-3), "Adam", schedule=Schedule("step", step_size=50, gamma=0.5)),
    ),
    search=SearchConfig("sobol", 8),
)
TUNING_TRIPS = {
    "sobol search": TUNED,
    "grid search of a table": ExperimentConfig(
        tasks=TableTasks(dataset="penguins", targets=(TaskSpec("body_mass_g", "regression"),), test_fraction=0.15),
        optimizers=(
            OptimizerConfig("sgd", 0.05, "SGD", {"weight_decay": [0, 0.001], "momentum": 0.9}),
            OptimizerConfig("adam", 1e-3, "Adam", {"weight_decay": {"from": 1e-5, "to": 1e-3, "num": 2}}),
        ),
        train=TrainConfig(steps=200),
        search=SearchConfig("grid"),
    ),
    "schedule and clipping alone": ExperimentConfig(
        optimizers=(
            OptimizerConfig("sgd", 0.05, "SGD", schedule=Schedule("linear", warmup_steps=10), clip_norm=0.5),
            OptimizerConfig("adam", 1e-3, "Adam", schedule=Schedule("step", step_size=30, gamma=0.2)),
        )
    ),
}


@pytest.mark.parametrize("via_callback", [False, True], ids=["link", "callback"])
@pytest.mark.parametrize("name", list(TUNING_TRIPS))
def test_tuning_settings_restore_into_the_widgets_and_read_back_equal(name: str, via_callback: bool) -> None:
    config = TUNING_TRIPS[name]
    at = sidebar(config, via_callback)
    assert at.session_state["harness_lost"] == []
    assert built(at) == config
    assert built(at).to_json() == config.to_json()


def test_the_widgets_show_the_tuning_settings() -> None:
    at = sidebar(TUNED)
    adamw, sgd, adam = at.session_state["optimizer_uids"]
    assert at.selectbox(key=f"opt{adamw}_schedule").value == "cosine"
    assert at.number_input(key=f"opt{adamw}_warmup").value == 20
    assert at.number_input(key=f"opt{adamw}_clip").value == 1.0
    assert at.text_input(key=f"opt{adamw}_weight_decay_values").value == "0.0, 0.01, 0.1"
    assert at.text_input(key=f"opt{sgd}_momentum_values").value == "0.5, 0.9"
    assert at.text_input(key=f"opt{sgd}_warmup_values").value == "0, 50"
    assert at.number_input(key=f"opt{adam}_step_size").value == 50  # shown for "step" only
    assert not any(n.key == f"opt{adamw}_step_size" for n in at.number_input)
    assert not any(t.key == f"opt{adam}_momentum_values" for t in at.text_input)  # Adam has no momentum
    assert at.slider(key="test_fraction").value == pytest.approx(0.2)
    assert at.selectbox(key="search_method").value == "sobol"
    assert at.number_input(key="search_trials").value == 8


def test_typed_tuning_settings_build_the_config() -> None:
    at = sidebar()
    uid = at.session_state["optimizer_uids"][2]  # AdamW
    at.selectbox(key=f"opt{uid}_schedule").set_value("cosine").run()
    at.number_input(key=f"opt{uid}_warmup").set_value(20).run()
    at.number_input(key=f"opt{uid}_clip").set_value(1.0).run()
    at.text_input(key=f"opt{uid}_weight_decay_values").input("0, 0.01, 0.1").run()
    opt = built(at).optimizers[2]
    assert opt.schedule == Schedule("cosine", warmup_steps=20) and opt.clip_norm == 1.0
    assert opt.to_dict()["weight_decay"] == {"values": [0.0, 0.01, 0.1]}
    at.number_input(key=f"opt{uid}_clip").set_value(None).run()
    assert built(at).optimizers[2].clip_norm is None  # empty: no clipping


def test_a_searched_value_that_does_not_parse_is_shown_at_its_field() -> None:
    at = sidebar()
    uid = at.session_state["optimizer_uids"][0]  # SGD
    at.text_input(key=f"opt{uid}_momentum_values").input("0.5, fast").run()
    assert at.session_state["harness_config"] is None
    assert [e.value for e in at.error] == ["Search momentum: expected a number such as 0.01, found 'fast'"]
    assert at.session_state["harness_errors"] == [
        "configuration 1 momentum: expected a number such as 0.01, found 'fast'"
    ]
    at.text_input(key=f"opt{uid}_momentum_values").input("0.9").run()
    assert [e.value for e in at.error] == [
        "Search momentum: expected at least two values separated by commas, found '0.9'"
    ]


def test_a_search_without_a_test_split_shows_the_configs_message_and_disables_start() -> None:
    config = ExperimentConfig(
        optimizers=(OptimizerConfig("sgd", (0.01, 0.1), "SGD"), OptimizerConfig("adam", (1e-4, 1e-3), "Adam")),
        train=TrainConfig(steps=50),
    )
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    assert not at.button(key="start").disabled
    at.selectbox(key="search_method").set_value("grid").run()
    assert at.button(key="start").disabled
    shown = " ".join(e.value for e in at.main.error).replace("\\_", "_")  # the page escapes markdown
    assert "Cannot start yet" in shown
    assert "tasks.test_fraction: a search chooses on validation" in shown
    at.slider(key="test_fraction").set_value(0.2).run()
    assert not at.button(key="start").disabled
    assert not at.main.error


def test_sampled_ranges_and_distributions_restore_as_the_same_trials() -> None:
    """A Sobol search over a log-uniform lr (and a uniform momentum, and a sampled warmup range) opens from
    a link with nothing lost and Start possible: the sidebar writes them as ranges to sample, which draw
    exactly the same trials."""
    from mtlviz.rows import expand_rows

    config = ExperimentConfig.from_dict(
        {
            "tasks": {"test_fraction": 0.2},
            "optimizers": [
                {
                    "name": "sgd",
                    "label": "SGD",
                    "lr": {"distribution": "log-uniform", "low": 0.001, "high": 1.0},
                    "momentum": {"distribution": "uniform", "low": 0.0, "high": 0.99},
                    "schedule": {"name": "cosine", "warmup_steps": {"from": 0, "to": 100, "scale": "linear"}},
                },
                {"name": "adam", "label": "Adam", "lr": {"from": 1e-4, "to": 1e-1, "scale": "log"}},
            ],
            "search": {"method": "sobol", "trials": 6},
        }
    )
    at = sidebar(config, False)
    assert at.session_state["harness_lost"] == []
    again = built(at)
    assert [row.optimizer for row in expand_rows(again)] == [row.optimizer for row in expand_rows(config)]
