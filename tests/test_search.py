"""Search spaces: how a configuration's knobs become trials, and what bad spaces are told."""

from __future__ import annotations

import json
import math

import pytest

from mtlviz.budget import Limits, check_run, estimate_run
from mtlviz.cli import main
from mtlviz.config import ExperimentConfig
from mtlviz.errors import BudgetError, ConfigError
from mtlviz.rows import expand_rows


def config(*optimizers: dict, search: dict | None = None, test: float = 0.2, **train) -> ExperimentConfig:
    data = {
        "tasks": {"test_fraction": test},
        "optimizers": list(optimizers),
        "train": {"steps": 50, **train},
    }
    if search is not None:
        data["search"] = search
    return ExperimentConfig.from_dict(data)


def test_a_grid_tries_every_combination_named_by_its_values() -> None:
    c = config({"name": "adamw", "lr": [1e-3, 1e-2], "weight_decay": [0.0, 0.1], "clip_norm": [1.0, 5.0]})
    assert len(c.runs) == 8
    assert c.runs[0] == "AdamW lr=0.001 wd=0 clip=1"
    rows = expand_rows(c)
    last = rows[-1].optimizer
    assert (last.lr, last.option("weight_decay"), last.clip_norm) == (1e-2, 0.1, 5.0)
    assert dict(rows[-1].trial.values) == {"lr": 0.01, "weight_decay": 0.1, "clip_norm": 5.0}


def test_a_learning_rate_sweep_keeps_its_names() -> None:
    c = config({"name": "adam", "lr": {"from": 1e-4, "to": 1e-2, "num": 3}}, test=0.0)
    assert c.runs == ("Adam lr=0.0001", "Adam lr=0.001", "Adam lr=0.01")
    assert [row.optimizer.label for row in expand_rows(c)] == list(c.runs)


def test_a_linear_range_is_evenly_spaced() -> None:
    c = config({"name": "sgd", "lr": 0.1, "momentum": {"from": 0.0, "to": 0.9, "num": 4, "scale": "linear"}})
    assert [row.optimizer.option("momentum") for row in expand_rows(c)] == [0.0, 0.3, 0.6, 0.9]


def sobol(**extra) -> ExperimentConfig:
    return config(
        {"name": "sgd", "lr": {"distribution": "log-uniform", "low": 1e-4, "high": 1.0}, "momentum": [0.0, 0.9]},
        {"name": "adam", "lr": {"from": 1e-5, "to": 1e-1, "scale": "log"}, "weight_decay": [0.0, 0.01]},
        search={"method": "sobol", "trials": 16},
        **extra,
    )


def test_sobol_gives_every_configuration_the_same_budget_spread_over_the_range() -> None:
    c = sobol()
    rows = expand_rows(c)
    assert len(rows) == 32 and c.runs[0] == "SGD #01" and c.runs[-1] == "Adam #16"
    sgd = [row.optimizer.lr for row in rows if row.configuration == "SGD"]
    assert all(1e-4 <= lr <= 1.0 for lr in sgd)
    # Spread on the log scale: every decade of the four holds some trials.
    assert {math.floor(math.log10(lr)) for lr in sgd} == {-4, -3, -2, -1}
    assert {row.optimizer.option("momentum") for row in rows if row.configuration == "SGD"} == {0.0, 0.9}
    # Same knobs count: the same quantiles for each configuration (equal budgets, spread alike).
    adam = [row.optimizer.lr for row in rows if row.configuration == "Adam"]
    scaled = [(math.log(a) - math.log(1e-5)) / math.log(1e4) for a in adam]
    unit = [(math.log(s) - math.log(1e-4)) / math.log(1e4) for s in sgd]
    assert scaled == pytest.approx(unit, abs=1e-3)


def test_sobol_trials_depend_on_the_seed_only() -> None:
    first = [row.optimizer.lr for row in expand_rows(sobol())]
    assert first == [row.optimizer.lr for row in expand_rows(sobol())]
    assert first != [row.optimizer.lr for row in expand_rows(sobol(seed=1))]


def test_a_search_config_round_trips_through_json() -> None:
    c = config(
        {
            "name": "sgd",
            "lr": {"distribution": "log-uniform", "low": 1e-3, "high": 1.0},
            "momentum": {"values": [0.0, 0.9]},
            "schedule": {"name": "cosine", "warmup_steps": {"from": 0, "to": 20, "scale": "linear"}},
            "clip_norm": [1.0, 10.0],
        },
        search={"method": "sobol", "trials": 8},
    )
    again = ExperimentConfig.from_json(c.to_json())
    assert again == c
    assert [row.optimizer for row in expand_rows(again)] == [row.optimizer for row in expand_rows(c)]
    warmups = [row.optimizer.schedule.warmup_steps for row in expand_rows(c)]
    assert all(isinstance(w, int) and 0 <= w <= 20 for w in warmups) and len(set(warmups)) > 2


def test_betas_are_searched_as_listed_pairs() -> None:
    c = config({"name": "adam", "lr": 1e-3, "betas": {"values": [[0.9, 0.999], [0.95, 0.99]]}})
    assert [row.optimizer.option("betas") for row in expand_rows(c)] == [(0.9, 0.999), (0.95, 0.99)]


