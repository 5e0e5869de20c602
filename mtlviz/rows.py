"""Rows: the models an experiment trains side by side, one per (configuration, lr, seed).

A configuration that sweeps learning rates gives one run per rate ("Adam
lr=0.001"); every run is trained once per seed. Rows of the same seed share the
data split, the initial weights and the batch order, so within a seed the
comparison is exactly fair; across seeds they differ, which is what the seed
band on the charts measures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from mtlviz.config import ExperimentConfig, MethodConfig, OptimizerConfig


@dataclass(frozen=True)
class Row:
    run: str  # the records' run label
    configuration: str  # the label of the configuration it comes from
    optimizer: OptimizerConfig  # with this row's single learning rate
    seed: int
    num_seeds: int = 1
    method: MethodConfig = MethodConfig()

    @property
    def key(self) -> str:
        """Unique among an experiment's rows: the run, and its seed when there are several."""
        return self.run if self.num_seeds == 1 else f"{self.run} (seed {self.seed})"


def expand_rows(config: ExperimentConfig) -> tuple[Row, ...]:
    """Configuration -> learning rate -> method -> seed, in that order, so a run's seeds are adjacent."""
    seeds = config.train.seed_values
    rows = []
    several = len(config.methods) > 1
    for run, opt, lr, method in config.run_grid():
        single = opt if not opt.is_sweep else replace(opt, lr=lr, label=f"{opt.label} lr={lr:g}")
        # With several methods, a configuration is an (optimizer, method) pair: its own lr line.
        configuration = f"{opt.label} · {method.label}" if several else opt.label
        rows += [Row(run, configuration, single, seed, len(seeds), method) for seed in seeds]
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
