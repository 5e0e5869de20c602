"""The comparison protocol's report: each configuration's best trial, chosen on validation, reported on test.

The optimizer is what is compared; its learning rate, schedule, weight decay,
momentum and clipping are nuisance hyperparameters, searched with the same
budget for every configuration (mtlviz/search.py). For each configuration the
trial with the lowest final validation objective (sum_t w_t * L_t, the mean
over seeds of each seed's objective; trials with a diverged seed are
infeasible) wins. Only then are the winners' test metrics read: the choice
never sees the test split (a test poisons it and checks that no choice moves).

`confirm_config` builds the follow-up a reviewer asks for: each winner alone,
re-trained on fresh seeds (DeepOBS uses 10), with nothing left to choose.

Reads records, metadata and config only (no torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mtlviz.config import CLIP, LIMITS, WARMUP, ExperimentConfig
from mtlviz.errors import ConfigError
from mtlviz.records import (
    CLIPPED_SHARE,
    COST_SECONDS,
    TEST_ACCURACY,
    TEST_LOSS,
    TEST_R2,
    VAL_LOSS,
    RunMetadata,
)
from mtlviz.search import SHORT, Trial, format_value

CONFIRM_SEEDS = 10  # DeepOBS re-runs each winner with ten seeds
AGGRESSIVE_CLIPPING = 0.5  # clipping more than half the steps is "extremely aggressive" (the Tuning Playbook)
EDGE_SHARE = 0.1  # a sampled winner in the outer 10% of its range (on its scale) is at the edge


@dataclass(frozen=True)
class Figure:
    """A mean over seeds, its spread, and how many seeds it rests on."""

    mean: float
    std: float  # NaN from one seed: one seed has no spread
    seeds: int  # seeds with a value
    of: int  # seeds run

    def text(self, digits: int = 4, unit: str = "") -> str:
        if self.seeds == 0 or not math.isfinite(self.mean):
            return "—"
        shown = f"{self.mean:.{digits}g}"
        if self.seeds > 1 and math.isfinite(self.std):
            shown += f" ± {self.std:.2g}"
        shown += unit
        seeds = (
            f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
            if self.seeds == self.of
            else f"{self.seeds} of {self.of} seeds"
        )
        return f"{shown} ({seeds})"


@dataclass(frozen=True)
class Choice:
    """One configuration's winning trial and what it scored."""

    configuration: str
    run: str  # the winning trial's run
    hyperparameters: dict[str, Any]  # its searched values
    trials: int  # trials searched
    feasible: int  # trials none of whose seeds diverged
    validation: Figure  # the objective it was chosen on
    test: Figure  # the same objective on the test split
    test_losses: dict[str, Figure]  # per task
    test_scores: dict[str, tuple[str, Figure]]  # per task: ("accuracy" or "R²", figure)
    cost_seconds: Figure  # training seconds charged to the trial (mtlviz/engine/cost.py)
    warnings: tuple[str, ...] = ()
    settings: str = ""  # what the configuration fixed (not searched): "lr=0.01, mom=0.9, cosine schedule"


@dataclass(frozen=True)
class Report:
    choices: tuple[Choice, ...]
    trials: pd.DataFrame  # one row per trial: configuration, run, knobs..., objective, std, seeds, of, feasible, chosen
    notes: tuple[str, ...] = ()

    def choice(self, configuration: str) -> Choice:
        return next(c for c in self.choices if c.configuration == configuration)


def protocol_report(records: pd.DataFrame, metadata: RunMetadata, config: ExperimentConfig) -> Report | None:
    """The report of a run that has a test split (None without one, or before its test metrics exist)."""
    if not metadata.test_examples or not metadata.rows:
        return None
    metric = records["metric"].astype(str)
    val = records[metric == VAL_LOSS]
    ended = not records[metric.str.startswith("test_")].empty or (
        not val.empty and val["step"].max() >= config.train.steps
    )
    if not ended:
        return None  # still training: the test split is read once, after training
    weights = {t.name: t.weight for t in config.tasks.targets}
    trials = _trials(val, metadata, weights)
    clipped = _last_per_seed(records[metric == CLIPPED_SHARE])
    choices, notes = [], []
    for configuration, group in trials.groupby("configuration", sort=False):
        feasible = group[group["feasible"]]
        if feasible.empty:
            notes.append(f"{configuration}: every trial diverged in some seed; nothing to choose.")
            continue
        best = feasible.loc[feasible["objective"].idxmin()]
        run = str(best["run"])
        chosen = records[(records["run"].astype(str) == run)]
        choice = Choice(
            configuration=str(configuration),
            run=run,
            hyperparameters=dict(best["hyperparameters"]),
            trials=len(group),
            feasible=len(feasible),
            validation=Figure(float(best["objective"]), float(best["std"]), int(best["seeds"]), int(best["of"])),
            test=_objective_figure(chosen[chosen["metric"].astype(str) == TEST_LOSS], weights, int(best["of"])),
            test_losses=_per_task(chosen, TEST_LOSS, int(best["of"])),
            test_scores={
                task: (name, figure)
                for name, column in (("accuracy", TEST_ACCURACY), ("R²", TEST_R2))
                for task, figure in _per_task(chosen, column, int(best["of"])).items()
            },
            cost_seconds=_figure(_last_per_seed(chosen[chosen["metric"].astype(str) == COST_SECONDS]), int(best["of"])),
            warnings=tuple(_warnings(config, str(configuration), best, group, clipped)),
            settings=_settings(_optimizer_of(config, str(configuration))),
        )
        choices.append(choice)
    trials = trials.assign(chosen=trials["run"].isin([c.run for c in choices]))
    budgets = trials.groupby("configuration", sort=False).size()
    if budgets.nunique() > 1:
        shown = ", ".join(f"{name} {count}" for name, count in budgets.items())
        notes.append(f"Unequal budgets: trials per configuration {shown}; the comparison favours the larger.")
    return Report(tuple(choices), trials, tuple(notes))


