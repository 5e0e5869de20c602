"""Seed aggregation: mean, std and min-max over seeds, checked against numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlviz.charts.seeds import aggregate_seeds, has_seeds
from mtlviz.records import RecordSchema

RUNS = ("A", "B")
TASKS = ("x", "y")
SEEDS = (7, 8, 9)
STEPS = np.arange(1, 11)


def seeded_frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows of 2 runs x 2 tasks x 3 seeds x 10 steps, with gaps; and the same as dense arrays.

    Seed 9 of run A diverged after step 6 (no rows from step 7 on), and seed 8 of
    run A has a NaN loss at step 3 of task x. Returns (frame, values, seconds),
    the arrays (run, task, seed, step) with NaN where a row is missing or NaN.
    """
    rng = np.random.default_rng(0)
    values = rng.lognormal(0, 1, (len(RUNS), len(TASKS), len(SEEDS), len(STEPS)))
    seconds = STEPS * 0.1 + rng.uniform(0, 0.01, values.shape)
    rows = []
    for r, run in enumerate(RUNS):
        for t, task in enumerate(TASKS):
            for s, seed in enumerate(SEEDS):
                for i, step in enumerate(STEPS):
                    if run == "A" and seed == 9 and step > 6:
                        values[r, t, s, i] = seconds[r, t, s, i] = np.nan
                        continue
                    if run == "A" and task == "x" and seed == 8 and step == 3:
                        values[r, t, s, i] = np.nan
                        seconds[r, t, s, i] = np.nan  # a NaN row counts as no row, for seconds too
                    rows.append((run, seed, step, task, "", "train_loss", values[r, t, s, i], seconds[r, t, s, i]))
    columns = ["run", "seed", "step", "task", "layer", "metric", "value", "seconds"]
    frame = pd.DataFrame(rows, columns=columns).sample(frac=1, random_state=1)  # order must not matter
    return frame, values, seconds


def lookup(frame: pd.DataFrame, run: str, task: str) -> pd.DataFrame:
    rows = frame[(frame["run"] == run) & (frame["task"] == task)]
    return rows.sort_values("step")


