"""Downloads: formula-like text is neutralised in CSV, numbers never are."""

from __future__ import annotations

import io

import pandas as pd

from mtlviz.export import parquet_bytes, safe_csv


def test_formula_like_text_cells_get_an_apostrophe_and_numbers_stay_numbers() -> None:
    frame = pd.DataFrame(
        {
            "task": ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "plain", "\tTAB"],
            "value": [-0.5, 1.0, -2.0, 3.0, 4.0, 5.0],
            "=cmd": ["a", "b", "c", "d", "e", "f"],
        }
    )
    text = safe_csv(frame).decode()
    back = pd.read_csv(io.StringIO(text), dtype={"value": float}, keep_default_na=False)
    assert list(back["task"]) == ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "plain", "'\tTAB"]
    assert list(back["value"]) == [-0.5, 1.0, -2.0, 3.0, 4.0, 5.0]  # negative numbers untouched
    assert list(back.columns) == ["task", "value", "'=cmd"]


def test_categorical_text_is_neutralised_too() -> None:
    frame = pd.DataFrame({"run": pd.Categorical(["=evil", "ok"]), "step": [1, 2]})
    back = pd.read_csv(io.BytesIO(safe_csv(frame)))
    assert list(back["run"]) == ["'=evil", "ok"] and list(back["step"]) == [1, 2]


def test_parquet_round_trip() -> None:
    frame = pd.DataFrame({"run": ["=a"], "value": [1.5]})
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(parquet_bytes(frame))), frame)