def _trials(val: pd.DataFrame, metadata: RunMetadata, weights: dict[str, float]) -> pd.DataFrame:
    """One row per trial: its validation objective over seeds, and whether it is feasible."""
    diverged = metadata.diverged_runs()
    last = val[val["step"] == val.groupby(["run", "seed"], observed=True)["step"].transform("max")]
    objective = (
        (last["value"] * last["task"].astype(str).map(weights).fillna(1.0))
        .groupby([last["run"].astype(str), last["seed"]])
        .agg(["sum", "count"])
    )
    tasks = len(metadata.tasks)
    rows = []
    for run in metadata.runs:
        infos = [row for row in metadata.rows if row.run == run]
        seeds = [row.seed for row in infos]
        values = [
            float(objective.loc[(run, seed), "sum"])
            for seed in seeds
            if (run, seed) in objective.index
            and objective.loc[(run, seed), "count"] == tasks
            and seed not in diverged.get(run, {})
        ]
        finite = [v for v in values if math.isfinite(v)]
        rows.append(
            {
                "configuration": infos[0].configuration,
                "run": run,
                "hyperparameters": infos[0].hyperparameters,
                "objective": float(np.mean(finite)) if finite else math.nan,
                "std": float(np.std(finite)) if len(finite) > 1 else math.nan,
                "seeds": len(finite),
                "of": len(seeds),
                "feasible": len(finite) == len(seeds) and not diverged.get(run),
            }
        )
    frame = pd.DataFrame(rows)
    knobs = list(dict.fromkeys(k for h in frame["hyperparameters"] for k in h))
    for knob in knobs:
        frame[knob] = [h.get(knob) for h in frame["hyperparameters"]]
    return frame


def _last_per_seed(frame: pd.DataFrame) -> pd.Series:
    """(run, seed) -> the value at the last step recorded."""
    if frame.empty:
        return pd.Series(dtype=float)
    last = frame[frame["step"] == frame.groupby(["run", "seed"], observed=True)["step"].transform("max")]
    return last.groupby([last["run"].astype(str), last["seed"]])["value"].last()


def _figure(values: pd.Series | list[float], of: int) -> Figure:
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return Figure(math.nan, math.nan, 0, of)
    return Figure(float(np.mean(finite)), float(np.std(finite)) if len(finite) > 1 else math.nan, len(finite), of)


def _objective_figure(test: pd.DataFrame, weights: dict[str, float], of: int) -> Figure:
    if test.empty:
        return Figure(math.nan, math.nan, 0, of)
    tasks = test["task"].astype(str).nunique()
    per_seed = (
        (test["value"] * test["task"].astype(str).map(weights).fillna(1.0)).groupby(test["seed"]).agg(["sum", "count"])
    )
    return _figure(per_seed.loc[per_seed["count"] == tasks, "sum"], of)


def _per_task(chosen: pd.DataFrame, metric: str, of: int) -> dict[str, Figure]:
    rows = chosen[chosen["metric"].astype(str) == metric]
    return {
        str(task): _figure(group["value"], of) for task, group in rows.groupby(rows["task"].astype(str), sort=False)
    }


def _warnings(
    config: ExperimentConfig, configuration: str, best: pd.Series, group: pd.DataFrame, clipped: pd.Series
) -> list[str]:
    warnings = []
    opt = _optimizer_of(config, configuration)
    spaces = dict(opt.spaces) if opt is not None else {}
    for knob, value in best["hyperparameters"].items():
        space = spaces.get(knob)
        if space is None or isinstance(value, list | tuple):
            continue
        edge = _edge(space, float(value))
        if edge:
            warnings.append(
                f"{configuration}: the best {SHORT.get(knob, knob)} ({value:g}) is at the {edge} edge of its range "
                f"[{space.bounds[0]:g}, {space.bounds[1]:g}]; a better value may lie beyond it: widen the range."
            )
    run = str(best["run"])
    if len(clipped):
        shares = clipped[clipped.index.get_level_values(0) == run]
        if len(shares) and float(shares.mean()) > AGGRESSIVE_CLIPPING:
            warnings.append(
                f"{configuration}: the chosen trial clipped {float(shares.mean()):.0%} of its steps; clipping more "
                "than half the steps is extremely aggressive (raise clip_norm)."
            )
    return warnings


