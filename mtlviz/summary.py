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

from mtlviz.records import VAL_ACCURACY, VAL_LOSS, VAL_R2, VAL_RMSE

SUMMARY_COLUMNS = [
    "task",
    "run",
    "seeds",
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

    Only (run, seed, task) that reached their target have a row.
    """
    columns = ["run", "seed", "task", "step", "seconds"]
    val = _with_seed(records)
    val = val[(val["metric"] == VAL_LOSS) & val["task"].isin(list(targets))]
    if val.empty:
        return pd.DataFrame(columns=columns)
    goal = val["task"].astype(str).map(targets).to_numpy(dtype=np.float64)
    reached = val[val["value"].to_numpy() <= goal]
    first = reached.sort_values("step").drop_duplicates(["run", "seed", "task"], keep="first")
    return first[columns].astype({"run": str, "task": str}).reset_index(drop=True)


def summary_table(
    records: pd.DataFrame, diverged: Diverged | None = None, targets: dict[str, float] | None = None
) -> pd.DataFrame:
    """One row per (task, run) from the last evaluation each seed reached.

    Values are means over seeds (`*_std`: their standard deviation, ddof 0; 0
    for one seed); seeds that diverged are left out of the means while any seed
    of the run did not. `best` marks the lowest mean validation loss per task
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
    table["seeds"] = (
        wide.groupby(["task", "run"], sort=False)["seed"]
        .nunique()
        .reindex(pd.MultiIndex.from_frame(table[["task", "run"]]))
        .to_numpy()
    )
    table["status"] = [_status(bad.get(run), n) for run, n in zip(table["run"], table["seeds"])]

    reached = time_to_target(records, targets)
    means = reached.groupby(["task", "run"])[["step", "seconds"]].mean()
    counts = reached.groupby(["task", "run"]).size()
    index = pd.MultiIndex.from_frame(table[["task", "run"]])
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
    return f"diverged at step {step} ({len(bad)} of {seeds} seeds)"


def _target_text(has_target: bool, hits: int, seeds: int) -> str:
    if not has_target:
        return ""
    if hits == 0:
        return NOT_REACHED
    return "reached" if hits == seeds else f"reached by {hits} of {seeds} seeds"


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
    objective = (ok["val_loss"] * ok["task"].map(weights).fillna(1.0)).groupby(ok["run"]).agg(["sum", "count"])
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
    shown = summary.assign(best=summary["best"].map({True: "*", False: ""}))
    drop = ["metric"]
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
            "target_seconds": "target at s",
        }
    )
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—")
