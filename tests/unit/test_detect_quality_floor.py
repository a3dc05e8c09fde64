"""A small version of tests/benchmarks/detection_quality.py, kept as a regression floor."""

from __future__ import annotations

import pytest

from tests.benchmarks.detection_quality import benchmark_data, evaluate

# The floor sits under today's figure on this small realistic corpus (robust/2.4: F1 0.780,
# 0.26 false alarms per 1,000 runs: heavy tails, bursts, level shifts); the benchmark tracks
# the target.
FLOOR_F1, FLOOR_MARGIN, FLOOR_FA_PER_1000 = 0.5, 0.15, 1.0


@pytest.fixture(scope="module")
def overall():
    runs, schedules = benchmark_data(n_dags=12, days=30, seed=7)
    table = evaluate(runs, schedules, detectors=(("robust", {}), ("isolation_forest", {"contamination": 0.1})))
    return table[table["kind"] == "overall"].set_index("detector")


def test_default_detector_keeps_its_f1(overall):
    assert overall.loc["robust", "f1"] >= FLOOR_F1


def test_default_detector_beats_isolation_forest(overall):
    assert overall.loc["robust", "f1"] >= overall.loc["isolation_forest", "f1"] + FLOOR_MARGIN


def test_default_detector_rarely_raises_false_alarms(overall):
    assert overall.loc["robust", "fa_per_1000"] <= FLOOR_FA_PER_1000
