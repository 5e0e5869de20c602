"""The data panel: what a table holds and what preprocessing did to it.

Column names and labels come from the user's file: they are shown through
dataframes and plain text, never as markdown or HTML.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mtlviz.charts.data import correlation_heatmap
from mtlviz.config import TrainConfig
from mtlviz.data.table import split_warnings
from mtlviz.ui.fields import TRAIN, default_of
from mtlviz.ui.tasks import TaskChoice
from mtlviz.ui.text import escape_markdown


def data_panel(choice: TaskChoice, expanded: bool) -> None:
    if choice.table is None:
        return
    table, report, preview = choice.table, choice.report, choice.preview
    with st.expander(
        f"Data: {escape_markdown(table.name)} ({len(table.frame):,} rows × {len(table.frame.columns)} columns)",
        expanded=expanded,
    ):
        for note in report.notes if report else table.notes:
            st.text(f"ℹ {note}")
        if choice.left_out:
            st.text(
                "Left out of the features by default (add them under Feature columns in the sidebar):\n"
                + "\n".join(f"  {name}: {why}" for name, why in choice.left_out.items())
            )
        if choice.taskset is not None:
            # The batch size widget is drawn in the sidebar, before this panel: its value is this run's.
            batch_size = int(st.session_state.get(TRAIN["batch_size"].key, default_of(TrainConfig, "batch_size")))
            taskset = choice.taskset
            for warning in split_warnings(len(taskset.x_train), len(taskset.x_val), batch_size):
                st.warning(escape_markdown(warning), icon=":material/warning:")
        if report is not None:
            split = ""
            if choice.taskset is not None:
                taskset = choice.taskset
                test = "" if taskset.x_test is None else f", {len(taskset.x_test):,} test"
                split = f" ({len(taskset.x_train):,} training, {len(taskset.x_val):,} validation{test})"
            st.text(
                f"{report.rows_used:,} rows used of {report.rows_read:,}{split}, {report.rows_dropped:,} dropped; "
                f"{len(report.feature_columns)} input columns after encoding; numeric features standardised "
                "with training-split statistics."
            )
            if report.missing_by_column:
                st.caption("Rows dropped for missing values, per column")
                lost = pd.DataFrame(
                    [(name, count, report.only_cause.get(name, 0)) for name, count in report.missing_by_column.items()],
                    columns=["column", "rows missing it", "rows kept if it were left out"],
                )
                st.dataframe(lost, hide_index=True, key="data_missing", height=min(300, 38 + 35 * len(lost)))
            if report.imputed:
                st.text("Imputed: " + ", ".join(f"{name} ({count})" for name, count in report.imputed.items()))
        st.caption("First rows")
        st.dataframe(table.frame.head(8), hide_index=True, key="data_head")
        if preview is None:
            return
        summary_col, corr_col = st.columns([3, 2])
        with summary_col:
            st.caption("Tasks")
            st.dataframe(preview.tasks, hide_index=True, key="data_tasks")
            if report is not None and report.class_labels:
                st.caption("Class labels as trained (index = class)")
                mapping = pd.DataFrame(
                    [
                        (task, i, label)
                        for task, labels in report.class_labels.items()
                        for i, label in enumerate(labels)
                    ],
                    columns=["task", "class", "label"],
                )
                st.dataframe(mapping, hide_index=True, key="data_classes", height=min(300, 38 + 35 * len(mapping)))
            if report is not None and report.target_units:
                units = pd.DataFrame(
                    [(task, mean, std) for task, (mean, std) in report.target_units.items()],
                    columns=["task", "mean", "std"],
                )
                st.caption("Regression targets are standardised; RMSE is reported back in these units")
                st.dataframe(units, hide_index=True, key="data_units")
        with corr_col:
            if preview.correlation is not None:
                st.caption("Correlation between targets (a hint of task relatedness)")
                st.plotly_chart(correlation_heatmap(preview.correlation), key="data_correlation")
