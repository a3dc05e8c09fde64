"""The duration chart keeps the runs readable when the stored band is far wider than them."""

from __future__ import annotations

import pandas as pd

from ui.charts import duration_band_chart


def runs(high: float) -> pd.DataFrame:
    return pd.DataFrame({"start_date": pd.date_range("2026-11-01", periods=5, freq="h"),
                         "duration_s": [10.0, 12.0, 11.0, 30.0, 9.0], "expected_low": 5.0,
                         "expected_high": high, "run_id": [f"r{i}" for i in range(5)]})


def test_a_band_far_above_every_run_is_cut_at_twice_the_longest_run():
    figure = duration_band_chart(runs(7.6e7), runs(7.6e7).iloc[:0], "run_id")
    assert tuple(figure.layout.yaxis.range) == (0, 60.0)


def test_an_ordinary_band_leaves_the_axis_to_plotly():
    figure = duration_band_chart(runs(40.0), runs(40.0).iloc[:0], "run_id")
    assert figure.layout.yaxis.range is None
