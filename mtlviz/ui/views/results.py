"""What the views read (`Results`) and what they compute from it once per refresh (`Derived`).

`Results` is a training job while it trains, a saved run, or anything else with
a config, the run's metadata and its records. `Derived` holds what is computed
from one snapshot of them: the summary table, the run table, each swept
configuration's best learning rate, the divergence events, the runs that
coincide and each run's colour. It is built once
where a panel is drawn and handed to the views and the summary section, so no
view recomputes what another already did, and the live banner and the charts
read the same snapshot of the metadata.
"""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

import pandas as pd

from mtlviz.charts.colors import run_colors
from mtlviz.config import ExperimentConfig
from mtlviz.protocol import Report, protocol_report
from mtlviz.records import (
    CLIPPED_SHARE,
    COST_SECONDS,
    TEST_ACCURACY,
    TEST_LOSS,
    TEST_R2,
    TEST_RMSE,
    VAL_ACCURACY,
    VAL_LOSS,
    VAL_R2,
    VAL_RMSE,
    Divergence,
    RowInfo,
    RunMetadata,
)
from mtlviz.summary import best_learning_rates, coincidence_notes, coinciding_runs, summary_table

# Everything summary_table reads: never the per-layer statistics, which can be millions of rows.
SUMMARY_METRICS = (VAL_LOSS, VAL_ACCURACY, VAL_R2, VAL_RMSE)
# Everything protocol_report reads.
PROTOCOL_METRICS = (VAL_LOSS, CLIPPED_SHARE, COST_SECONDS, TEST_LOSS, TEST_ACCURACY, TEST_R2, TEST_RMSE)
RUN_TABLE_COLUMNS = ("run", "configuration", "lr", "method")


class Results(Protocol):
    """What the views read: a job while it trains, or a saved run."""

    config: ExperimentConfig
    metadata: RunMetadata | None  # None until the job's model is built

    @property
    def runs(self) -> tuple[str, ...]: ...

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame: ...


class Derived:
    """Results derived from one snapshot of a run, each computed on first use and then kept.

    Build one per refresh (a saved run, which never changes, keeps its own) and
    pass it to every view and to the summary section.
    """

    def __init__(self, results: Results):
        self.results = results
        self.config = results.config
        self.metadata = results.metadata  # one snapshot: the banner, the charts and the summary agree

    @cached_property
    def diverged_runs(self) -> dict[str, dict[int, int]]:
        """run -> {seed: step at which that seed diverged}."""
        return self.metadata.diverged_runs() if self.metadata is not None else {}

    @cached_property
    def divergences(self) -> dict[str, Divergence]:
        """run -> its first divergence (its earliest seed): where the charts mark it, what the banner says."""
        if self.metadata is None:
            return {}
        events = {run: self.metadata.first_divergence(run) for run in self.diverged_runs}
        return {run: event for run, event in events.items() if event is not None}

    @cached_property
    def summary(self) -> pd.DataFrame:
        """mtlviz.summary.summary_table of the run: final validation results per task and run."""
        records = self.results.frame(SUMMARY_METRICS)
        return summary_table(records, self.diverged_runs, self.config.val_targets)

    @cached_property
    def coincidences(self) -> list[str]:
        """A note for each pair of runs whose validation losses coincide (mtlviz.summary.coinciding_runs)."""
        return coincidence_notes(coinciding_runs(self.results.frame([VAL_LOSS])))

    @cached_property
    def colors(self) -> dict[str, str]:
        """Run -> its colour, from every run of the experiment: the same in every chart, whatever is hidden."""
        return run_colors(self.results.runs)

    @cached_property
    def run_table(self) -> pd.DataFrame:
        """One row per run: its configuration's label, learning rate and method, from the metadata's rows."""
        first: dict[str, RowInfo] = {}  # a run's rows differ only in their seed
        for row in self.metadata.rows if self.metadata is not None else ():
            first.setdefault(row.run, row)
        ordered = list(first.values())
        return pd.DataFrame(
            {
                "run": pd.Series([r.run for r in ordered], dtype=object),
                "configuration": pd.Series([r.configuration for r in ordered], dtype=object),
                "lr": pd.Series([r.lr for r in ordered], dtype="float64"),
                "method": pd.Series([r.method for r in ordered], dtype=object),
            },
            columns=list(RUN_TABLE_COLUMNS),
        )

    @cached_property
    def protocol(self) -> Report | None:
        """The run's protocol report (mtlviz/protocol.py): None without a test split or while it trains."""
        if self.metadata is None or not self.metadata.test_examples:
            return None  # no test split: nothing to report, and no records to read for it
        return protocol_report(self.results.frame(PROTOCOL_METRICS), self.metadata, self.config)

    @cached_property
    def swept(self) -> frozenset[str]:
        """The configurations trained at several learning rates."""
        table = self.run_table
        rates = table.groupby("configuration", sort=False)["lr"].nunique()
        return frozenset(str(c) for c in rates.index[rates > 1])

    @cached_property
    def best_runs(self) -> dict[str, str]:
        """Configuration -> its best run (lowest final validation objective, the weighted sum of task losses)."""
        weights = {t.name: t.weight for t in self.config.tasks.targets}
        return best_learning_rates(self.summary, self.run_table, weights)