def test_mean_and_std_match_numpy_and_skip_missing_seeds():
    frame, values, seconds = seeded_frame()
    summary = aggregate_seeds(frame, "task", "std")
    low, high = summary.band
    assert len(summary.mean) == len(RUNS) * len(TASKS) * len(STEPS)
    for r, run in enumerate(RUNS):
        for t, task in enumerate(TASKS):
            mean = lookup(summary.mean, run, task)
            np.testing.assert_array_equal(mean["step"], STEPS)
            np.testing.assert_allclose(mean["value"], np.nanmean(values[r, t], axis=0), rtol=1e-12)
            np.testing.assert_allclose(mean["seconds"], np.nanmean(seconds[r, t], axis=0), rtol=1e-12)
            std = np.nanstd(values[r, t], axis=0, ddof=0)
            np.testing.assert_allclose(lookup(low, run, task)["value"], mean["value"] - std, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(lookup(high, run, task)["value"], mean["value"] + std, rtol=1e-9)
    # After seed 9 diverged, run A's mean is that of the two survivors, not dragged by a missing value.
    a = values[0, 0]
    at_8 = lookup(summary.mean, "A", "x").set_index("step")["value"][8]
    assert at_8 == pytest.approx((a[0, 7] + a[1, 7]) / 2)
    # At step 3 of task x only seeds 7 and 9 count (seed 8's loss was NaN).
    at_3 = lookup(summary.mean, "A", "x").set_index("step")["value"][3]
    assert at_3 == pytest.approx((a[0, 2] + a[2, 2]) / 2)
    assert summary.seeds == {"A": 3, "B": 3}


def test_minmax_band_matches_numpy():
    frame, values, _ = seeded_frame()
    low, high = aggregate_seeds(frame, "task", "minmax").band
    for r, run in enumerate(RUNS):
        for t, task in enumerate(TASKS):
            np.testing.assert_allclose(lookup(low, run, task)["value"], np.nanmin(values[r, t], axis=0))
            np.testing.assert_allclose(lookup(high, run, task)["value"], np.nanmax(values[r, t], axis=0))


def test_no_band_when_asked_for_none():
    frame, _, _ = seeded_frame()
    summary = aggregate_seeds(frame, "task", None)
    assert summary.band is None
    assert len(summary.mean) == len(RUNS) * len(TASKS) * len(STEPS)


def test_positive_band_stops_at_the_lowest_seed_instead_of_below_zero():
    frame = pd.DataFrame(
        {
            "run": "A",
            "seed": [0, 1, 2, 0, 1, 2],
            "step": [1, 1, 1, 2, 2, 2],
            "task": "x",
            "value": [1.0, 1.0, 100.0, 2.0, 3.0, 4.0],
            "seconds": 0.0,
        }
    )
    plain = aggregate_seeds(frame, "task", "std").band[0]["value"].to_numpy()
    positive = aggregate_seeds(frame, "task", "std", positive=True).band[0]["value"].to_numpy()
    spread = np.std([1.0, 1.0, 100.0])
    assert plain[0] == pytest.approx(34.0 - spread) and plain[0] < 0
    assert positive[0] == 1.0  # the lowest seed
    assert positive[1] == plain[1] == pytest.approx(3.0 - np.std([2.0, 3.0, 4.0]))


@pytest.mark.parametrize("drop_seed", [True, False])
def test_a_single_seed_passes_through_unchanged(drop_seed):
    frame, _, _ = seeded_frame()
    one = frame[frame["seed"] == 7]
    if drop_seed:
        one = one.drop(columns="seed")
    assert not has_seeds(one)
    summary = aggregate_seeds(one, "task", "std")
    assert summary.mean is one
    assert summary.band is None
    assert summary.seeds_of("A") == 1


def test_a_run_with_one_seed_gets_no_band():
    frame, values, _ = seeded_frame()
    frame = frame[(frame["run"] == "A") | (frame["seed"] == 7)]
    summary = aggregate_seeds(frame, "task", "std")
    assert summary.seeds == {"A": 3, "B": 1}
    assert set(summary.band[0]["run"]) == {"A"}
    np.testing.assert_allclose(lookup(summary.mean, "B", "y")["value"], values[1, 1, 0])


def test_categorical_records_keep_their_dtype():
    schema = RecordSchema(("A", "A", "B", "B"), TASKS, seeds=(0, 1, 0, 1))
    values = np.arange(3 * 4 * 2, dtype=float).reshape(3, 4, 2) + 1  # (steps, K engine rows, tasks)
    frame = schema.grid("train_loss", values, np.array([10, 20, 30]), np.array([1.0, 2.0, 3.0]), TASKS)
    summary = aggregate_seeds(frame, "task", "std")
    assert summary.mean["run"].dtype == schema.run
    assert summary.mean["task"].dtype == schema.task
    b_y = lookup(summary.mean, "B", "y")
    np.testing.assert_array_equal(b_y["step"], [10, 20, 30])
    # B's seeds are engine rows 2 and 3: task y of each step averages values[:, 2:4, 1].
    np.testing.assert_allclose(b_y["value"], values[:, 2:4, 1].mean(axis=1))


def test_sparse_steps_far_apart():
    """Steps a million apart take the hashing path; the result is the same."""
    steps = np.array([0, 1_000_000, 5_000_000])
    frame = pd.DataFrame(
        {
            "run": "A",
            "seed": np.repeat([0, 1], 3),
            "step": np.tile(steps, 2),
            "task": "x",
            "value": [1.0, 2.0, 3.0, 3.0, 4.0, 5.0],
            "seconds": np.tile([0.0, 10.0, 50.0], 2),
        }
    )
    summary = aggregate_seeds(frame, "task", "minmax")
    np.testing.assert_array_equal(summary.mean["step"], steps)
    np.testing.assert_allclose(summary.mean["value"], [2.0, 3.0, 4.0])
    np.testing.assert_allclose(summary.band[0]["value"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(summary.band[1]["value"], [3.0, 4.0, 5.0])


def test_an_unknown_band_raises():
    frame, _, _ = seeded_frame()
    with pytest.raises(ValueError, match="band must be one of"):
        aggregate_seeds(frame, "task", "iqr")
