"""End-of-run summary: final validation results per task and run, over seeds.

One row per (task, run): the last evaluation each seed reached, as the mean
(and standard deviation) over seeds; when a validation-loss target is set for
the task, the step and the seconds at which the run first reached it ("time to
target"). Also the best learning rate of each swept configuration, and the
final losses the sensitivity chart draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlviz.records import CLIPPED_SHARE, COST_SECONDS, VAL_ACCURACY, VAL_LOSS, VAL_R2, VAL_RMSE

SUMMARY_COLUMNS = [
    "task",
    "run",
    "seeds",
    "seeds_used",
    "step",
    "val_loss",
    "val_loss_std",
    "metric",
    "score",
    "score_std",
    "rmse",
    "target_step",
    "target_seconds",
    "target",
    "best",
    "status",
]
NOT_REACHED = "not reached"
# Two runs whose validation losses differ by less than this share at every evaluation coincide on a chart:
# on a log axis 2% is under a hundredth of a decade, thinner than the line itself.
COINCIDE_TOLERANCE = 0.02

# run -> step (one seed), or run -> {seed: step} (the seeds that diverged)
Diverged = dict[str, int] | dict[str, dict[int, int]]


def diverged_seeds(diverged: Diverged | None) -> dict[str, dict[int | None, int]]:
    """run -> {seed: step}; a plain run -> step means every seed (seed None)."""
    return {run: (dict(v) if isinstance(v, dict) else {None: int(v)}) for run, v in (diverged or {}).items()}


def _with_seed(records: pd.DataFrame) -> pd.DataFrame:
    if "seed" in records.columns and not records["seed"].isna().any():
        return records
    return records.assign(seed=0)  # records saved before seeds existed: one seed


def final_losses(records: pd.DataFrame, diverged: Diverged | None = None) -> pd.DataFrame:
    """(run, seed, task, val_loss, step) at each seed's last evaluation; NaN loss for a diverged seed."""
    val = _with_seed(records)
    val = val[val["metric"] == VAL_LOSS]
    if val.empty:
        return pd.DataFrame(columns=["run", "seed", "task", "val_loss", "step"])
    keys = ["run", "seed", "task"]
    last = val[val["step"] == val.groupby(keys, observed=True)["step"].transform("max")]
    out = last[keys + ["value", "step"]].rename(columns={"value": "val_loss"}).astype({"run": str, "task": str})
    bad = diverged_seeds(diverged)
    out.loc[_diverged_mask(bad, out), "val_loss"] = np.nan
    return out.reset_index(drop=True)


def time_to_target(records: pd.DataFrame, targets: dict[str, float]) -> pd.DataFrame:
    """(run, seed, task, step, seconds): the first evaluation whose val loss is <= the task's target.

    `seconds` is the training time charged to that run up to then (its cost_seconds, mtlviz/engine/cost.py):
    rows share one clock, so the wall clock would give every run the same time. Runs recorded
    before costs were charged fall back to the wall clock. Only (run, seed, task) that reached their
    target have a row.
    """
    columns = ["run", "seed", "task", "step", "seconds"]
    records = _with_seed(records)
    val = records[(records["metric"] == VAL_LOSS) & records["task"].isin(list(targets))]
    if val.empty:
        return pd.DataFrame(columns=columns)
    goal = val["task"].astype(str).map(targets).to_numpy(dtype=np.float64)
    reached = val[val["value"].to_numpy() <= goal]
    first = reached.sort_values("step").drop_duplicates(["run", "seed", "task"], keep="first")
    first = first.astype({"run": str, "task": str})
    cost = records[records["metric"] == COST_SECONDS]
    if not cost.empty:
        charged = cost.astype({"run": str}).set_index(["run", "seed", "step"])["value"]
        index = pd.MultiIndex.from_frame(first[["run", "seed", "step"]])
        first = first.assign(seconds=charged.reindex(index).to_numpy())
    return first[columns].reset_index(drop=True)


def clipping_notes(records: pd.DataFrame, aggressive: float = 0.5) -> list[str]:
    """One sentence per run that clipped more than `aggressive` of its steps (mean over its seeds):
    the Tuning Playbook calls that extremely aggressive clipping."""
    shares = records[records["metric"] == CLIPPED_SHARE]
    if shares.empty:
        return []
    last = shares[shares["step"] == shares.groupby(["run", "seed"], observed=True)["step"].transform("max")]
    mean = last.groupby(last["run"].astype(str), sort=False)["value"].mean()
    return [
        f"{run} clipped its gradient on {share:.0%} of its steps: clipping more than half the steps is extremely "
        "aggressive; a larger clip_norm would let the optimizer see the gradient's size."
        for run, share in mean.items()
        if share > aggressive
    ]