def _optimizer_of(config: ExperimentConfig, configuration: str):
    """The optimizer configuration a report's configuration comes from (its label, or "label · method")."""
    return next(
        (o for o in config.optimizers if configuration == o.label or configuration.startswith(f"{o.label} · ")), None
    )


def _settings(opt) -> str:
    """What a configuration fixed rather than searched, in the report's words."""
    if opt is None:
        return ""
    searched = {knob for knob, _ in opt.spaces}
    parts = [] if "lr" in searched else [f"lr={opt.lr:g}"]
    parts += [f"{SHORT.get(k, k)}={format_value(v)}" for k, v in opt.options.items() if k not in searched]
    if opt.schedule is not None:
        warmup = opt.schedule.warmup_steps
        after = f" after {warmup} warmup steps" if warmup and WARMUP not in searched else ""
        parts.append(f"{opt.schedule.name} schedule{after}")
    if opt.clip_norm is not None and CLIP not in searched:
        parts.append(f"clip={opt.clip_norm:g}")
    return ", ".join(parts)


def _edge(space, value: float) -> str:
    """'lower' or 'upper' when `value` is at that edge of `space`, else ''."""
    if space.kind == "values":
        values = [v for v in space.values if isinstance(v, int | float)]
        if len(values) < 3:
            return ""  # with two values every choice is an edge: nothing to say
        return "lower" if value == min(values) else "upper" if value == max(values) else ""
    low, high = space.bounds
    if space.kind == "range" and space.num:
        grid = space.grid()
        return "lower" if value == grid[0] else "upper" if value == grid[-1] else ""
    if space.scale == "log" and low > 0 and value > 0:
        where = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    else:
        where = (value - low) / (high - low)
    return "lower" if where <= EDGE_SHARE else "upper" if where >= 1 - EDGE_SHARE else ""


def format_report(report: Report) -> str:
    """Plain text for the terminal: per configuration the winner, its hyperparameters, validation and test."""
    searched = any(c.hyperparameters for c in report.choices)
    heading = "Chosen on validation, reported on test" if searched else "Reported on test, nothing searched"
    lines = [f"{heading} (mean ± std over seeds):"]
    for c in report.choices:
        knobs = ", ".join(f"{SHORT.get(k, k)}={format_value(v)}" for k, v in c.hyperparameters.items())
        if knobs:
            fixed = f"; fixed {c.settings}" if c.settings else ""
            chosen = f": best of {c.trials} trials ({c.feasible} feasible) is {c.run} [{knobs}]{fixed}"
        else:
            chosen = f" [{c.settings}]" if c.settings else ""
        lines.append(
            f"  {c.configuration}{chosen}; validation objective {c.validation.text()}, test objective {c.test.text()}"
        )
        for task, figure in c.test_losses.items():
            score = c.test_scores.get(task)
            extra = f", test {score[0]} {score[1].text()}" if score else ""
            lines.append(f"      {task}: test loss {figure.text()}{extra}")
        if c.cost_seconds.seeds:
            lines.append(f"      training cost charged to it: {c.cost_seconds.text(3, ' s')}")
        lines += [f"    ! {w}" for w in c.warnings]
    lines += [f"  ! {note}" for note in report.notes]
    return "\n".join(lines)


def check_confirm(config: ExperimentConfig, seeds: int) -> None:
    """Refuse (ConfigError) a confirmation that could not be made, whatever the winners: the CLI asks
    before its search trains (--confirm), confirm_config again when the winners are known."""
    if len(config.methods) > 1:
        raise ConfigError(
            "methods", f"confirming winners trains one method per configuration; found {len(config.methods)} methods"
        )
    low, high = LIMITS["seeds"]
    if not low <= seeds <= high:
        raise ConfigError("train.seeds", f"expected {low} to {high} seeds to confirm with, found {seeds}")


def confirm_config(config: ExperimentConfig, report: Report, seeds: int = CONFIRM_SEEDS) -> ExperimentConfig:
    """Each configuration's winning trial alone, on `seeds` fresh seeds (after the ones searched).

    Fresh seeds: the winners were chosen on the searched seeds, so their figures there
    are biased upwards; new seeds (new data splits, initial weights and batches) are not.
    """
    check_confirm(config, seeds)
    by_label = {o.label: o for o in config.optimizers}
    winners = []
    for c in report.choices:
        opt = by_label[c.configuration]
        values = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in c.hyperparameters.items())
        winners.append(opt.at(Trial(0, values), opt.label) if opt.is_sweep else opt)
    if not winners:
        raise ConfigError("optimizers", "no configuration has a feasible trial to confirm")
    first = config.train.seed + config.train.seeds
    train = replace(config.train, seed=first, seeds=seeds)
    return replace(config, optimizers=tuple(winners), train=train, search=None)
