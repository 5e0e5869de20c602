"""Loss-curve figure: panels, traces, log axes, downsampling, divergence markers, EMA, seeds and x axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlviz.charts import loss_curves
from mtlviz.charts.downsample import MAX_POINTS, downsample, ema
from mtlviz.charts.loss_curves import log_scale_note
from mtlviz.records import COLUMNS, Divergence

RUNS = ("SGD", "Adam", "RMSprop")
TASKS = ("price", "click", "grade")


def make_records(steps: int = 200, eval_every: int = 50, runs=RUNS, tasks=TASKS) -> pd.DataFrame:
    """Decaying train loss every step (with a spike) and val loss every `eval_every` steps."""
    frames = []
    rng = np.random.default_rng(0)
    train_steps = np.arange(1, steps + 1)
    val_steps = np.arange(0, steps + 1, eval_every)
    for r, run in enumerate(runs):
        for t, task in enumerate(tasks):
            loss = (1 + r + t) / np.sqrt(train_steps) * np.exp(0.1 * rng.standard_normal(steps))
            loss[steps // 2] = 50.0  # a spike that downsampling must keep
            frames.append(_frame(run, task, "train_loss", train_steps, loss))
            frames.append(_frame(run, task, "val_loss", val_steps, (1 + r + t) / np.sqrt(val_steps + 1)))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def diverged(run: str, step: int, losses: dict[str, float | None] | None = None, seed: int = 0) -> dict:
    """`divergences` for loss_curves: `run` diverged at `step`, tripped by the first task of `losses`."""
    losses = losses if losses is not None else {task: None for task in TASKS}
    task = next(iter(losses), "")
    return {run: Divergence(run, seed, step, task, losses.get(task), losses)}


def _frame(run: str, task: str, metric: str, steps: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": run,
            "seed": 0,
            "step": steps,
            "task": task,
            "layer": "",
            "metric": metric,
            "value": values,
            "seconds": steps / 1000,
        }
    )


def axis(fig, ref: str):
    """Layout of the axis a trace names: "x2" -> layout.xaxis2."""
    return fig.layout[f"{ref[0]}axis{ref[1:]}"]


def task_of(trace, records: pd.DataFrame, tasks) -> str:
    """The task a trace shows, read back from its data: each (run, task) has its own values."""
    metric = "train_loss" if trace.mode == "lines" else "val_loss"
    for task in tasks:
        frame = records[(records["run"] == trace.name) & (records["task"] == task) & (records["metric"] == metric)]
        if np.allclose(frame["value"].to_numpy(), np.asarray(trace.y)):
            return task
    raise AssertionError(f"no task matches trace {trace.name}")


@pytest.mark.parametrize("tasks", [TASKS[:1], TASKS[:2], TASKS, ("a", "b", "c", "d", "e")])
def test_one_panel_per_task(tasks):
    records = make_records(tasks=tasks)
    fig = loss_curves(records, RUNS, tasks)
    titles = {a.text: a for a in fig.layout.annotations}
    assert list(titles) == list(tasks)
    # two lines (train, validation) per run per task
    assert len(fig.data) == 2 * len(RUNS) * len(tasks)
    axes_by_task: dict[str, set[tuple[str, str]]] = {}
    for trace in fig.data:
        axes_by_task.setdefault(task_of(trace, records, tasks), set()).add((trace.xaxis, trace.yaxis))
    assert set(axes_by_task) == set(tasks)
    # Each task's traces share one panel, a different one per task, under the task's title.
    assert all(len(axes) == 1 for axes in axes_by_task.values())
    assert len(set().union(*axes_by_task.values())) == len(tasks)
    for task, ((x_ref, y_ref),) in axes_by_task.items():
        title = titles[task]
        left, right = axis(fig, x_ref).domain
        bottom, top = axis(fig, y_ref).domain
        assert left <= title.x <= right, task
        assert title.y == pytest.approx(top), task


def test_traces_only_for_requested_runs_and_tasks():
    fig = loss_curves(make_records(), ["Adam", "RMSprop"], ["click"])
    names = {t.name for t in fig.data}
    assert names == {"Adam", "RMSprop"}
    assert len(fig.data) == 4
    # One legend entry per run, however many panels it appears in.
    fig = loss_curves(make_records(), ["Adam"], TASKS)
    assert [t.showlegend for t in fig.data].count(True) == 1


@pytest.mark.parametrize(("split", "modes"), [("train", {"lines"}), ("validation", {"lines+markers"})])
def test_split_selects_train_or_validation(split, modes):
    fig = loss_curves(make_records(), RUNS, TASKS, split=split)
    assert {t.mode for t in fig.data} == modes
    assert len(fig.data) == len(RUNS) * len(TASKS)


def test_a_bad_split_raises_value_error():
    with pytest.raises(ValueError, match="split"):
        loss_curves(make_records(), RUNS, TASKS, split="test")


@pytest.mark.parametrize("log_y", [True, False])
def test_y_axes_are_log_when_asked(log_y):
    fig = loss_curves(make_records(), RUNS, TASKS, log_y=log_y)
    y_axes = [fig.layout[name] for name in fig.layout if name.startswith("yaxis")]
    assert len(y_axes) == len(TASKS)
    for axis_layout in y_axes:
        assert (axis_layout.type == "log") == log_y
        assert axis_layout.type in ("log", "linear", "-", None)


@pytest.mark.parametrize("split", ["train", "validation", "both"])
def test_figure_passes_full_plotly_validation(split, validated):
    # The builder skips Plotly's validation for speed; every property must still be valid.
    validated(loss_curves(make_records(), RUNS, TASKS, split=split, smoothing=0.5, divergences=diverged("Adam", 150)))


def test_long_runs_are_downsampled_but_keep_their_spike():
    records = make_records(steps=20_000, eval_every=100)
    fig = loss_curves(records, RUNS, TASKS)
    assert fig.data
    for trace in fig.data:
        assert len(trace.x) == len(trace.y) <= MAX_POINTS
    for trace in fig.data:
        if trace.mode == "lines":
            assert max(trace.y) == 50.0  # MinMaxLTTB keeps extremes
            assert len(trace.x) > MAX_POINTS // 2
            assert np.all(np.diff(np.asarray(trace.x)) > 0)
        else:
            assert len(trace.x) == 201  # validation points are few: all kept


def test_downsample_keeps_short_series_and_endpoints():
    x = np.arange(10)
    assert downsample(x, x * 2.0)[0] is x
    x = np.arange(10_000)
    y = np.sin(x / 50.0)
    dx, dy = downsample(x, y, max_points=100)
    assert len(dx) == 100
    assert dx[0] == 0 and dx[-1] == 9_999
    np.testing.assert_array_equal(dy, y[dx])


def test_a_diverged_run_gets_a_marker_at_its_divergence_step():
    records = make_records()
    records = records[~((records["run"] == "Adam") & (records["step"] >= 137))]
    fig = loss_curves(records, RUNS, TASKS[:2], divergences=diverged("Adam", 137))  # losses not finite
    markers = [t for t in fig.data if t.mode == "markers+text"]
    assert len(markers) == 2  # one per task panel
    for marker in markers:
        assert list(marker.text) == ["Adam diverged at step 137 (loss not finite)"]
        assert list(marker.x) == [137]
        assert marker.marker.symbol == "x"
        assert "Adam" in marker.hovertemplate
    last = records[(records["run"] == "Adam") & (records["task"] == "price") & (records["metric"] == "train_loss")]
    # A loss that was not finite has no place: the x ends the run's line at its last
    # recorded train loss in that panel (float32 on the wire).
    assert float(last["value"].iloc[-1]) in [pytest.approx(float(m.y[0]), rel=1e-6) for m in markers]
    assert {m.xaxis for m in markers} == {t.xaxis for t in fig.data if t.mode != "markers+text"}


def test_each_panel_says_the_events_loss_of_its_task_not_one_read_from_the_records(validated):
    """The marker's number is the engine's (the live banner's), never re-derived from the
    records: here another seed's loss at that step (2.68e14) is higher than the loss that
    tripped divergence, and used to be the one shown."""
    records = make_seeded_records()
    other_seed = (records["run"] == "Adam") & (records["seed"] == 10) & (records["metric"] == "train_loss")
    records.loc[other_seed & (records["task"] == "price") & (records["step"] == 137), "value"] = 2.68e14
    tripping = (records["run"] == "Adam") & (records["seed"] == 12) & (records["metric"] == "train_loss")
    records = records[~(tripping & (records["step"] > 137))]
    records.loc[tripping & (records["task"] == "price") & (records["step"] == 137), "value"] = 1.28e9
    events = diverged("Adam", 137, {"price": 1.28e9, "click": 3.5, "grade": None}, seed=12)
    fig = validated(loss_curves(records, RUNS, TASKS, divergences=events))
    texts = {m.xaxis: m.text[0] for m in fig.data if m.mode == "markers+text"}
    assert texts == {
        "x": "Adam diverged at step 137 (loss 1.28e+09)",
        "x2": "Adam diverged at step 137 (loss 3.5)",
        "x3": "Adam diverged at step 137 (loss not finite)",
    }
    click = next(m for m in fig.data if m.mode == "markers+text" and m.xaxis == "x2")
    assert float(click.y[0]) == pytest.approx(3.5)  # at the event's loss, not the records' last one


def test_a_divergence_without_each_tasks_loss_is_marked_without_a_number():
    """Runs saved before events held every task's loss: the tripping task's loss is known, the others' not."""
    event = Divergence("Adam", 0, 150, "price", 7.5e8, {})
    fig = loss_curves(make_records(), RUNS, TASKS[:2], divergences={"Adam": event})
    texts = [m.text[0] for m in fig.data if m.mode == "markers+text"]
    assert texts == ["Adam diverged at step 150 (loss 7.5e+08)", "Adam diverged at step 150"]


def test_no_marker_for_runs_that_did_not_diverge_or_are_hidden():
    fig = loss_curves(make_records(), RUNS, TASKS)
    assert not [t for t in fig.data if t.mode == "markers+text"]
    fig = loss_curves(make_records(), ["SGD"], TASKS, divergences=diverged("Adam", 10))
    assert not [t for t in fig.data if t.mode == "markers+text"]


def test_smoothing_applies_to_train_lines_only():
    records = make_records()
    fig = loss_curves(records, ["SGD"], ["price"], smoothing=0.9)
    train = records[(records["run"] == "SGD") & (records["task"] == "price")]
    raw_train = train[train["metric"] == "train_loss"]["value"].to_numpy()
    raw_val = train[train["metric"] == "val_loss"]["value"].to_numpy()
    line, dashed = fig.data
    np.testing.assert_allclose(line.y, ema(raw_train, 0.9), rtol=1e-6)
    assert not np.allclose(line.y, raw_train)
    np.testing.assert_allclose(dashed.y, raw_val, rtol=1e-6)


def test_step_range_limits_the_x_values():
    fig = loss_curves(make_records(), RUNS, TASKS, step_range=(50, 120))
    assert len(fig.data) == 2 * len(RUNS) * len(TASKS)
    for trace in fig.data:  # every step in the range, inclusive at both ends; validation every 50 steps
        expected = range(50, 121) if trace.mode == "lines" else [50, 100]
        assert list(trace.x) == list(expected), (trace.name, trace.mode)


# ----------------------------------------------------------------------------- EMA


def reference_ema(values: list[float], smoothing: float) -> list[float]:
    """TensorBoard's smoothing: an EMA started at zero, divided by its weight sum 1 - s^t."""
    out, last = [], 0.0
    for t, v in enumerate(values, start=1):
        last = smoothing * last + (1 - smoothing) * v
        out.append(last / (1 - smoothing**t))
    return out


@pytest.mark.parametrize("smoothing", [0.3, 0.6, 0.9, 0.99])
def test_ema_matches_bias_corrected_reference(smoothing):
    values = np.random.default_rng(1).exponential(size=300)
    np.testing.assert_allclose(ema(values, smoothing), reference_ema(values.tolist(), smoothing), rtol=1e-10)


def test_ema_first_value_is_unbiased():
    assert ema(np.array([5.0, 1.0]), 0.9)[0] == pytest.approx(5.0)


def test_ema_with_no_smoothing_returns_the_values():
    values = np.array([3.0, 1.0, 2.0])
    assert ema(values, 0) is values
    assert len(ema(np.array([]), 0.5)) == 0


def test_an_off_scale_divergence_keeps_the_healthy_curves_readable():
    """A loss of 1e25 must not squash the other curves: the axis follows the healthy
    runs and the marker sits at the top edge, its text carrying the real loss."""
    records = make_records()
    adam = records[(records["run"] == "Adam") & (records["metric"] == "train_loss") & (records["task"] == TASKS[0])]
    exploded = adam.index[-1]
    records.loc[exploded, "value"] = 1e25
    step = int(records.loc[exploded, "step"])
    healthy = records[(records["run"] != "Adam") & records["metric"].isin(["train_loss", "val_loss"])]
    fig = loss_curves(records, RUNS, TASKS[:2], divergences=diverged("Adam", step, {TASKS[0]: 1e25, TASKS[1]: 2.0}))
    low, high = fig.layout.yaxis.range
    assert high < 2 + np.log10(healthy["value"].max())  # log10 units, not 25
    marker = next(t for t in fig.data if t.mode == "markers+text" and "1e+25" in t.text[0])
    assert float(marker.y[0]) <= 10**high


# ----------------------------------------------------------------------------- seeds and x axis

SCALES = np.array([1.0, 1.1, 1.2])  # seed i's loss is the base loss times SCALES[i]


def make_seeded_records(steps: int = 200, runs=RUNS, tasks=TASKS) -> pd.DataFrame:
    """make_records once per seed: seed i scaled by SCALES[i], its clock 1 ms behind seed i - 1."""
    frames = []
    for i, scale in enumerate(SCALES):
        frame = make_records(steps=steps, runs=runs, tasks=tasks)
        frames.append(frame.assign(seed=10 + i, value=frame["value"] * scale, seconds=frame["seconds"] + 0.001 * i))
    return pd.concat(frames, ignore_index=True)


def base_loss(run: str, task: str, metric: str = "train_loss") -> pd.DataFrame:
    frame = make_records()
    return frame[(frame["run"] == run) & (frame["task"] == task) & (frame["metric"] == metric)]


def x_titles(fig) -> set[str]:
    return {fig.layout[name].title.text for name in fig.layout if name.startswith("xaxis")}


def lines_and_bands(fig) -> tuple[list, list]:
    lines = [t for t in fig.data if t.fill != "toself" and t.mode != "markers+text"]
    return lines, [t for t in fig.data if t.fill == "toself"]


def trace_for(traces, fig, run: str, task: str):
    """The trace of `run` in `task`'s panel (panels follow the task order)."""
    titles = [a.text for a in fig.layout.annotations]
    ref = "x" if titles.index(task) == 0 else f"x{titles.index(task) + 1}"
    (trace,) = [t for t in traces if t.name == run and t.xaxis == ref]
    return trace


def test_several_seeds_draw_one_mean_line_and_one_band_per_run_and_task(validated):
    fig = validated(loss_curves(make_seeded_records(), RUNS, TASKS, split="train"))
    lines, bands = lines_and_bands(fig)
    assert len(lines) == len(bands) == len(RUNS) * len(TASKS)  # no line per seed
    for run in RUNS:
        for task in TASKS:
            base = base_loss(run, task)["value"].to_numpy()
            line, band = trace_for(lines, fig, run, task), trace_for(bands, fig, run, task)
            np.testing.assert_allclose(line.y, base * SCALES.mean(), rtol=1e-6)
            assert "mean of 3 seeds" in line.hovertemplate
            # The band runs along the low edge (mean - std, ddof=0) and back along the high one.
            low, high = np.split(np.asarray(band.y, dtype=float), 2)
            np.testing.assert_allclose(low, base * (SCALES.mean() - SCALES.std()), rtol=1e-5)
            np.testing.assert_allclose(high[::-1], base * (SCALES.mean() + SCALES.std()), rtol=1e-5)
            assert band.legendgroup == line.legendgroup == run


def test_minmax_band_and_no_band():
    records = make_seeded_records()
    fig = loss_curves(records, ["Adam"], ["click"], split="validation", band="minmax")
    (line,), (band,) = lines_and_bands(fig)
    base = base_loss("Adam", "click", "val_loss")["value"].to_numpy()
    low, high = np.split(np.asarray(band.y, dtype=float), 2)
    np.testing.assert_allclose(low, base * SCALES.min(), rtol=1e-6)
    np.testing.assert_allclose(high[::-1], base * SCALES.max(), rtol=1e-6)
    assert line.marker.color == line.line.color  # not the default colour of the trace's position
    lines, bands = lines_and_bands(loss_curves(records, RUNS, TASKS, band=None))
    assert not bands and len(lines) == 2 * len(RUNS) * len(TASKS)
    with pytest.raises(ValueError, match="band must be one of"):
        loss_curves(records, RUNS, TASKS, band="iqr")


def test_smoothing_applies_to_the_mean_and_the_band_edges():
    fig = loss_curves(make_seeded_records(), ["SGD"], ["price"], split="train", smoothing=0.9)
    (line,), (band,) = lines_and_bands(fig)
    base = base_loss("SGD", "price")["value"].to_numpy()
    np.testing.assert_allclose(line.y, ema(base * SCALES.mean(), 0.9), rtol=1e-5)
    low, _ = np.split(np.asarray(band.y, dtype=float), 2)
    np.testing.assert_allclose(low, ema(base * (SCALES.mean() - SCALES.std()), 0.9), rtol=1e-5)


@pytest.mark.parametrize("seeded", [False, True])
def test_x_seconds_draws_against_the_mean_seconds_of_each_step(seeded, validated):
    records = make_seeded_records() if seeded else make_records()
    fig = validated(loss_curves(records, RUNS, TASKS, x="seconds"))
    assert x_titles(fig) == {"", "wall-clock time (s)"}  # on the bottom panels
    lines, _ = lines_and_bands(fig)
    line = trace_for([t for t in lines if t.mode == "lines"], fig, "Adam", "grade")
    steps = base_loss("Adam", "grade")["step"].to_numpy()
    offset = 0.001 if seeded else 0.0  # seeds 0, 1 and 2 ms behind
    np.testing.assert_allclose(line.x, steps / 1000 + offset, rtol=1e-6)
    assert "s<br>" in line.hovertemplate
    assert x_titles(loss_curves(records, RUNS, TASKS)) == {"", "step"}
    with pytest.raises(ValueError, match="x must be one of"):
        loss_curves(records, RUNS, TASKS, x="epoch")


def test_long_seeded_runs_are_downsampled_with_x_seconds():
    records = make_seeded_records(steps=6_000, runs=("Adam",), tasks=("price",))
    fig = loss_curves(records, ["Adam"], ["price"], split="train", x="seconds")
    (line,), (band,) = lines_and_bands(fig)
    assert len(line.x) <= MAX_POINTS and len(band.x) <= MAX_POINTS
    assert np.all(np.diff(np.asarray(line.x)) > 0)
    assert max(line.y) == pytest.approx(50.0 * SCALES.mean(), rel=1e-6)  # the spike survives


def test_frames_without_a_seed_column_draw_as_before():
    records = make_records()
    with_seed = loss_curves(records, RUNS, TASKS, smoothing=0.5, divergences=diverged("Adam", 150))
    without = loss_curves(records.drop(columns="seed"), RUNS, TASKS, smoothing=0.5, divergences=diverged("Adam", 150))
    assert len(with_seed.data) == len(without.data) == 2 * len(RUNS) * len(TASKS) + len(TASKS)
    for a, b in zip(with_seed.data, without.data):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        assert a.hovertemplate == b.hovertemplate and "seeds" not in a.hovertemplate


@pytest.mark.parametrize("x", ["step", "seconds"])
def test_a_diverged_seed_marks_its_run_at_the_blown_up_loss(x):
    records = make_seeded_records()
    adam_seed_2 = (records["run"] == "Adam") & (records["seed"] == 12) & (records["metric"] == "train_loss")
    records.loc[adam_seed_2 & (records["step"] == 136), "value"] = 1e6
    records = records[~(adam_seed_2 & (records["step"] >= 137))]  # its loss at 137 was not finite
    fig = loss_curves(records, RUNS, TASKS[:2], divergences=diverged("Adam", 137, seed=12), x=x)
    markers = [t for t in fig.data if t.mode == "markers+text"]
    assert len(markers) == 2
    price = next(m for m in markers if m.xaxis == "x")
    assert price.text[0] == "Adam diverged at step 137 (loss not finite)"
    # The seed that blew up (1e6, highest over seeds) is off-scale: the x sits at the top edge.
    top = max(float(np.max(t.y)) for t in fig.data if t.legendgroup != "Adam")
    assert float(price.y[0]) == pytest.approx(top, rel=1e-6)
    # At step 137 only seeds 0 and 1 have a row: their mean clock is 0.137 s + 0.5 ms.
    assert float(price.x[0]) == (137 if x == "step" else pytest.approx(0.1375, rel=1e-6))
    lines, bands = lines_and_bands(fig)
    assert len(lines) == 2 * len(RUNS) * 2 and len(bands) == len(lines)


def test_a_divergence_after_the_last_row_is_placed_at_the_runs_pace():
    records = make_records()
    records = records[~((records["run"] == "Adam") & (records["step"] > 120))]
    fig = loss_curves(records, RUNS, ["price"], split="validation", divergences=diverged("Adam", 150), x="seconds")
    (marker,) = [t for t in fig.data if t.mode == "markers+text"]
    assert float(marker.x[0]) == pytest.approx(0.150, rel=1e-5)  # 1 ms per step, as before step 120


# ---------------------------------------------------------------- readouts a teacher can trust


def test_after_a_divergence_the_mean_line_says_how_many_seeds_it_rests_on(validated):
    """Adam's seeds 11 and 12 diverged at step 100: from there its line is the mean of 1 of 3 seeds."""
    records = make_seeded_records()
    gone = (records["run"] == "Adam") & records["seed"].isin([11, 12]) & (records["step"] >= 100)
    fig = validated(
        loss_curves(
            records[~gone],
            RUNS,
            TASKS[:1],
            split="train",
            divergences=diverged("Adam", 100, seed=11),
            diverged_seeds={"Adam": {11: 100, 12: 100}},
        )
    )
    (line,) = [t for t in fig.data if t.legendgroup == "Adam" and t.mode == "lines" and t.fill != "toself"]
    steps, said = np.asarray(line.x), np.asarray(line.customdata)
    assert set(said[steps < 100]) == {"mean of 3 seeds"}
    assert set(said[steps >= 100]) == {"mean of 1 of 3 seeds (2 diverged)"}
    assert "%{customdata}" in line.hovertemplate
    assert line.name == "Adam (1 of 3 seeds after step 100)"
    # The others are untouched: plain names, their own hover.
    sgd = [t for t in fig.data if t.legendgroup == "SGD" and t.showlegend]
    assert sgd[0].name == "SGD" and "mean of 3 seeds" in sgd[0].hovertemplate


def shifted(records: pd.DataFrame, run: str, by: float) -> pd.DataFrame:
    """The records with `run`'s losses lowered by `by` (Toy 2D's losses go below zero)."""
    out = records.copy()
    out.loc[out["run"] == run, "value"] -= by
    return out


def test_log_scale_is_off_where_some_loss_is_not_positive_and_the_figure_says_why():
    records = shifted(make_records(), "Adam", 20.0)
    fig = loss_curves(records, RUNS, TASKS, log_y=True)
    assert all(fig.layout[name].type != "log" for name in fig.layout if name.startswith("yaxis"))
    note = log_scale_note(fig)
    assert note is not None and note.startswith("Log scale is off: some losses are ≤ 0")
    # The best run (the lowest, negative losses) is drawn, not dropped off a log axis.
    adam = [t for t in fig.data if t.legendgroup == "Adam" and t.mode == "lines"]
    assert min(float(np.min(t.y)) for t in adam) < 0
    # Asked for a linear axis, or every loss positive: nothing to say.
    assert log_scale_note(loss_curves(records, RUNS, TASKS, log_y=False)) is None
    assert log_scale_note(loss_curves(make_records(), RUNS, TASKS, log_y=True)) is None
    # Only the runs drawn count.
    assert fig_is_log(loss_curves(records, ["SGD", "RMSprop"], TASKS, log_y=True))


def fig_is_log(fig) -> bool:
    return all(fig.layout[name].type == "log" for name in fig.layout if name.startswith("yaxis"))


@pytest.mark.parametrize("low, high", [(0.15, 0.9), (1.02, 1.2), (0.3, 3.0), (2.0, 60.0)])
def test_a_short_log_range_still_gets_at_least_three_tick_labels(low, high, validated):
    """Under a decade or two, one tick per decade leaves the axis with one number or none."""
    steps = np.arange(1, 101)
    values = np.geomspace(high, low, len(steps))
    records = pd.concat([_frame("SGD", "price", "train_loss", steps, values)], ignore_index=True)
    fig = validated(loss_curves(records, ["SGD"], ["price"], split="train", log_y=True))
    yaxis = fig.layout.yaxis
    assert yaxis.type == "log"
    ticks = [v for v in (yaxis.tickvals or ()) if low * 0.999 <= v <= high * 1.001]
    assert len(ticks) >= 3, (yaxis.tickvals, yaxis.dtick)
    assert len(yaxis.ticktext) == len(yaxis.tickvals)


def test_each_panel_gets_ticks_for_its_own_range():
    steps = np.arange(1, 101)
    records = pd.concat(
        [
            _frame("SGD", "price", "train_loss", steps, np.geomspace(0.02, 0.01, 100)),
            _frame("SGD", "click", "train_loss", steps, np.geomspace(100.0, 0.5, 100)),
        ],
        ignore_index=True,
    )
    fig = loss_curves(records, ["SGD"], ["price", "click"], split="train")
    price = [v for v in fig.layout.yaxis.tickvals if 0.01 * 0.999 <= v <= 0.02 * 1.001]
    assert len(price) >= 3


def test_colors_given_by_the_view_are_used_for_every_run():
    colors = {"SGD": "#123456", "Adam": "#abcdef", "RMSprop": "#fedcba"}
    fig = loss_curves(make_records(), ["Adam"], TASKS[:1], colors=colors)
    assert {t.line.color for t in fig.data if t.mode and t.mode.startswith("lines")} == {"#abcdef"}