def summary_table(
    records: pd.DataFrame, diverged: Diverged | None = None, targets: dict[str, float] | None = None
) -> pd.DataFrame:
    """One row per (task, run) from the last evaluation each seed reached.

    Values are means over the seeds that did not diverge; `seeds` counts every
    seed of the run, `seeds_used` those the values rest on. `*_std` is their
    standard deviation (ddof 0), NaN from fewer than two seeds: one seed has no
    spread to show. A run whose every seed diverged has no values at all (its
    last evaluation, often the untrained step 0, is no result): NaN, `step` its
    first divergence step, `seeds_used` 0. `best` marks the lowest mean validation loss per task
    among runs none of whose seeds diverged; `score` is accuracy
    (classification) or R^2 (regression); `rmse` is the regression error in the
    target's original units. `target_step` / `target_seconds`: mean over the
    seeds that reached the task's validation target (`target` says how many).
    """
    bad = diverged_seeds(diverged)
    targets = targets or {}
    records = _with_seed(records)
    val = records[records["metric"].astype(str).str.startswith("val_")]
    if val.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    keys = ["task", "run", "seed"]
    last = val[val["step"] == val.groupby(keys, observed=True)["step"].transform("max")]
    wide = last.pivot_table(index=keys + ["step"], columns="metric", values="value", aggfunc="last", observed=True)
    wide = wide.reset_index()
    wide.columns = [str(c) for c in wide.columns]
    wide[["task", "run"]] = wide[["task", "run"]].astype(str)
    wide["metric"] = ""
    wide["score"] = np.nan
    for column in (VAL_ACCURACY, VAL_R2):
        if column in wide.columns:
            has = wide[column].notna()
            wide.loc[has, "metric"] = column.removeprefix("val_")
            wide.loc[has, "score"] = wide.loc[has, column]
    wide["val_loss"] = wide[VAL_LOSS] if VAL_LOSS in wide.columns else np.nan
    wide["rmse"] = wide[VAL_RMSE] if VAL_RMSE in wide.columns else np.nan
    wide["bad"] = [
        run in bad and (None in bad[run] or seed in bad[run]) for run, seed in zip(wide["run"], wide["seed"])
    ]
    # A diverged seed counts only when every seed of the run diverged.
    all_bad = wide.groupby(["task", "run"])["bad"].transform("all")
    kept = wide[~wide["bad"] | all_bad]

    grouped = kept.groupby(["task", "run"], sort=False)
    table = grouped.agg(
        seeds=("seed", "nunique"),
        step=("step", "max"),
        val_loss=("val_loss", "mean"),
        val_loss_std=("val_loss", lambda v: float(np.std(v))),
        metric=("metric", "first"),
        score=("score", "mean"),
        score_std=("score", lambda v: float(np.std(v))),
        rmse=("rmse", "mean"),
    ).reset_index()
    index = pd.MultiIndex.from_frame(table[["task", "run"]])
    table["seeds"] = wide.groupby(["task", "run"], sort=False)["seed"].nunique().reindex(index).to_numpy()
    healthy = wide[~wide["bad"]].groupby(["task", "run"], sort=False)["seed"].nunique()
    table["seeds_used"] = healthy.reindex(index).fillna(0).astype(int).to_numpy()
    values = ["val_loss", "val_loss_std", "score", "score_std", "rmse"]
    table.loc[table["seeds_used"] == 0, values] = np.nan
    dead = (table["seeds_used"] == 0).to_numpy()
    if dead.any():
        table.loc[dead, "step"] = [min(bad[run].values()) for run in table.loc[dead, "run"]]
    table.loc[table["seeds_used"] < 2, ["val_loss_std", "score_std"]] = np.nan
    table["status"] = [_status(bad.get(run), n) for run, n in zip(table["run"], table["seeds"])]

    reached = time_to_target(records, targets)
    means = reached.groupby(["task", "run"])[["step", "seconds"]].mean()
    counts = reached.groupby(["task", "run"]).size()
    table["target_step"] = means["step"].reindex(index).to_numpy() if len(means) else np.nan
    table["target_seconds"] = means["seconds"].reindex(index).to_numpy() if len(means) else np.nan
    hits = counts.reindex(index).fillna(0).astype(int).to_numpy() if len(counts) else np.zeros(len(table), int)
    table["target"] = [
        _target_text(task in targets, hit, n) for task, hit, n in zip(table["task"], hits, table["seeds"])
    ]

    candidates = table[table["status"] == "ok"].dropna(subset=["val_loss"])
    best_index = candidates.groupby("task")["val_loss"].idxmin()
    table["best"] = table.index.isin(best_index.to_numpy())
    order = {name: i for i, name in enumerate(dict.fromkeys(records["task"].astype(str)))}
    run_order = {name: i for i, name in enumerate(dict.fromkeys(records["run"].astype(str)))}
    table = table.sort_values(["task", "run"], key=lambda s: s.map(order if s.name == "task" else run_order))
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def _diverged_mask(bad: dict[str, dict[int | None, int]], frame: pd.DataFrame) -> np.ndarray:
    """Which rows of `frame` (columns run, seed) belong to a diverged seed."""
    hit = [run in bad and (None in bad[run] or seed in bad[run]) for run, seed in zip(frame["run"], frame["seed"])]
    return np.asarray(hit, dtype=bool)


def _status(bad: dict[int | None, int] | None, seeds: int) -> str:
    if not bad:
        return "ok"
    step = min(bad.values())
    if None in bad or seeds <= 1:
        return f"diverged at step {step}"
    if len(bad) >= seeds:
        return f"diverged at step {step} (all {seeds} seeds)"
    return f"diverged at step {step} ({len(bad)} of {seeds} seeds)"


