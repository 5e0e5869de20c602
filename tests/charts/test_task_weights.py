"""The task-weight chart: one panel per task, one line per run, mean over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlviz.charts.task_weights import task_weight_chart
from mtlviz.records import COLUMNS


def weights(seeds=(0,)) -> pd.DataFrame:
    rows = []
    for run, base in (("Adam · GradNorm", 1.0), ("Adam · MGDA", 0.5)):
        for seed in seeds:
            for step in range(10, 110, 10):
                for t, task in enumerate(("a", "b")):
                    value = base + (0.1 * t - 0.05) * step / 100 + 0.01 * seed
                    rows.append([run, seed, step, task, "", "task_weight", value, step / 10])
    rows.append(["Adam · GradNorm", 0, 10, "a", "", "train_loss", 99.0, 1.0])  # another metric: ignored
    return pd.DataFrame(rows, columns=COLUMNS)


def lines(figure) -> list:
    return [t for t in figure.data if t.mode == "lines"]


def test_one_line_per_task_and_run_with_the_recorded_weights():
    frame = weights()
    figure = task_weight_chart(frame, ["Adam · GradNorm", "Adam · MGDA"], ["a", "b"])
    drawn = lines(figure)
    assert len(drawn) == 4
    first = drawn[0]
    expected = frame[(frame["metric"] == "task_weight") & (frame["run"] == first.name)]
    expected = expected[expected["task"] == "a"]["value"].to_numpy()
    np.testing.assert_allclose(np.asarray(first.y, dtype=float), expected, rtol=1e-6)


def test_several_seeds_draw_their_mean_and_seconds_can_be_the_x_axis():
    figure = task_weight_chart(weights(seeds=(0, 1, 2)), ["Adam · MGDA"], ["a", "b"], x="seconds", band="minmax")
    drawn = lines(figure)
    assert len(drawn) == 2  # the mean of three seeds per task, not three lines
    np.testing.assert_allclose(np.asarray(drawn[0].x, dtype=float), np.arange(1, 11), rtol=1e-6)
    assert np.asarray(drawn[0].y, dtype=float)[0] == np.float32(0.5 - 0.005 + 0.01)


def test_no_weights_yet_gives_a_message():
    frame = weights()
    figure = task_weight_chart(frame[frame["metric"] != "task_weight"], ["Adam · MGDA"], ["a", "b"])
    assert "No task weights recorded yet" in str(figure.to_plotly_json()["layout"])


def test_the_views_colours_and_diverged_seeds_reach_the_lines():
    frame = weights(seeds=(0, 1, 2))
    frame = frame[~((frame["run"] == "Adam · MGDA") & (frame["seed"] == 2) & (frame["step"] >= 50))]
    figure = task_weight_chart(
        frame,
        ["Adam · MGDA"],
        ["a", "b"],
        colors={"Adam · GradNorm": "#111111", "Adam · MGDA": "#222222"},
        diverged_seeds={"Adam · MGDA": {2: 50}},
    )
    drawn = lines(figure)
    assert {t.line.color for t in drawn} == {"#222222"}
    assert drawn[0].name == "Adam · MGDA (2 of 3 seeds after step 50)"
    assert list(drawn[0].customdata[-2:]) == ["mean of 2 of 3 seeds (1 diverged)"] * 2


def test_every_chart_of_a_run_keeps_the_colours_the_view_gives():
    """With "Best lr only" a chart shows some runs; each must keep the colour it has in the other charts."""
    from mtlviz.charts.colors import run_colors

    given = {"A": "#111111", "B": "#222222"}
    assert run_colors(["B"], given) == {"B": "#222222"}
    assert run_colors(["C", "B"], given)["B"] == "#222222"
