"""What the worker stores of a verdict keeps the series' own scale: bands and values of a
series at the 1e-6 scale (or 1e9) are stored as they are, not rounded to 0."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.anomalies.baselines import latest_bands
from orcai.anomalies.frames import anomaly_records, stored_number
from orcai.detect import detect
from test_detect import metric_points


def test_a_number_is_stored_to_six_significant_digits_in_any_unit():
    assert stored_number(3.14159265e-7) == 3.14159e-7
    assert stored_number(1234567.891) == 1234570.0
    assert stored_number(0.0) == 0.0
    assert stored_number(None) is None and stored_number(np.nan) is None and stored_number(np.inf) is None


def test_a_tiny_series_keeps_its_band_and_its_flagged_value():
    values = 2e-6 * np.random.default_rng(0).lognormal(0, 0.1, 400)
    values[300] *= 10
    runs = metric_points(values)
    scored = detect(runs)
    [band] = latest_bands(scored, pd.Series(["m.m"] * len(runs)), 0, "robust")
    assert 0 < band["low"] < band["median"] < band["high"] < 1e-4
    flagged = scored[scored["is_anomaly"]].assign(key="m/p300/m/-1")
    [record] = anomaly_records(flagged, 0)
    assert record["value_s"] == stored_number(values[300]) and record["value_s"] > 1e-5
    assert 0 < record["expected_low"] < record["expected_s"] < record["expected_high"]
