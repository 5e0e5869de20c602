"""Collapse a run's seeds into one mean line and an optional band.

A configuration trained with several seeds has one row per (run, seed, step, ...):
a line per seed would zig-zag through the same panel, so the charts draw the
mean over seeds with a band around it, either mean ± std or the seeds' min-max.

Conventions (the tests check them against numpy):

- std is the population standard deviation (ddof=0, numpy's default): with two
  or three seeds, a step that only one seed reached would have no sample std.
- A seed that has no finite value at a step (it diverged earlier, or was never
  measured there) does not count at that step: mean, std, min and max are over
  the seeds with a finite value. After a seed diverges the line follows the
  survivors; the divergence marker says the run diverged.
- `seconds` is averaged over the same seeds (seeds run at nearly the same pace).

Frames without a `seed` column, and frames whose rows all share one seed, are
returned as they are with no band: the single-seed case pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtlviz.charts.lines import label_codes

BANDS = ("std", "minmax")


@dataclass(frozen=True)
class SeedSummary:
    """The mean over seeds, its band, and how many seeds each run has.

    `mean` has one row per (facet, run, step) with columns run, <facet>, step,
    value and seconds (the input frame itself when there is one seed); `band`
    holds (low, high) frames of the same shape, for the runs with several seeds.
    """

    mean: pd.DataFrame
    band: tuple[pd.DataFrame, pd.DataFrame] | None = None
    seeds: dict[str, int] = field(default_factory=dict)  # run -> seeds; absent means one

    def seeds_of(self, run: str) -> int:
        return self.seeds.get(run, 1)


def has_seeds(frame: pd.DataFrame) -> bool:
    """Whether the frame holds more than one seed (no `seed` column: one seed)."""
    if "seed" not in frame.columns or len(frame) < 2:
        return False
    seeds = frame["seed"].to_numpy()
    return not bool((seeds == seeds[0]).all())


def aggregate_seeds(
    frame: pd.DataFrame, facet_column: str = "task", band: str | None = "std", positive: bool = False
) -> SeedSummary:
    """Mean over seeds of one metric's rows, per (facet, run, step), and its band.

    band: "std" (mean ± std), "minmax" (the seeds' lowest to highest value) or None.
    positive: for a log axis, where mean - std can fall to zero or below and
    could not be drawn: there the low edge stops at the lowest seed instead.
    """
    if band not in (*BANDS, None):
        raise ValueError(f"band must be one of {BANDS} or None, found {band!r}")
    if not has_seeds(frame):
        return SeedSummary(frame)
    facet_codes, facets = label_codes(frame[facet_column])
    run_codes, runs = label_codes(frame["run"])
    seed_codes, n_seeds = _seed_codes(frame["seed"].to_numpy())
    steps = frame["step"].to_numpy()
    values = frame["value"].to_numpy(dtype=np.float64)
    seconds = frame["seconds"].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        facet_codes, run_codes, seed_codes = facet_codes[finite], run_codes[finite], seed_codes[finite]
        steps, values, seconds = steps[finite], values[finite], seconds[finite]
    if not len(values):
        return SeedSummary(frame.iloc[0:0])

    # Every (series, step) is a cell of a dense grid; cells are summed with
    # bincount, which is linear where a groupby over categoricals sorts.
    n_runs = len(runs)
    key = facet_codes.astype(np.int64) * n_runs + run_codes
    used = np.bincount(key, minlength=len(facets) * n_runs) > 0
    series = (np.cumsum(used) - 1)[key]
    used_keys = np.flatnonzero(used)
    step_codes, step_values = _step_codes(steps, len(used_keys))
    n_steps = len(step_values)
    cell = series * n_steps + step_codes
    size = len(used_keys) * n_steps
    count = np.bincount(cell, minlength=size)
    keep = np.flatnonzero(count)
    n = count[keep]
    mean_all = np.bincount(cell, weights=values, minlength=size) / np.maximum(count, 1)
    mean = mean_all[keep]
    mean_seconds = np.bincount(cell, weights=seconds, minlength=size)[keep] / n

    seeds_per_run = (np.bincount(seed_codes * n_runs + run_codes, minlength=n_seeds * n_runs) > 0).reshape(
        n_seeds, n_runs
    )
    seeds = {str(runs[r]): int(c) for r, c in enumerate(seeds_per_run.sum(axis=0)) if c > 0}

    key_out = used_keys[keep // n_steps]
    columns = {
        "run": _labels(frame["run"], key_out % n_runs, runs),
        facet_column: _labels(frame[facet_column], key_out // n_runs, facets),
        "step": step_values[keep % n_steps],
    }
    summary_mean = pd.DataFrame({**columns, "value": mean, "seconds": mean_seconds})
    if band is None:
        return SeedSummary(summary_mean, None, seeds)

    if band == "minmax":
        low, high = _extremes(values, seed_codes, (np.cumsum(count > 0) - 1)[cell], n_seeds, len(keep))
    else:
        deviation = values - mean_all[cell]
        std = np.sqrt(np.bincount(cell, weights=deviation * deviation, minlength=size)[keep] / n)
        low, high = mean - std, mean + std
        below = np.flatnonzero(low <= 0) if positive else ()
        if len(below):
            # Only these few cells need their lowest seed: a grid over just them.
            position = np.full(size, -1)
            position[keep[below]] = np.arange(len(below))
            position = position[cell]
            rows = position >= 0
            low[below] = _extremes(values[rows], seed_codes[rows], position[rows], n_seeds, len(below))[0]
    # A run with one seed has nothing to spread: no band for it.
    several = np.array([seeds.get(str(run), 0) > 1 for run in runs])[key_out % n_runs]
    if not several.any():
        return SeedSummary(summary_mean, None, seeds)
    if not several.all():
        columns = {name: labels[several] for name, labels in columns.items()}
        low, high, mean_seconds = low[several], high[several], mean_seconds[several]
    band_frames = (
        pd.DataFrame({**columns, "value": low, "seconds": mean_seconds}),
        pd.DataFrame({**columns, "value": high, "seconds": mean_seconds}),
    )
    return SeedSummary(summary_mean, band_frames, seeds)


def _labels(column: pd.Series, codes: np.ndarray, uniques: np.ndarray):
    """Labels of the output rows, in the input column's dtype (categoricals stay categorical)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(codes, dtype=column.dtype)
    return uniques[codes]


def _seed_codes(seeds: np.ndarray) -> tuple[np.ndarray, int]:
    """(code of each row's seed, number of seeds); seeds are small integers, so no hashing."""
    first = int(seeds.min())
    offset = (seeds - first).astype(np.int64)
    if int(offset.max()) >= 1 << 20:
        codes, uniques = pd.factorize(seeds, sort=True)
        return codes.astype(np.int64), len(uniques)
    used = np.bincount(offset) > 0
    return (np.cumsum(used) - 1)[offset], int(used.sum())


def _step_codes(steps: np.ndarray, n_series: int) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row's step, the steps in order).

    Steps offset from the first one when the grid they span stays small (the
    usual case: a metric recorded every step or every few); otherwise the
    distinct steps, found by hashing.
    """
    first, last = int(steps.min()), int(steps.max())
    span = last - first + 1
    if span * n_series <= 4 * len(steps) + 65_536:
        return (steps - first).astype(np.int64), np.arange(first, last + 1, dtype=steps.dtype)
    codes, uniques = pd.factorize(steps, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _extremes(
    values: np.ndarray, seed_codes: np.ndarray, position: np.ndarray, n_seeds: int, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) over seeds of each cell, from each row's cell position.

    A (seeds, cells) grid, NaN where a seed has no value; every cell has a value
    in some seed, so fmin and fmax never meet an all-NaN column.
    """
    grid = np.full((n_seeds, n_cells), np.nan)
    grid[seed_codes, position] = values
    return np.fmin.reduce(grid, axis=0), np.fmax.reduce(grid, axis=0)
