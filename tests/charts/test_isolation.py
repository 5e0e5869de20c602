"""Isolation plots: one panel per searched knob, chosen trials starred, infeasible trials marked at the top."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mtlviz.charts.isolation import CHOSEN_PANEL, isolation_plot
from mtlviz.protocol import Choice, Figure, Report

# (configuration, run, hyperparameters, objective, std, seeds with a value, feasible, chosen); every trial ran 2 seeds.
TRIALS = [
    ("SGD", "SGD #1", {"lr": 0.001, "momentum": 0.9}, 0.5, 0.05, 2, True, False),
    ("SGD", "SGD #2", {"lr": 0.01, "momentum": 0.5}, 0.2, 0.02, 2, True, True),
    ("SGD", "SGD #3", {"lr": 1.0, "momentum": 0.0}, math.nan, math.nan, 0, False, False),
    ("Adam", "Adam #1", {"lr": 1e-4, "weight_decay": 0.0, "betas": [0.9, 0.999]}, 3.0, 0.3, 2, True, False),
    ("Adam", "Adam #2", {"lr": 1e-2, "weight_decay": 0.01, "betas": [0.95, 0.999]}, 0.1, 0.01, 2, True, True),
    # One seed of two diverged: a mean exists, but the trial is infeasible and drawn at the top.
    ("Adam", "Adam #3", {"lr": 0.1, "weight_decay": 0.1, "betas": [0.99, 0.999]}, 0.05, math.nan, 1, False, False),
]
SEEDS = 2
PANELS = ["lr", "momentum", "weight_decay", "betas[0]"]  # betas[1] never varies: no panel


def trials_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "configuration": c,
                "run": run,
                "hyperparameters": h,
                "objective": objective,
                "std": std,
                "seeds": seeds,
                "of": SEEDS,
                "feasible": feasible,
                "chosen": chosen,
            }
            for c, run, h, objective, std, seeds, feasible, chosen in TRIALS
        ]
    )
    for knob in ("lr", "momentum", "weight_decay", "betas"):
        frame[knob] = [h.get(knob) for h in frame["hyperparameters"]]
    return frame


def choice(configuration: str, run: str, validation: float, test: float) -> Choice:
    return Choice(
        configuration=configuration,
        run=run,
        hyperparameters=next(t[2] for t in TRIALS if t[1] == run),
        trials=3,
        feasible=2,
        validation=Figure(validation, validation / 10, SEEDS, SEEDS),
        test=Figure(test, test / 5, SEEDS, SEEDS),
        test_losses={},
        test_scores={},
        cost_seconds=Figure(math.nan, math.nan, 0, SEEDS),
    )


def make_report(trials: pd.DataFrame | None = None) -> Report:
    choices = (choice("SGD", "SGD #2", 0.2, 0.25), choice("Adam", "Adam #2", 0.1, 0.12))
    return Report(choices, trials_frame() if trials is None else trials)


SCALES = {"lr": "log", "momentum": "linear", "clip_norm": "log"}


def panel_axes(figure: go.Figure) -> dict[str, str]:
    """Panel title -> its x axis reference ("x2", ...), in the order drawn."""
    titles = [a.text for a in figure.layout.annotations]
    return {title: "x" if i == 0 else f"x{i + 1}" for i, title in enumerate(titles)}


def knob_axes(figure: go.Figure) -> dict[str, str]:
    prefix = "validation objective against "
    return {t.removeprefix(prefix): axis for t, axis in panel_axes(figure).items() if t.startswith(prefix)}


def layout_axis(figure: go.Figure, ref: str):
    return figure.layout["xaxis" + ref.removeprefix("x")]


def test_one_panel_per_searched_knob_after_the_chosen_trials(validated) -> None:
    figure = validated(isolation_plot(make_report(), SCALES))
    titles = [a.text for a in figure.layout.annotations]
    assert titles[0] == CHOSEN_PANEL
    assert list(knob_axes(figure)) == PANELS
    # A knob no trial searched has no panel, whatever scale it is given (clip_norm), nor a pair's fixed half.
    assert not any("clip_norm" in t or "betas[1]" in t for t in titles)
    for knob, axis in knob_axes(figure).items():
        assert layout_axis(figure, axis).title.text == knob


def test_each_trial_is_a_point_at_its_value_and_validation_objective(validated) -> None:
    figure = validated(isolation_plot(make_report(), SCALES))
    axes = knob_axes(figure)
    points = {(t.name, t.xaxis): t for t in figure.data if t.marker.symbol is None and t.xaxis != "x"}
    sgd = points[("SGD", axes["lr"])]
    np.testing.assert_allclose(sgd.x, [0.001, 0.01])  # SGD #3 is infeasible: not a point
    np.testing.assert_allclose(sgd.y, [0.5, 0.2])
    np.testing.assert_allclose(sgd.error_y.array, [0.05, 0.02])
    adam = points[("Adam", axes["betas[0]"])]
    np.testing.assert_allclose(adam.x, [0.9, 0.95])
    np.testing.assert_allclose(adam.y, [3.0, 0.1])
    # Momentum is SGD's only; weight decay Adam's only.
    assert {name for name, axis in points if axis == axes["momentum"]} == {"SGD"}
    assert {name for name, axis in points if axis == axes["weight_decay"]} == {"Adam"}
    assert "validation objective 0.2 ± 0.02 (2 seeds)" in sgd.text[1]


def test_infeasible_trials_are_marked_at_the_top_and_said_to_be_infeasible(validated) -> None:
    figure = validated(isolation_plot(make_report(), SCALES))
    axes = knob_axes(figure)
    crosses = {(t.name, t.xaxis): t for t in figure.data if t.marker.symbol == "x" and t.x[0] is not None}
    sgd, adam = crosses[("SGD infeasible", axes["lr"])], crosses[("Adam infeasible", axes["lr"])]
    np.testing.assert_allclose(sgd.x, [1.0])
    np.testing.assert_allclose(adam.x, [0.1])  # its surviving seed's mean (0.05) is not where it is drawn
    tops = [
        y + (t.error_y.array[i] if t.error_y.array is not None else 0)
        for t in figure.data
        if t.marker.symbol != "x" and t.y[0] is not None
        for i, y in enumerate(t.y)
    ]
    assert sgd.y[0] == adam.y[0] > max(tops)  # above every point and error bar
    assert "infeasible: diverged in 2 of 2 seeds" in sgd.text[0]
    assert "infeasible: diverged in 1 of 2 seeds" in adam.text[0]
    keys = [t.name for t in figure.data if t.legendgroup == "key infeasible"]
    assert keys == ["infeasible: a seed diverged (drawn at the top)"]
    # Every panel the infeasible trials searched marks them.
    assert {axis for name, axis in crosses if name == "Adam infeasible"} == {
        axes[k] for k in ("lr", "weight_decay", "betas[0]")
    }


def test_without_infeasible_trials_there_is_no_infeasible_key(validated) -> None:
    trials = trials_frame()
    trials = trials[trials["feasible"]].reset_index(drop=True)
    figure = validated(isolation_plot(make_report(trials), SCALES))
    assert not [t for t in figure.data if t.marker.symbol == "x"]


def test_each_configurations_chosen_trial_is_starred(validated) -> None:
    figure = validated(isolation_plot(make_report(), SCALES))
    axes = knob_axes(figure)
    stars = [t for t in figure.data if t.marker.symbol == "star" and t.x[0] is not None]
    on_lr = {t.name: (list(t.x), list(t.y)) for t in stars if t.xaxis == axes["lr"]}
    assert on_lr == {"SGD chosen": ([0.01], [pytest.approx(0.2)]), "Adam chosen": ([0.01], [pytest.approx(0.1)])}
    # One star per configuration in each panel of a knob it searched.
    assert len(stars) == 2 + 1 + 1 + 1  # lr (both), momentum (SGD), weight_decay and betas[0] (Adam)
    assert all("chosen:" in t.text[0] for t in stars)


def test_the_first_panel_compares_the_chosen_trials_on_validation_and_test(validated) -> None:
    report = make_report()
    figure = validated(isolation_plot(report, SCALES))
    first = [t for t in figure.data if t.xaxis == "x"]
    assert [(t.name, t.marker.symbol) for t in first] == [
        ("SGD", "circle"),
        ("SGD", "diamond"),
        ("Adam", "circle"),
        ("Adam", "diamond"),
    ]
    for c, (validation, test) in zip(report.choices, zip(first[::2], first[1::2])):
        assert validation.y[0] == c.validation.mean and validation.error_y.array[0] == c.validation.std
        assert test.y[0] == c.test.mean and test.error_y.array[0] == c.test.std
        assert f"test objective {c.test.text()}" in test.text[0]
    assert list(figure.layout.xaxis.ticktext) == ["SGD", "Adam"]


def test_log_axes_for_log_spaces_and_wide_positive_lists_only(validated) -> None:
    figure = validated(isolation_plot(make_report(), SCALES))
    axes = knob_axes(figure)
    types = {knob: layout_axis(figure, axis).type for knob, axis in axes.items()}
    # lr: a log space; momentum: a linear one; weight decay lists 0 (no log); betas[0]: within a decade.
    assert types == {"lr": "log", "momentum": "linear", "weight_decay": "linear", "betas[0]": "linear"}
    # Listed values without a scale: a log axis when positive and spanning more than a decade (1e-4 .. 1).
    unscaled = validated(isolation_plot(make_report()))
    assert layout_axis(unscaled, knob_axes(unscaled)["lr"]).type == "log"
    linear = validated(isolation_plot(make_report(), {"lr": "linear"}))
    assert layout_axis(linear, knob_axes(linear)["lr"]).type == "linear"
    # The objectives span more than a decade (0.1 .. 3.3): a log y axis, the same in every panel.
    assert {figure.layout[k].type for k in figure.layout if k.startswith("yaxis")} == {"log"}


def test_a_configuration_takes_its_first_runs_colour() -> None:
    colors = {"SGD #1": "#111111", "SGD #2": "#222222", "Adam #1": "#333333"}
    figure = isolation_plot(make_report(), SCALES, colors)
    named = {t.name: t.marker.color for t in figure.data if t.showlegend and t.legendgroup in ("SGD", "Adam")}
    assert named == {"SGD": "#111111", "Adam": "#333333"}


def test_user_labels_are_escaped_in_the_figure() -> None:
    trials = trials_frame()
    trials["configuration"] = trials["configuration"].replace({"SGD": "<b>SGD</b>"})
    report = Report((choice("<b>SGD</b>", "SGD #2", 0.2, 0.25),), trials)
    figure = isolation_plot(report, SCALES)
    assert "&lt;b&gt;SGD&lt;/b&gt;" in {t.name for t in figure.data}
    assert "<b>SGD</b>" not in {t.name for t in figure.data}
    assert list(figure.layout.xaxis.ticktext) == ["&lt;b&gt;SGD&lt;/b&gt;"]


def test_no_feasible_trial_says_so() -> None:
    figure = isolation_plot(Report((), trials_frame()))
    assert not figure.data
    assert "every trial diverged" in figure.layout.annotations[0].text
