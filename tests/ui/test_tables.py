"""Uploaded tables in the dashboard: the preview says which columns were left out and why, where the rows
went, which validation fraction fits a small table, warns about small splits, and shows a table over its
budget as an error with Start off (AppTest, no browser)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 60

# The test tables live with the data tests; loaded by path (the test folders are not packages).
_spec = importlib.util.spec_from_file_location("like_tables", ROOT / "tests" / "data" / "like_tables.py")
like_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(like_tables)


def uploaded(data: bytes, name: str) -> tuple[AppTest, str]:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.segmented_control(key="task_source").set_value("upload").run()
    at.file_uploader(key="upload").upload(name, data, "text/csv").run()
    assert not at.exception, at.exception
    return at, hashlib.sha256(data).hexdigest()


def frame_with(at: AppTest, column: str):
    """The first dataframe on the page with `column` (dataframes are not found by key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def texts(at: AppTest) -> str:
    return "\n".join([t.value for t in at.text] + [c.value for c in at.caption])


def test_penguins_raw_leaves_out_ids_and_comments_says_why_and_lets_them_back():
    at, digest = uploaded(like_tables.penguins_raw_csv(), "penguins_raw.csv")
    features = at.multiselect(key=f"features_{digest}")
    left_out = ["Sample Number", "Individual ID", "Comments"]
    assert not set(left_out) & set(features.value)
    assert set(left_out) <= set(features.options)  # still offered: the user can add them back
    at.multiselect(key=f"targets_{digest}").set_value(["Species"]).run()
    shown = texts(at)
    assert "Left out of the features by default" in shown
    assert "Comments: free text (10 different long texts in 54 rows)" in shown
    assert "Individual ID: an identifier (190 distinct values in 344 rows, and its name says so)" in shown
    assert "Dropped 19 of 344 rows" in shown  # not 310: Comments is not a feature

    # Added back: the panel names the column that costs the rows, and how many.
    at.multiselect(key=f"features_{digest}").set_value([*features.value, "Comments"]).run()
    shown = texts(at)
    assert "Comments: 290 rows" in shown and "Delta 15 N (o/oo): 14 rows" in shown
    assert "Leaving out Comments would keep" in shown
    lost = frame_with(at, "rows missing it")
    assert lost.iloc[0].tolist()[:2] == ["Comments", 290]
    assert "Comments: free text" not in shown  # chosen now: no longer "left out"


def test_linnerud_is_regression_says_which_fraction_fits_and_warns_about_the_small_split():
    at, digest = uploaded(like_tables.linnerud_csv(), "linnerud.csv")
    at.multiselect(key=f"targets_{digest}").set_value(["Waist", "Pulse"]).run()
    tasks = frame_with(at, "why").set_index("task")
    assert tasks.loc["Waist", "type"] == "regression"
    assert tasks.loc["Waist", "why"] == "9 distinct integers from 31 to 46: spread out, not codes like 0, 1, 2"
    errors = " ".join(e.value for e in at.error)
    assert "expected at least 23" in errors and "Validation fractions from 0.25 to 0.5 work with 20 rows" in errors
    assert at.button(key="start").disabled

    at.slider(key="table_val_fraction").set_value(0.25).run()
    assert not at.error, [e.value for e in at.error]
    warnings = [w.value for w in at.warning]
    assert "The validation split has only 5 rows: validation losses will be noisy (20 or more is better)." in warnings
    assert "The batch size (128) is larger than the training split (15 rows): every step uses all 15 rows." in warnings
    assert "20 rows used of 20 (15 training, 5 validation), 0 dropped" in texts(at)


def test_every_problem_of_an_upload_is_listed_at_once():
    text = "a,b,y\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(40))
    text = text.replace("\n3,1.5,1\n", "\n3,oops,1\n").replace("\n7,3.5,1\n", "\n7,inf,1\n")
    text = text.replace("\n5,2.5,1\n", "\nfive,2.5,1\n")
    at, digest = uploaded(text.encode(), "bad.csv")
    at.multiselect(key=f"targets_{digest}").set_value(["y"]).run()
    errors = " ".join(e.value for e in at.error)
    assert "feature column 'b' is numeric but holds 1 non-numeric value(s), e.g. 'oops' on line 5" in errors
    assert "feature column 'b' holds an infinite value ('inf' on line 9)" in errors
    assert "feature column 'a' is numeric but holds 1 non-numeric value(s), e.g. 'five' on line 7" in errors


def test_a_run_on_an_uploaded_table_keeps_a_copy_of_the_file(jobs, runs_directory: Path):
    """Start on an upload: the saved run holds the file, so `mtlviz rerun` works from any folder."""
    data = like_tables.linnerud_csv()
    at, digest = uploaded(data, "linnerud.csv")
    at.multiselect(key=f"targets_{digest}").set_value(["Waist"]).run()
    at.slider(key="table_val_fraction").set_value(0.3).run()
    at.number_input(key="steps").set_value(5).run()
    at.button(key="start").click().run()
    assert len(jobs) == 1
    jobs[0].join(60)
    assert jobs[0].saved is not None, jobs[0].error or jobs[0].save_error
    assert (jobs[0].saved / "data" / "linnerud.csv").read_bytes() == data


def test_a_table_too_wide_to_encode_is_refused_in_the_page_and_nothing_starts(jobs):
    """13 columns of 26 letters encode to 13 × 21 inputs, over the cap of 256: an error in the page, before
    anything is encoded, and Start stays off."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    header = [f"w{j}" for j in range(13)] + ["y"]
    rows = [[letters[(i + 7 * j) % 26] for j in range(13)] + [str(i % 2)] for i in range(104)]
    data = "".join(",".join(row) + "\n" for row in [header, *rows]).encode()
    at, digest = uploaded(data, "wide.csv")
    at.multiselect(key=f"targets_{digest}").set_value(["y"]).run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "features would encode to 273 inputs; at most 256 are allowed" in errors
    assert "Widest: 'w0' (21 inputs for 26 categories), 'w1' (21)" in errors
    assert "Choose fewer feature columns" in errors
    assert "Traceback" not in errors
    assert "input columns after encoding" not in texts(at)  # nothing was prepared
    assert at.button(key="start").disabled  # AppTest, like a browser, cannot press it
    assert jobs == []


def test_a_parquet_file_that_decodes_past_the_budget_is_refused_in_the_page(monkeypatch, jobs):
    """2,000 copies of a 10 KiB string, stored once: 20 MB once decoded, refused before decoding."""
    monkeypatch.setenv("MTLVIZ_TABLE_MEMORY_MB", "5")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["x" * 10240] * 2000, "y": list(range(2000))}), buffer, use_dictionary=True)
    at, _ = uploaded(buffer.getvalue(), "long.parquet")
    errors = " ".join(e.value for e in at.error)
    assert "long.parquet decodes to 20 MB in memory" in errors
    assert "the budget for a table is 5.0 MB" in errors
    assert at.button(key="start").disabled
    assert jobs == []