def _target_text(has_target: bool, hits: int, seeds: int) -> str:
    if not has_target:
        return ""
    if hits == 0:
        return NOT_REACHED
    return "reached" if hits == seeds else f"reached by {hits} of {seeds} seeds"


def seeds_texts(summary: pd.DataFrame) -> list[str]:
    """How many seeds each row's values rest on: "3", or "1 of 3" when some diverged ("0 of 3": none)."""
    return [
        str(n) if used == n else f"{used} of {n}"
        for n, used in zip(summary["seeds"].astype(int), summary["seeds_used"].astype(int))
    ]


def coinciding_runs(records: pd.DataFrame, tolerance: float = COINCIDE_TOLERANCE) -> list[tuple[str, str, float]]:
    """(run, run, largest relative difference) of each pair of runs whose curves coincide, in run order.

    Two runs coincide when they were evaluated at the same (task, step)s, at
    least two distinct steps (every run starts from the same weights, so step 0
    alone says nothing), and at every one of them their validation losses (mean
    over seeds) differ by less than `tolerance` of the larger in magnitude:
    |a - b| < tolerance * max(|a|, |b|). On a chart one line then hides the other.
    The third value is the largest |a - b| / max(|a|, |b|) over those evaluations.
    """
    val = _with_seed(records)
    val = val[val["metric"] == VAL_LOSS]
    if val.empty:
        return []
    val = val.astype({"run": str, "task": str})
    means = val.groupby(["task", "step", "run"], sort=False)["value"].mean().unstack("run")  # (evaluations, runs)
    runs = list(dict.fromkeys(val["run"]))
    means = means.reindex(columns=runs)
    present = means.notna().to_numpy()
    values = means.to_numpy(dtype=np.float64)
    steps = means.index.get_level_values("step").to_numpy()
    pairs = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            if not (present[:, i] == present[:, j]).all():
                continue  # evaluated at different steps: one stopped or started elsewhere
            both = present[:, i]
            if len(np.unique(steps[both])) < 2:
                continue
            a, b = values[both, i], values[both, j]
            scale = np.maximum(np.abs(a), np.abs(b))
            gap = np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)
            if (gap < tolerance).all():
                pairs.append((runs[i], runs[j], float(gap.max())))
    return pairs


def coincidence_notes(pairs: list[tuple[str, str, float]]) -> list[str]:
    """One sentence per coinciding pair (from coinciding_runs), for a note by the chart or the summary."""
    return [
        f"{a} and {b} coincide: their validation losses differ by at most {_percent(gap)} at every evaluation, "
        "so one line hides the other."
        for a, b, gap in pairs
    ]


def _percent(share: float) -> str:
    return f"{share:.1%}" if share >= 0.001 else "0.1%"


def best_per_task(summary: pd.DataFrame) -> dict[str, str]:
    """Task name -> label of the run with the lowest validation loss."""
    return dict(zip(summary.loc[summary["best"], "task"], summary.loc[summary["best"], "run"]))


def best_learning_rates(summary: pd.DataFrame, runs: pd.DataFrame, weights: dict[str, float]) -> dict[str, str]:
    """Configuration -> its best run: the lowest final validation objective.

    The objective is what training minimises, sum_t w_t * L_t (the losses are
    already in their loss scale), from the mean over seeds; runs with a
    diverged seed or a missing task are never best. `runs` has columns run,
    configuration (and lr).
    """
    ok = summary[summary["status"] == "ok"]
    # As floats: with no healthy run the empty columns keep their text dtype, and text cannot be multiplied.
    task_weights = ok["task"].astype(object).map(weights).astype(float).fillna(1.0)
    losses = ok["val_loss"].astype(float)
    objective = (losses * task_weights).groupby(ok["run"]).agg(["sum", "count"])
    tasks = summary["task"].nunique()
    objective = objective.loc[objective["count"] == tasks, "sum"].dropna()
    best = {}
    for configuration, group in runs.groupby("configuration", sort=False):
        scores = objective.reindex(group["run"]).dropna()
        if len(scores):
            best[str(configuration)] = str(scores.idxmin())
    return best


def format_summary(summary: pd.DataFrame) -> str:
    """Plain-text table for the terminal, best rows starred."""
    if summary.empty:
        return "(no validation results)"
    shown = summary.assign(
        best=summary["best"].map({True: "*", False: ""}),
        seeds=seeds_texts(summary),
    )
    drop = ["metric", "seeds_used"]
    if (summary["seeds"] <= 1).all():
        drop += ["seeds", "val_loss_std", "score_std"]
    if not summary["target"].astype(bool).any():
        drop += ["target_step", "target_seconds", "target"]
    shown = shown.drop(columns=drop).rename(
        columns={
            "val_loss": "val loss",
            "val_loss_std": "± std",
            "score": "accuracy / R^2",
            "score_std": "± std ",
            "rmse": "RMSE",
            "target_step": "target at step",
            "target_seconds": "target at s (charged)",
        }
    )
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—")
