"""The protocol report: chosen on validation, reported on test; the test split never chooses anything."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlviz.cli import main
from mtlviz.config import ExperimentConfig
from mtlviz.data.sources import build_taskset
from mtlviz.errors import ConfigError
from mtlviz.protocol import confirm_config, format_report, protocol_report
from mtlviz.records import TEST_LOSS, VAL_LOSS, without_clocks
from mtlviz.run import run_experiment


def searched(**train) -> ExperimentConfig:
    return ExperimentConfig.from_dict(
        {
            "tasks": {"num_samples": 600, "test_fraction": 0.25, "input_dim": 8},
            "model": {"hidden": 16},
            "optimizers": [
                {"name": "sgd", "label": "SGD", "lr": [0.003, 0.05, 0.3], "momentum": 0.9, "clip_norm": 1.0},
                {"name": "adam", "label": "Adam", "lr": [1e-4, 3e-3, 30.0]},  # 30 diverges
            ],
            "search": {"method": "grid"},
            "train": {"steps": 80, "seeds": 2, "eval_every": 20, "device": "cpu", **train},
        }
    )


@pytest.fixture(scope="module")
def result():
    config = searched()
    return config, run_experiment(config)


def objective(records: pd.DataFrame, run: str, metric: str = VAL_LOSS) -> float:
    rows = records[(records["run"] == run) & (records["metric"] == metric)]
    last = rows[rows["step"] == rows["step"].max()]
    return float(last.groupby("seed")["value"].sum().mean())


def test_each_configuration_wins_with_its_lowest_validation_objective(result) -> None:
    config, run = result
    report = protocol_report(run.records, run.metadata, config)
    assert [c.configuration for c in report.choices] == ["SGD", "Adam"]
    for choice in report.choices:
        trials = [r for r in config.runs if r.startswith(choice.configuration + " ")]
        feasible = [r for r in trials if r not in run.metadata.diverged_runs()]
        best = min(feasible, key=lambda r: objective(run.records, r))
        assert choice.run == best
        assert choice.validation.mean == pytest.approx(objective(run.records, best))
        assert choice.test.mean == pytest.approx(objective(run.records, best, TEST_LOSS))
        assert (choice.validation.seeds, choice.validation.of, choice.trials) == (2, 2, 3)
        assert choice.hyperparameters == {"lr": float(best.split("lr=")[1])}


def test_a_diverged_trial_is_infeasible_and_never_chosen(result) -> None:
    config, run = result
    assert "Adam lr=30" in run.metadata.diverged_runs()
    report = protocol_report(run.records, run.metadata, config)
    adam = report.choice("Adam")
    assert adam.feasible == 2 and adam.run != "Adam lr=30"
    trials = report.trials.set_index("run")
    assert not trials.loc["Adam lr=30", "feasible"]
    assert trials["chosen"].sum() == 2


def test_the_report_says_what_won_on_test_with_its_seeds(result) -> None:
    config, run = result
    text = format_report(protocol_report(run.records, run.metadata, config))
    assert "SGD: best of 3 trials (3 feasible)" in text and "Adam: best of 3 trials (2 feasible)" in text
    assert "test objective" in text and "(2 seeds)" in text


def poisoned(config: ExperimentConfig, value: float):
    """Task sets whose test split is garbage: NaN (or huge) inputs and targets."""

    def taskset(seed: int):
        clean = build_taskset(config.tasks, seed)
        return dataclasses.replace(
            clean, x_test=torch.full_like(clean.x_test, value), y_test=torch.full_like(clean.y_test, value)
        )

    return taskset


def before_test(records: pd.DataFrame) -> pd.DataFrame:
    """Every number training and validation produced (no clock, no test metric)."""
    kept = without_clocks(records)
    return kept[~kept["metric"].astype(str).str.startswith("test_")].reset_index(drop=True)


@pytest.mark.parametrize("value", [math.nan, 1e6])
def test_poisoning_the_test_split_changes_no_choice_and_no_training_number(result, value) -> None:
    config, clean = result
    dirty = run_experiment(config, poisoned(config, value))
    pd.testing.assert_frame_equal(before_test(clean.records), before_test(dirty.records))
    before = protocol_report(clean.records, clean.metadata, config)
    after = protocol_report(dirty.records, dirty.metadata, config)
    assert [(c.configuration, c.run, c.validation.mean) for c in before.choices] == [
        (c.configuration, c.run, c.validation.mean) for c in after.choices
    ]
    # ... while the test figures did read the poisoned split.
    assert all(
        not math.isclose(b.test.mean, a.test.mean) or math.isnan(a.test.mean)
        for b, a in zip(before.choices, after.choices)
    )


def test_no_test_split_no_report() -> None:
    config = ExperimentConfig.from_dict(
        {"optimizers": [{"name": "adam", "lr": [1e-3, 1e-2]}], "train": {"steps": 20, "device": "cpu"}}
    )
    run = run_experiment(config)
    assert protocol_report(run.records, run.metadata, config) is None
    assert not run.records["metric"].astype(str).str.startswith("test_").any()


def test_a_winner_at_the_edge_of_its_range_and_aggressive_clipping_are_warned_about(result) -> None:
    config, run = result
    sgd = protocol_report(run.records, run.metadata, config).choice("SGD")
    shares = run.records[(run.records["run"] == sgd.run) & (run.records["metric"] == "clipped_share")]
    share = shares[shares["step"] == shares["step"].max()]["value"].mean()
    lrs = [0.003, 0.05, 0.3]
    at_edge = sgd.hyperparameters["lr"] in (lrs[0], lrs[-1])
    assert any("edge of its range" in w for w in sgd.warnings) == at_edge
    assert any("extremely aggressive" in w for w in sgd.warnings) == (share > 0.5)


def test_confirming_trains_the_winners_alone_on_fresh_seeds(result) -> None:
    config, run = result
    report = protocol_report(run.records, run.metadata, config)
    confirm = confirm_config(config, report, 10)
    assert confirm.search is None and confirm.train.seeds == 10
    assert confirm.train.seed_values == tuple(range(2, 12))  # after the searched seeds 0 and 1
    for opt, choice in zip(confirm.optimizers, report.choices):
        assert opt.label == choice.configuration and not opt.is_sweep
        assert opt.lr == choice.hyperparameters["lr"]
    assert confirm.optimizers[0].clip_norm == 1.0 and confirm.optimizers[0].option("momentum") == 0.9


def test_confirming_refuses_several_methods_and_a_bad_seed_count(result) -> None:
    config, run = result
    report = protocol_report(run.records, run.metadata, config)
    with pytest.raises(ConfigError, match=r"expected 1 to 10 seeds to confirm with, found 11"):
        confirm_config(config, report, 11)
    two = dataclasses.replace(
        config, methods=(config.methods[0], dataclasses.replace(config.methods[0], name="pcgrad", label=""))
    )
    with pytest.raises(ConfigError, match=r"one method per configuration; found 2 methods"):
        confirm_config(two, report, 3)


def test_the_cli_confirms_the_winners_in_a_second_run(tmp_path, capsys) -> None:
    path = tmp_path / "search.json"
    data = searched(steps=40, seeds=1).to_dict()
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--confirm", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Chosen on validation, reported on test" in printed
    assert "confirming 2 winners on seeds 1, 2, 3" in printed
    # The confirmation chose nothing: it says so, and names the settings it confirmed.
    confirmation = printed.split("confirming 2 winners")[1]
    assert "Reported on test, nothing searched" in confirmation
    assert "  SGD [lr=" in confirmation and "mom=0.9" in confirmation and "clip=1" in confirmation
    confirmed = ExperimentConfig.from_json((tmp_path / "out-confirm" / "config.json").read_text())
    assert confirmed.train.seeds == 3 and confirmed.search is None
    metrics = pd.read_parquet(tmp_path / "out-confirm" / "metrics.parquet")
    assert sorted(metrics.loc[metrics["metric"] == "test_loss", "seed"].unique()) == [1, 2, 3]


def test_the_cli_refuses_confirm_without_a_test_split_before_training(tmp_path, capsys) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"optimizers": [{"name": "adam", "lr": 1e-3}], "train": {"steps": 10}}))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--confirm", "5"]) == 2
    assert "expected tasks.test_fraction > 0, found 0" in capsys.readouterr().err
    assert not out.exists()


def test_the_test_split_is_disjoint_and_leaves_the_validation_split_as_it_was() -> None:
    base = searched().tasks
    held = build_taskset(base, 0)
    without = build_taskset(dataclasses.replace(base, test_fraction=0.0), 0)
    torch.testing.assert_close(held.x_val, without.x_val)
    assert held.x_test.shape[0] == 150 and held.x_train.shape[0] == 600 - 120 - 150
    rows = {tuple(np.round(r, 6)) for r in held.x_train.numpy()}
    assert not rows & {tuple(np.round(r, 6)) for r in held.x_test.numpy()}
