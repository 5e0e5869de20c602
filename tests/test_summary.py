"""End-of-run summary on hand-made records: last evaluation, best per task, diverged runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mtlviz.records import COLUMNS
from mtlviz.summary import (
    NOT_REACHED,
    SUMMARY_COLUMNS,
    best_learning_rates,
    best_per_task,
    clipping_notes,
    coincidence_notes,
    coinciding_runs,
    final_losses,
    format_summary,
    summary_table,
    time_to_target,
)


def rows(run: str, step: int, task: str, **metrics: float) -> list[dict]:
    return [
        {"run": run, "step": step, "task": task, "layer": "", "metric": m, "value": v, "seconds": step / 100}
        for m, v in metrics.items()
    ]


def evaluation(run: str, step: int, price: tuple[float, float], click: tuple[float, float]) -> list[dict]:
    """Validation rows of both tasks: (val_loss, score) for `price` (R^2) and `click` (accuracy)."""
    return rows(run, step, "price", val_loss=price[0], val_r2=price[1]) + rows(
        run, step, "click", val_loss=click[0], val_accuracy=click[1]
    )


@pytest.fixture
def records() -> pd.DataFrame:
    """Three runs; "Adam" wins at the last evaluation though "SGD" leads earlier,
    and "Big lr" has the lowest loss of all but diverged at step 60."""
    data = []
    for run in ("SGD", "Adam", "Big lr"):
        data += evaluation(run, 0, (4.0, -0.1), (0.70, 0.50))
    data += evaluation("SGD", 50, (0.5, 0.80), (0.40, 0.80))
    data += evaluation("Adam", 50, (0.9, 0.60), (0.60, 0.70))
    data += evaluation("Big lr", 50, (0.1, 0.95), (0.10, 0.99))
    data += evaluation("SGD", 100, (0.45, 0.82), (0.35, 0.85))
    data += evaluation("Adam", 100, (0.2, 0.90), (0.30, 0.88))
    for run in ("SGD", "Adam"):
        for step in range(1, 121):  # training went on past the last evaluation
            data += rows(run, step, "price", train_loss=1 / step) + rows(run, step, "click", train_loss=2 / step)
    for step in range(1, 60):
        data += rows("Big lr", step, "price", train_loss=0.05) + rows("Big lr", step, "click", train_loss=0.05)
    return pd.DataFrame(data, columns=COLUMNS)


def row(summary: pd.DataFrame, task: str, run: str) -> pd.Series:
    match = summary[(summary["task"] == task) & (summary["run"] == run)]
    assert len(match) == 1, (task, run)
    return match.iloc[0]


def test_one_row_per_task_and_run_in_first_seen_order(records):
    summary = summary_table(records, {"Big lr": 60})
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(zip(summary["task"], summary["run"])) == [
        ("price", "SGD"),
        ("price", "Adam"),
        ("price", "Big lr"),
        ("click", "SGD"),
        ("click", "Adam"),
        ("click", "Big lr"),
    ]


def test_values_come_from_the_last_evaluation_of_each_run(records):
    summary = summary_table(records, {"Big lr": 60})
    sgd = row(summary, "price", "SGD")
    assert (sgd["step"], sgd["val_loss"], sgd["metric"], sgd["score"]) == (100, 0.45, "r2", 0.82)
    adam = row(summary, "click", "Adam")
    assert (adam["step"], adam["val_loss"], adam["metric"], adam["score"]) == (100, 0.30, "accuracy", 0.88)
    # The diverged run's last evaluation (step 50) is no result: its row has no values, at its divergence step.
    big = row(summary, "click", "Big lr")
    assert big["step"] == 60 and math.isnan(big["val_loss"]) and math.isnan(big["score"])


def test_best_is_the_lowest_final_val_loss_per_task(records):
    summary = summary_table(records)
    assert summary.groupby("task")["best"].sum().to_dict() == {"price": 1, "click": 1}
    # Without a divergence record "Big lr" is an ordinary run with the lowest losses.
    assert best_per_task(summary) == {"price": "Big lr", "click": "Big lr"}


def test_a_diverged_run_is_never_best_and_says_when_it_diverged(records):
    summary = summary_table(records, diverged={"Big lr": 60})
    # Adam's final loss beats SGD's final loss, though SGD was ahead at step 50.
    assert best_per_task(summary) == {"price": "Adam", "click": "Adam"}
    big = summary[summary["run"] == "Big lr"]
    assert not big["best"].any()
    assert set(big["status"]) == {"diverged at step 60"}
    assert set(summary.loc[summary["run"] != "Big lr", "status"]) == {"ok"}


def test_every_run_diverged_means_no_best():
    data = evaluation("A", 0, (1.0, 0.0), (1.0, 0.5)) + evaluation("B", 0, (2.0, 0.0), (1.0, 0.5))
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS), {"A": 3, "B": 7})
    assert not summary["best"].any()
    assert best_per_task(summary) == {}
    assert list(summary["status"]) == ["diverged at step 3", "diverged at step 7"] * 2


def test_a_task_can_have_its_best_run_differ_from_another_task():
    data = evaluation("A", 10, (0.1, 0.9), (0.9, 0.6)) + evaluation("B", 10, (0.2, 0.8), (0.5, 0.7))
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS))
    assert best_per_task(summary) == {"price": "A", "click": "B"}


def test_no_validation_rows_give_an_empty_table():
    data = rows("A", 1, "price", train_loss=1.0)
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS))
    assert summary.empty
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert format_summary(summary) == "(no validation results)"


def test_format_summary_stars_the_best_rows(records):
    text = format_summary(summary_table(records, {"Big lr": 60}))
    lines = text.splitlines()
    assert "val loss" in lines[0]
    assert "accuracy / R^2" in lines[0]
    starred = [line for line in lines[1:] if "*" in line]
    assert len(starred) == 2
    assert all("Adam" in line for line in starred)
    assert sum("diverged at step 60" in line for line in lines) == 2


def test_scores_are_not_mixed_between_tasks(records):
    summary = summary_table(records, {"Big lr": 60})
    assert list(zip(summary["task"], summary["metric"])) == [("price", "r2")] * 3 + [("click", "accuracy")] * 3
    assert summary.loc[summary["run"] != "Big lr", "score"].notna().all()  # the diverged run has no result


# ---------------------------------------------------------------- seeds, targets, sweeps


def seeded(run: str, seed: int, step: int, task: str, **metrics: float) -> list[dict]:
    return [dict(r, seed=seed) for r in rows(run, step, task, **metrics)]


@pytest.fixture
def three_seeds() -> pd.DataFrame:
    """Two runs x three seeds x two evaluations of one regression task."""
    rng = np.random.default_rng(0)
    data = []
    for run in ("SGD", "Adam"):
        for seed in (0, 1, 2):
            for step in (50, 100):
                data += seeded(
                    run, seed, step, "price", val_loss=float(rng.uniform(0.1, 1)), val_r2=float(rng.uniform())
                )
    return pd.DataFrame(data, columns=COLUMNS)


def test_values_are_the_mean_and_std_over_seeds(three_seeds):
    summary = summary_table(three_seeds)
    last = three_seeds[three_seeds["step"] == 100]
    for run in ("SGD", "Adam"):
        mine = row(summary, "price", run)
        losses = last[(last["run"] == run) & (last["metric"] == "val_loss")]["value"].to_numpy()
        scores = last[(last["run"] == run) & (last["metric"] == "val_r2")]["value"].to_numpy()
        assert mine["seeds"] == 3
        assert mine["val_loss"] == pytest.approx(np.mean(losses))
        assert mine["val_loss_std"] == pytest.approx(np.std(losses))
        assert mine["score"] == pytest.approx(np.mean(scores))
        assert mine["score_std"] == pytest.approx(np.std(scores))


def test_a_diverged_seed_is_left_out_of_the_mean_and_the_run_is_never_best():
    data = []
    for seed, loss in ((0, 0.1), (1, 0.2), (2, 0.01)):
        data += seeded("Adam", seed, 100, "price", val_loss=loss, val_r2=0.5)
    data += seeded("SGD", 0, 100, "price", val_loss=0.5, val_r2=0.5)
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS), {"Adam": {2: 70}})
    adam = row(summary, "price", "Adam")
    assert adam["val_loss"] == pytest.approx(0.15)  # seeds 0 and 1 only
    assert adam["status"] == "diverged at step 70 (1 of 3 seeds)"
    assert best_per_task(summary) == {"price": "SGD"}


def test_time_to_target_is_the_first_evaluation_at_or_below_it():
    data = []
    for step, loss in ((0, 2.0), (10, 0.9), (20, 0.5), (30, 0.7), (40, 0.4)):
        data += rows("A", step, "price", val_loss=loss) + rows("B", step, "price", val_loss=loss + 1)
        data += rows("A", step, "click", val_loss=loss)
    reached = time_to_target(pd.DataFrame(data, columns=COLUMNS), {"price": 0.5})
    assert reached[["run", "task", "step", "seconds"]].values.tolist() == [["A", "price", 20, 0.2]]
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS), targets={"price": 0.5})
    a, b = row(summary, "price", "A"), row(summary, "price", "B")
    assert (a["target_step"], a["target_seconds"], a["target"]) == (20, 0.2, "reached")
    assert math.isnan(b["target_step"]) and b["target"] == NOT_REACHED
    # No target for a task: nothing is said about it.
    assert row(summary, "click", "A")["target"] == ""


def test_time_to_target_over_seeds_averages_the_seeds_that_reached_it():
    data = []
    for seed, path in ((0, (1.0, 0.4, 0.3)), (1, (1.0, 0.8, 0.45)), (2, (1.0, 0.9, 0.8))):
        for step, loss in zip((0, 10, 20), path):
            data += seeded("A", seed, step, "price", val_loss=loss)
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS), targets={"price": 0.5})
    a = row(summary, "price", "A")
    assert a["target_step"] == pytest.approx(15)  # seed 0 at 10, seed 1 at 20
    assert a["target"] == "reached by 2 of 3 seeds"


def test_best_learning_rate_minimises_the_weighted_objective_over_tasks():
    data = []
    # lr=0.1 is best on price alone, but price has weight 0.1: lr=0.01 wins the objective.
    for run, price, click in (("Adam lr=0.1", 0.1, 0.9), ("Adam lr=0.01", 0.5, 0.3), ("SGD", 1.0, 1.0)):
        data += rows(run, 100, "price", val_loss=price) + rows(run, 100, "click", val_loss=click)
    data += rows("Adam lr=1", 100, "price", val_loss=0.01) + rows("Adam lr=1", 100, "click", val_loss=0.01)
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS), {"Adam lr=1": 40})
    runs = pd.DataFrame(
        {
            "run": ["Adam lr=0.01", "Adam lr=0.1", "Adam lr=1", "SGD"],
            "configuration": ["Adam", "Adam", "Adam", "SGD"],
            "lr": [0.01, 0.1, 1.0, 0.05],
        }
    )
    best = best_learning_rates(summary, runs, {"price": 0.1, "click": 1.0})
    assert best == {"Adam": "Adam lr=0.01", "SGD": "SGD"}  # the diverged lr=1 is never best
    assert best_learning_rates(summary, runs, {"price": 1.0, "click": 0.1}) == {"Adam": "Adam lr=0.1", "SGD": "SGD"}


def test_final_losses_blank_out_diverged_seeds(three_seeds):
    final = final_losses(three_seeds, {"SGD": {1: 60}})
    assert len(final) == 6 and set(final["step"]) == {100}
    sgd = final[final["run"] == "SGD"].set_index("seed")["val_loss"]
    assert math.isnan(sgd[1]) and not math.isnan(sgd[0])


# ---------------------------------------------------------------- readouts a teacher can trust


def sweep_with_a_survivor() -> pd.DataFrame:
    """ "SGD lr=1": seeds 0 and 1 diverged at step 4, seed 2 survived; "SGD lr=0.1": three healthy seeds;
    "SGD lr=10": every seed diverged at step 2, after its only evaluation at step 0."""
    data = []
    for seed, loss in ((0, 0.10), (1, 0.20), (2, 0.30)):
        data += seeded("SGD lr=0.1", seed, 0, "price", val_loss=3.0, val_r2=-20.0, val_rmse=2.0)
        data += seeded("SGD lr=0.1", seed, 400, "price", val_loss=loss, val_r2=0.9, val_rmse=0.3)
        data += seeded("SGD lr=1", seed, 0, "price", val_loss=3.0, val_r2=-20.0, val_rmse=2.0)
        data += seeded("SGD lr=10", seed, 0, "price", val_loss=3.177, val_r2=-20.16, val_rmse=2.0)
    data += seeded("SGD lr=1", 2, 400, "price", val_loss=62.92, val_r2=-100.0, val_rmse=9.0)
    return pd.DataFrame(data, columns=COLUMNS)


SWEEP_DIVERGED = {"SGD lr=1": {0: 4, 1: 4}, "SGD lr=10": {0: 2, 1: 2, 2: 2}}


def test_a_partly_diverged_run_says_how_many_seeds_its_values_rest_on_and_has_no_spread():
    summary = summary_table(sweep_with_a_survivor(), SWEEP_DIVERGED)
    survivor = row(summary, "price", "SGD lr=1")
    assert (survivor["seeds"], survivor["seeds_used"]) == (3, 1)
    assert survivor["val_loss"] == pytest.approx(62.92)
    assert math.isnan(survivor["val_loss_std"]) and math.isnan(survivor["score_std"])  # no ± from one seed
    healthy = row(summary, "price", "SGD lr=0.1")
    assert (healthy["seeds"], healthy["seeds_used"]) == (3, 3)
    assert healthy["val_loss_std"] == pytest.approx(np.std([0.1, 0.2, 0.3]))


def test_a_wholly_diverged_run_presents_no_evaluation_as_its_result():
    summary = summary_table(sweep_with_a_survivor(), SWEEP_DIVERGED)
    dead = row(summary, "price", "SGD lr=10")
    assert dead["seeds_used"] == 0
    for column in ("val_loss", "val_loss_std", "score", "score_std", "rmse"):
        assert math.isnan(dead[column]), column  # not the step-0 evaluation
    assert dead["step"] == 2 and dead["status"] == "diverged at step 2 (all 3 seeds)"


def test_format_summary_shows_k_of_n_seeds_and_no_plus_minus_zero():
    text = format_summary(summary_table(sweep_with_a_survivor(), SWEEP_DIVERGED))
    (survivor,) = [line for line in text.splitlines() if "SGD lr=1 " in line]
    assert "1 of 3" in survivor and "62.92" in survivor
    assert " 0 " not in survivor  # no "± 0" from the one surviving seed
    (dead,) = [line for line in text.splitlines() if "SGD lr=10 " in line]
    assert "3.177" not in dead and "-20.16" not in dead


def test_one_seed_has_no_spread_either():
    data = rows("A", 10, "price", val_loss=0.5, val_r2=0.5)
    summary = summary_table(pd.DataFrame(data, columns=COLUMNS))
    assert summary["seeds_used"].tolist() == [1]
    assert math.isnan(summary["val_loss_std"].iloc[0])


def test_runs_coincide_when_their_validation_losses_differ_by_under_2_percent_at_every_evaluation():
    data = []
    for step, loss in ((0, 3.0), (50, 1.0), (100, 0.5)):
        for seed in (0, 1):
            data += seeded("Adam", seed, step, "price", val_loss=loss)
            data += seeded("AdamW", seed, step, "price", val_loss=loss * (1.015 if step == 50 else 1.0))
            data += seeded("Close", seed, step, "price", val_loss=loss * (1.03 if step == 100 else 1.0))
            data += seeded("SGD", seed, step, "price", val_loss=loss * 2)
    records = pd.DataFrame(data, columns=COLUMNS)
    ((a, b, gap),) = coinciding_runs(records)  # "Close" parts by 3% at its last evaluation
    assert (a, b) == ("Adam", "AdamW") and gap == pytest.approx(0.015 / 1.015)
    # The same start alone (every run's step 0) is no coincidence.
    assert coinciding_runs(records[records["step"] == 0]) == []
    assert coincidence_notes([("Adam", "AdamW", 0.0148)]) == [
        "Adam and AdamW coincide: their validation losses differ by at most 1.5% at every evaluation, "
        "so one line hides the other."
    ]
    assert "at most 0.1%" in coincidence_notes([("A", "B", 0.0)])[0]


def test_a_run_that_stopped_early_does_not_coincide_with_one_that_went_on():
    data = []
    for step in (0, 50, 100):
        data += rows("A", step, "price", val_loss=1.0)
        if step < 100:
            data += rows("B", step, "price", val_loss=1.0)
    assert coinciding_runs(pd.DataFrame(data, columns=COLUMNS)) == []


def test_a_sweep_whose_every_rate_diverged_has_no_best_rate_and_no_error():
    """Watching divergence is a lesson: a sweep where every lr diverged must still summarise."""
    from mtlviz.config import ExperimentConfig, OptimizerConfig, TrainConfig
    from mtlviz.rows import run_table
    from mtlviz.run import run_experiment

    config = ExperimentConfig(
        optimizers=(OptimizerConfig("sgd", (1e3, 1e4), "SGD"),), train=TrainConfig(steps=20, eval_every=10)
    )
    result = run_experiment(config)
    assert set(result.summary["status"]) != {"ok"}
    weights = {t.name: t.weight for t in config.tasks.targets}
    assert best_learning_rates(result.summary, run_table(config), weights) == {}


def test_time_to_target_is_the_training_time_charged_to_the_run():
    """Rows share one wall clock; the time to target is each run's own charged cost at that evaluation."""
    data = []
    for step, loss in ((0, 2.0), (10, 0.4)):
        data += rows("SGD", step, "price", val_loss=loss) + rows("Adam", step, "price", val_loss=loss)
        data += rows("SGD", step, "", cost_seconds=0.1 * step) + rows("Adam", step, "", cost_seconds=0.3 * step)
    reached = time_to_target(pd.DataFrame(data, columns=COLUMNS), {"price": 0.5}).set_index("run")
    assert reached.loc["SGD", "seconds"] == pytest.approx(1.0)
    assert reached.loc["Adam", "seconds"] == pytest.approx(3.0)  # same wall clock (0.1 s), three times the cost


def test_runs_that_clip_most_of_their_steps_are_named():
    data = [
        *seeded("A", 0, 100, "", clipped_share=0.8),
        *seeded("A", 1, 100, "", clipped_share=0.6),
        *seeded("B", 0, 100, "", clipped_share=0.2),
        *seeded("B", 0, 50, "", clipped_share=0.9),  # earlier in the run: the last share counts
    ]
    notes = clipping_notes(pd.DataFrame(data, columns=COLUMNS))
    assert len(notes) == 1 and notes[0].startswith("A clipped its gradient on 70% of its steps")
