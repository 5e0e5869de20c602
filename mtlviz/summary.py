"""End-of-run summary: final validation loss and metric per task per configuration."""

from __future__ import annotations

import pandas as pd

from mtlviz.engine.records import VAL_ACCURACY, VAL_LOSS, VAL_R2, VAL_RMSE

SUMMARY_COLUMNS = ["task", "run", "step", "val_loss", "metric", "score", "rmse", "best", "status"]


def summary_table(records: pd.DataFrame, diverged: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per (task, run) from the last evaluation each run reached.

    `best` marks the lowest validation loss per task among runs that did not
    diverge; `score` is accuracy (classification) or R^2 (regression); `rmse`
    is the regression error in the target's original units.
    """
    diverged = diverged or {}
    val = records[records["metric"].str.startswith("val_")]
    if val.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    last = val[val["step"] == val.groupby(["run", "task"])["step"].transform("max")]
    wide = last.pivot_table(index=["task", "run", "step"], columns="metric", values="value", aggfunc="last")
    wide = wide.reset_index()
    score_columns = [c for c in (VAL_ACCURACY, VAL_R2) if c in wide.columns]
    wide["metric"] = ""
    wide["score"] = float("nan")
    for column in score_columns:
        has = wide[column].notna()
        wide.loc[has, "metric"] = column.removeprefix("val_")
        wide.loc[has, "score"] = wide.loc[has, column]
    wide["val_loss"] = wide.get(VAL_LOSS, float("nan"))
    wide["rmse"] = wide.get(VAL_RMSE, float("nan"))  # regression only, in the target's units
    wide["status"] = [f"diverged at step {diverged[r]}" if r in diverged else "ok" for r in wide["run"]]
    candidates = wide[wide["status"] == "ok"].dropna(subset=["val_loss"])
    best_index = candidates.groupby("task")["val_loss"].idxmin()
    wide["best"] = wide.index.isin(best_index.to_numpy())
    order = {name: i for i, name in enumerate(dict.fromkeys(records["task"]))}
    run_order = {name: i for i, name in enumerate(dict.fromkeys(records["run"]))}
    wide = wide.sort_values(["task", "run"], key=lambda s: s.map(order if s.name == "task" else run_order))
    return wide[SUMMARY_COLUMNS].reset_index(drop=True)


def best_per_task(summary: pd.DataFrame) -> dict[str, str]:
    """Task name -> label of the configuration with the lowest validation loss."""
    return dict(zip(summary.loc[summary["best"], "task"], summary.loc[summary["best"], "run"]))


def format_summary(summary: pd.DataFrame) -> str:
    """Plain-text table for the terminal, best rows starred."""
    if summary.empty:
        return "(no validation results)"
    shown = summary.assign(best=summary["best"].map({True: "*", False: ""}))
    shown = shown.rename(columns={"val_loss": "val loss", "score": "accuracy / R^2", "rmse": "RMSE"})
    return shown.drop(columns=["metric"]).to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—")