@pytest.mark.parametrize(
    ("optimizer", "search", "where", "fragment"),
    [
        ({"name": "adam", "lr": []}, None, "optimizers[0].lr", "expected 1 to 64 learning rates, found 0"),
        ({"name": "adam", "lr": 1e-3, "weight_decay": []}, None, "optimizers[0].weight_decay", "non-empty list"),
        (
            {"name": "adam", "lr": {"from": 1e-2, "to": 1e-3, "scale": "log"}},
            {"method": "sobol", "trials": 4},
            "optimizers[0].lr.to",
            "expected a value above from (0.01), found 0.001: the range is empty or inverted",
        ),
        (
            {"name": "sgd", "lr": 0.1, "momentum": {"from": 0.0, "to": 0.9, "num": 3, "scale": "log"}},
            None,
            "optimizers[0].momentum.from",
            "a log scale needs a positive value, found 0",
        ),
        (
            {"name": "adam", "lr": {"distribution": "log-uniform", "low": -1, "high": 1}},
            {"method": "sobol", "trials": 4},
            "optimizers[0].lr.low",
            "expected a number in (0, 10000], found -1",
        ),
        (
            {"name": "adam", "lr": {"distribution": "log-uniform", "low": 1e-4, "high": 1e-1}},
            {"method": "grid"},
            "optimizers[0].lr",
            "a grid needs listed values or a range with num",
        ),
        (
            {"name": "adam", "lr": 1e-3, "weight_decay": {"from": 0, "to": 1, "num": 99, "scale": "linear"}},
            None,
            "optimizers[0].weight_decay.num",
            "expected an integer in [2, 64], found 99",
        ),
        ({"name": "adam", "lr": 1e-3, "momentum": [0.1]}, None, "optimizers[0].momentum", "Adam has no option"),
        (
            {"name": "adam", "lr": [1e-3, 1e-2], "schedule": {"name": "cosine", "warmup_steps": [10, 60]}},
            None,
            "optimizers[0].schedule.warmup_steps",
            "expected fewer warmup steps than train.steps (50), found 60",
        ),
        ({"name": "adam", "lr": 1e-3, "schedule": {"name": "exp"}}, None, "optimizers[0].schedule.name", "cosine"),
        ({"name": "adam", "lr": 1e-3, "clip_norm": 0}, None, "optimizers[0].clip_norm", "found 0"),
        ({"name": "adam", "lr": [1e-3, 1e-2]}, {"method": "sobol"}, "search.trials", "found 0"),
    ],
)
def test_a_bad_search_space_names_the_field_the_value_and_the_limit(optimizer, search, where, fragment) -> None:
    with pytest.raises(ConfigError) as caught:
        config(optimizer, search=search)
    assert caught.value.field == where
    assert fragment in str(caught.value)


def test_unequal_budgets_and_a_configuration_that_searches_nothing_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"same search budget; found trials SGD 3, Adam 2"):
        config({"name": "sgd", "lr": [0.01, 0.1, 1.0]}, {"name": "adam", "lr": [1e-3, 1e-2]}, search={"method": "grid"})
    with pytest.raises(ConfigError, match=r"Adam lr=0.001 searches nothing"):
        config(
            {"name": "sgd", "lr": [0.01, 0.1]}, {"name": "adam", "lr": 1e-3}, search={"method": "sobol", "trials": 4}
        )


def test_a_search_needs_a_test_split() -> None:
    with pytest.raises(
        ConfigError, match=r"tasks.test_fraction: a search chooses on validation .* found test_fraction 0"
    ):
        config({"name": "sgd", "lr": [0.01, 0.1]}, search={"method": "grid"}, test=0.0)
    with pytest.raises(ConfigError, match=r"Toy 2D has no data to hold out"):
        ExperimentConfig.from_dict(
            {
                "tasks": {"source": "toy2d"},
                "optimizers": [{"name": "sgd", "lr": [0.01, 0.1]}],
                "search": {"method": "grid"},
            }
        )


def test_192_rows_are_a_budget_question_not_a_fixed_limit() -> None:
    """16 trials x 4 optimizers x 3 seeds: allowed by the config, held to the server's row cap."""
    c = ExperimentConfig.from_dict(
        {
            "tasks": {"test_fraction": 0.2},
            "optimizers": [
                {"name": name, "lr": {"distribution": "log-uniform", "low": 1e-4, "high": 1.0}}
                for name in ("sgd", "adam", "adamw", "rmsprop")
            ],
            "search": {"method": "sobol", "trials": 16},
            "train": {"seeds": 3, "steps": 100},
        }
    )
    assert len(expand_rows(c)) == 192
    estimate = estimate_run(c)
    check_run(c, estimate, Limits(memory_bytes=None, seconds=None))  # fits this machine
    with pytest.raises(BudgetError, match=r"models side by side: 192 .* over this server's cap of 96"):
        check_run(c, estimate, Limits(memory_bytes=None, seconds=None, rows=96))


def test_the_cli_refuses_a_bad_search_before_training(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    inverted = {"name": "adam", "lr": {"from": 1, "to": 0.1, "scale": "log"}}
    search = {"method": "sobol", "trials": 4}
    bad.write_text(json.dumps({"tasks": {"test_fraction": 0.2}, "optimizers": [inverted], "search": search}))
    out = tmp_path / "out"
    assert main(["run", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: optimizers[0].lr.to: expected a value above from (1)")
    assert not out.exists()
