"""Rows: the models an experiment trains side by side, one per (configuration, trial, method, seed).

A configuration that searches gives one run per trial: per value on a grid
("Adam lr=0.001"), per quasi-random point when sampled ("Adam #03"); every run
is trained once per seed. Rows of the same seed share the
data split, the initial weights and the batch order, so within a seed the
comparison is exactly fair; across seeds they differ, which is what the seed
band on the charts measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mtlviz.config import ExperimentConfig, MethodConfig, OptimizerConfig
from mtlviz.search import Trial


@dataclass(frozen=True)
class Row:
    run: str  # the records' run label
    configuration: str  # the label of the configuration it comes from
    optimizer: OptimizerConfig  # with this row's single value of every knob (its trial's)
    seed: int
    num_seeds: int = 1
    method: MethodConfig = MethodConfig()
    trial: Trial = Trial(0, ())  # the searched knobs' values (none when nothing is searched)

    @property
    def key(self) -> str:
        """Unique among an experiment's rows: the run, and its seed when there are several."""
        return self.run if self.num_seeds == 1 else f"{self.run} (seed {self.seed})"


def expand_rows(config: ExperimentConfig) -> tuple[Row, ...]:
    """Configuration -> trial -> method -> seed, in that order, so a run's seeds are adjacent."""
    seeds = config.train.seed_values
    rows = []
    several = len(config.methods) > 1
    trials = {opt.label: config.trials(opt) for opt in config.optimizers}
    for run, opt, index, method in config.run_grid():
        trial = trials[opt.label][index]
        name = run.removesuffix(f" · {method.label}") if several else run
        single = opt.at(trial, name) if opt.is_sweep else opt
        # With several methods, a configuration is an (optimizer, method) pair: its own lr line.
        configuration = f"{opt.label} · {method.label}" if several else opt.label
        rows += [Row(run, configuration, single, seed, len(seeds), method, trial) for seed in seeds]
    return tuple(rows)


def rows_from_optimizers(optimizers: tuple[OptimizerConfig, ...], seed: int) -> tuple[Row, ...]:
    """One row per single-lr optimizer configuration, all on one seed (benchmarks, tests)."""
    rows = []
    for opt in optimizers:
        if opt.is_sweep:
            raise ValueError(f"{opt.label}: rows take one learning rate each; expand a sweep with expand_rows")
        rows.append(Row(opt.label, opt.label, opt, seed))  # the default method: static weights
    return tuple(rows)


def run_table(config: ExperimentConfig) -> pd.DataFrame:
    """One row per run: its configuration's label and its learning rate (for sweeps)."""
    rows = expand_rows(config)
    first = [row for row in rows if row.seed == config.train.seed]
    return pd.DataFrame(
        {
            "run": [row.run for row in first],
            "configuration": [row.configuration for row in first],
            "lr": [float(row.optimizer.lr) for row in first],
            "method": [row.method.label for row in first],
        }
    )
