"""orcai.detect: verdicts, reasons and the rules behind them, on small hand-made histories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orcai.detect import DETECTORS, OUTPUT_COLUMNS, RobustDetector, detect, score_new
from orcai.detect.reasons import format_duration, format_range

START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday


WEEKLY, HOURLY = 7 * 86_400, 3600


def task_runs(durations, states=None, task_id="load", dag_id="etl", every_s=WEEKLY, start=START,
              first=0) -> pd.DataFrame:
    """One task's runs, one per `every_s`, on the DAG's schedule grid. Weekly by default:
    no hour-of-day or weekday seasonality applies, so tests see the plain rules."""
    n = len(durations)
    logical = start + pd.to_timedelta((np.arange(n) + first) * every_s, unit="s")
    return pd.DataFrame({
        "dag_id": dag_id, "task_id": task_id, "run_id": [f"scheduled__{i + first}" for i in range(n)],
        "start_date": logical + pd.Timedelta(seconds=every_s + 3), "duration_s": np.asarray(durations, float),
        "state": states or ["success"] * n, "logical_date": logical,
    })


def steady(n, median=600.0, seed=1):
    return median * np.random.default_rng(seed).lognormal(0, 0.1, n)


def flagged_kinds(out: pd.DataFrame) -> dict[int, str]:
    return {i: k for i, k in enumerate(out["kind"]) if k}


# --- reasons ---------------------------------------------------------------------------

def test_slow_run_reason_reads_like_the_issue():
    durations = list(np.random.default_rng(3).permutation(np.linspace(480, 720, 30))) + [2460]
    out = detect(task_runs(durations))
    last = out.iloc[-1]
    assert last["is_anomaly"] and last["kind"] == "slow"
    assert last["reason"].startswith("took 41 min, 4.1× its median of 10 min over the last 30 successful runs "
                                     "(usual range 8.4–11 min); slower than 99.99")
    assert "% of its last 29 runs (about 1 in " in last["reason"]
    assert last["score"] > -np.log10(1e-4)  # a tail probability below the risk
    # 29 runs of history: about 1 in 50,000, within a factor of 10 of the risk: low
    assert last["severity"] == "low" and last["detector"] == "robust/2.6"
    assert last["expected_low"] < 600 < last["expected_high"] < 2460
    assert out.loc[~out["is_anomaly"], "reason"].eq("").all()


@pytest.mark.parametrize("seconds, text", [(45, "45 s"), (570, "9.5 min"), (2460, "41 min"),
                                           (7560, "2.1 h"), (3 * 86_400, "3 d"), (1.04, "1 s")])
def test_durations_are_written_for_people(seconds, text):
    assert format_duration(seconds) == text


def test_a_range_uses_one_unit():
    assert format_range(480, 720) == "8–12 min"


# --- judging without look-ahead --------------------------------------------------------

def test_appending_future_runs_does_not_change_earlier_verdicts():
    from tests.benchmarks.detection_quality import benchmark_data
    runs, schedules = benchmark_data(n_dags=4, days=20, seed=3)
    runs = runs.drop(columns=["injected_anomaly"])
    full = detect(runs, schedules=schedules)
    cut = runs["start_date"].quantile(0.6)
    early = runs[runs.groupby(["dag_id", "run_id"])["start_date"].transform("min") < cut]
    alone = detect(early, schedules=schedules)
    columns = ["is_anomaly", "kind", "reason", "severity"]
    pd.testing.assert_frame_equal(alone[columns], full.loc[early.index, columns])
    np.testing.assert_allclose(alone["score"], full.loc[early.index, "score"])
    assert full["is_anomaly"].any()


def test_no_verdict_before_the_minimum_history():
    durations = list(steady(5)) + [6000] + list(steady(40, seed=2))
    out = detect(task_runs(durations), min_history=10)
    assert flagged_kinds(out) == {}
    assert np.isnan(out["expected_s"].iloc[5]) and out["score"].iloc[5] == 0
    assert np.isfinite(out["expected_s"].iloc[-1])


def test_failed_runs_do_not_enter_the_baseline():
    durations = list(steady(40)) + [6000] * 12 + [6000]
    states = ["success"] * 40 + ["failed"] * 12 + ["success"]
    out = detect(task_runs(durations, states), streak_min=99)  # failures themselves aside
    assert out["kind"].iloc[-1] == "slow"
    assert out["expected_s"].iloc[-1] == pytest.approx(600, rel=0.1)


def test_earlier_anomalies_do_not_widen_the_band():
    clean = list(steady(60))
    incident = clean[:40] + [3000, 3200] + clean[42:]
    before = detect(task_runs(clean))
    after = detect(task_runs(incident))
    assert flagged_kinds(after) == {40: "slow", 41: "slow"}
    # both stay out of the tail sample (the second through a third pass): the band is no wider
    # than without the incident (it may be a little narrower: its tail has two runs fewer)
    assert after["expected_high"].iloc[-1] <= 1.1 * before["expected_high"].iloc[-1]


def test_a_lasting_level_shift_becomes_the_new_normal():
    durations = list(steady(200)) + list(steady(60, median=1800, seed=5))
    out = detect(task_runs(durations))
    flags = flagged_kinds(out)
    assert 200 in flags and all(200 <= i < 200 + 3 for i in flags)  # noticed, then accepted
    assert "3rd slow run in a row" not in out["reason"].iloc[200]


def test_a_young_task_sees_a_level_shift_as_a_lasting_drift():
    # 40 runs cannot show a tail at 1e-4: under the predictive tail the first 3x run is not
    # rare enough on its own; the streak of them is, a few runs later (the price of the
    # calibrated tail on young tasks; the point fit flags run 40 itself)
    durations = list(steady(40)) + list(steady(60, median=1800, seed=5))
    assert flagged_kinds(detect(task_runs(durations))) == {45: "drift"}
    assert flagged_kinds(detect(task_runs(durations), tail_uncertainty=False))[40] == "slow"


def noisy_shift(seed=11):
    durations = 60 * np.random.default_rng(seed).lognormal(0, 0.25, 450)
    durations[300:] *= 3
    return durations


def test_a_lasting_shift_is_announced_once():
    # a noisy task 3x slower for good: the long view takes ~250 runs to take the new level in,
    # and until then a later streak of its runs trips the drift rule again (run 337 here)
    assert flagged_kinds(detect(task_runs(noisy_shift()), drift_once_runs=0)) == {305: "drift", 337: "drift"}
    assert flagged_kinds(detect(task_runs(noisy_shift()))) == {305: "drift"}


def test_new_runs_remember_the_shift_already_announced():
    runs = task_runs(noisy_shift())
    detector = RobustDetector().fit(runs.iloc[:337])
    assert detector.score_new(runs.iloc[337:338])["kind"].iloc[0] == ""
    unaware = RobustDetector(drift_once_runs=0).fit(runs.iloc[:337])
    assert unaware.score_new(runs.iloc[337:338])["kind"].iloc[0] == "drift"


def test_nightly_batch_window_is_learned_as_seasonality():
    hours = (START + pd.to_timedelta(np.arange(24 * 15), unit="h")).hour
    durations = np.where(hours < 4, 2.5, 1.0) * steady(24 * 15)
    durations[24 * 13 + 12] = 2.5 * 600  # as slow as a night, at noon
    out = detect(task_runs(durations, every_s=HOURLY), schedules={"etl": HOURLY})
    assert flagged_kinds(out) == {24 * 13 + 12: "slow"}
    night = out.iloc[24 * 8 + 1]
    assert night["expected_s"] == pytest.approx(1500, rel=0.15)
    assert "at this time of day (Wed 02:00 UTC" in detect(task_runs(np.r_[durations[:217], 6000], every_s=HOURLY),
                                                          schedules={"etl": HOURLY})["reason"].iloc[-1]


# --- failures, stuck, schedule ----------------------------------------------------------

def test_a_failure_streak_is_flagged_once_it_is_unlikely():
    states = ["success"] * 40 + ["failed"] * 4 + ["success"]
    out = detect(task_runs(steady(len(states)), states))
    assert flagged_kinds(out) == {42: "failure_streak", 43: "failure_streak"}
    assert out["reason"].iloc[42] == "failed 3 times in a row; before that it failed 0 of its previous 40 runs (0%)"
    flaky = ["success", "success", "failed"] * 15 + ["failed"] * 2  # fails a third of the time anyway
    assert not detect(task_runs(steady(len(flaky)), flaky))["is_anomaly"].any()


def mapped(runs: pd.DataFrame, instances: int, failed_at: dict[int, int] | None = None) -> pd.DataFrame:
    """Each run of `runs` as `instances` mapped instances a second apart (same run id);
    `failed_at`: run position -> how many of its instances failed."""
    rows = []
    for i, run in runs.reset_index(drop=True).iterrows():
        for m in range(instances):
            failed = m < (failed_at or {}).get(i, 0)
            rows.append({**run, "start_date": run["start_date"] + pd.Timedelta(seconds=m),
                         "state": "failed" if failed else run["state"]})
    return pd.DataFrame(rows).reset_index(drop=True)


def test_a_mapped_task_run_with_failed_instances_is_one_failure_not_a_streak():
    """Airflow's mapped task (expand) gives one task instance per item in the same DAG run:
    three instances failing together are one failed run of the task, not 3 in a row."""
    runs = mapped(task_runs(steady(41)), 3, failed_at={40: 3})
    assert not detect(runs)["is_anomaly"].any()
    history, new = runs.iloc[:120], runs.iloc[120:]
    assert not score_new(history, new)["is_anomaly"].any()
    # three DAG runs in a row with a failed instance are a streak of 3, flagged as before
    thrice = mapped(task_runs(steady(43)), 3, failed_at={40: 1, 41: 3, 42: 2})
    out = detect(thrice)
    assert set(flagged_kinds(out).values()) == {"failure_streak"}
    assert out.loc[out["is_anomaly"], "run_id"].tolist() == ["scheduled__42"]
    assert out.loc[out["is_anomaly"], "reason"].iloc[0].startswith("failed 3 times in a row; before that it failed 0 "
                                                                   "of its previous 40 runs")


def test_a_jump_in_the_failure_rate_is_flagged():
    rng = np.random.default_rng(4)
    states = ["success"] * 120 + ["failed" if f else "success" for f in rng.random(30) < 0.4]
    out = detect(task_runs(steady(len(states)), states), streak_min=99)
    kinds = set(flagged_kinds(out).values())
    assert kinds == {"failure_rate"}
    assert min(flagged_kinds(out)) >= 120
    assert "of its last" in out.loc[out["kind"] == "failure_rate", "reason"].iloc[0]


def test_a_run_still_going_far_too_long_is_stuck():
    runs = task_runs(list(steady(40)) + [np.nan], ["success"] * 40 + ["running"])
    now = runs["start_date"].iloc[-1] + pd.Timedelta(hours=3)
    out = detect(runs, now=now)
    assert out["kind"].iloc[-1] == "stuck" and out["severity"].iloc[-1] == "high"
    assert out["reason"].iloc[-1].startswith("has been running for 3 h, 18×")


def test_skipped_scheduled_runs_are_missing():
    runs = task_runs(steady(40), every_s=HOURLY)
    runs = runs.drop(index=[30, 31]).reset_index(drop=True)
    out = detect(runs, schedules={"etl": HOURLY})
    assert flagged_kinds(out) == {30: "missing"}
    assert out["scope"].iloc[30] == "dag_run"
    assert out["reason"].iloc[30].startswith("2 scheduled runs of this DAG did not happen between")


def test_a_run_that_starts_long_after_its_slot_is_late():
    runs = task_runs(steady(40), every_s=HOURLY)
    runs.loc[35, "start_date"] += pd.Timedelta(minutes=40)
    out = detect(runs, schedules={"etl": HOURLY})
    assert flagged_kinds(out) == {35: "late"}
    assert out["reason"].iloc[35] == ("the DAG run started 40 min late: 40 min after it was due, where its runs "
                                      "usually start 3 s after (it runs every 1 h)")


# --- incremental scoring ------------------------------------------------------------------

def test_a_deviation_seen_12_times_in_500_runs_is_normal():
    rng = np.random.default_rng(9)
    durations = steady(501)
    bursts = rng.choice(np.arange(20, 500), 12, replace=False)
    durations[bursts] *= 3.0
    durations[500] = 3.0 * 600
    out = detect(task_runs(durations))
    assert not out["is_anomaly"].iloc[400:].any()
    assert out["score"].iloc[500] < -np.log10(1e-4)


def test_the_risk_sets_the_threshold_and_score_ranks_rarity():
    durations = list(steady(300)) + [1500]
    strict, loose = detect(task_runs(durations), risk=1e-8), detect(task_runs(durations), risk=1e-2)
    assert strict["expected_high"].iloc[-1] > loose["expected_high"].iloc[-1]
    scores = [detect(task_runs(list(steady(300)) + [d]))["score"].iloc[-1] for d in (900, 1500, 3000)]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_new_runs_get_the_verdicts_a_full_score_gives():
    history = task_runs(list(steady(40)))
    new = task_runs([3000], first=40)
    flagged = score_new(history, new, schedules={"etl": 3600})
    full = detect(pd.concat([history, new], ignore_index=True), schedules={"etl": 3600}).iloc[-1]
    assert flagged["kind"].iloc[0] == full["kind"] == "slow"
    assert flagged["reason"].iloc[0] == full["reason"]
    assert flagged["score"].iloc[0] == pytest.approx(full["score"])


def test_score_new_needs_a_fitted_detector():
    with pytest.raises(ValueError, match="fit"):
        RobustDetector().score_new(task_runs([1.0]))


# --- the contract -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_is_selectable_by_name(name):
    runs = task_runs(list(steady(40)) + [6000])
    out = detect(runs, detector=name)
    assert len(out) == len(runs) and list(out.index) == list(runs.index)
    assert set(OUTPUT_COLUMNS) <= set(out.columns)
    assert out["detector"].iloc[0].startswith(name + "/")
    assert out["is_anomaly"].dtype == bool and out["score"].dtype == float
    assert (out["reason"] != "").eq(out["is_anomaly"]).all()


def test_detectors_follow_scikit_learn_conventions():
    for cls in DETECTORS.values():
        detector = cls()
        assert detector.fit(task_runs(steady(12))) is detector


def test_unknown_detector_names_the_choices():
    with pytest.raises(ValueError, match="dbscan, isolation_forest, robust"):
        detect(task_runs([1.0]), detector="prophet")


def test_empty_input_gives_empty_output():
    out = detect(task_runs([]))
    assert out.empty and set(OUTPUT_COLUMNS) <= set(out.columns)


def test_input_order_and_index_are_kept():
    runs = task_runs(list(steady(30)) + [6000]).sample(frac=1, random_state=1)
    runs.index = runs.index + 100
    out = detect(runs)
    assert list(out.index) == list(runs.index)
    assert out.loc[130, "kind"] == "slow"


@pytest.mark.parametrize("column", ["dag_id", "task_id", "run_id", "start_date", "duration_s", "state"])
def test_a_missing_column_is_named(column):
    with pytest.raises(ValueError, match=f"missing column\\(s\\) {column}"):
        detect(task_runs([1.0]).drop(columns=[column]))


def test_naive_timestamps_are_refused():
    runs = task_runs([1.0])
    runs["start_date"] = runs["start_date"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="start_date must hold tz-aware UTC"):
        detect(runs)


def test_the_predictive_tail_is_heavier_than_the_point_fit():
    from orcai.detect import tails
    zeta, u, xi, sigma, n = np.array([0.1]), np.array([0.5]), np.array([0.1]), np.array([0.2]), np.array([500.0])
    point = tails.quantile(1e-4, zeta, u, xi, sigma)
    # xi's error makes the far tail heavier: the point threshold is passed more often than the risk
    assert tails.exceedance(point, zeta, u, xi, sigma, n)[0] > 1e-4
    band = tails.quantile(1e-4, zeta, u, xi, sigma, n)
    assert band[0] > point[0] and np.isclose(tails.exceedance(band, zeta, u, xi, sigma, n)[0], 1e-4, rtol=1e-3)


def test_a_run_within_the_windows_own_record_is_never_rarer_than_one_in_n():
    from orcai.detect import tails
    # a light fitted tail (xi 0) would call a residual of 2.0 about 1 in 10^5; the window
    # of 500 already holds one at 2.5, so it is at least 1 in 501
    fits = pd.DataFrame({"tail_n": [500.0], "up_zeta": [0.1], "up_u": [0.3], "up_xi": [0.0], "up_sigma": [0.2],
                         "lo_zeta": [0.1], "lo_u": [0.3], "lo_xi": [0.0], "lo_sigma": [0.2], "up_band": [2.1],
                         "lo_band": [2.1], "up_max": [2.5], "lo_max": [0.5]})
    judged = tails.judge_tails(np.array([2.0, 3.0]), pd.concat([fits, fits], ignore_index=True), predictive=False)
    assert judged["p_up"][0] == pytest.approx(1 / 501)
    assert judged["p_up"][1] < 1e-4  # beyond the record, the fit speaks


def test_a_failed_run_far_too_long_is_stuck_under_the_predictive_tail():
    durations = list(steady(40)) + [20 * 600.0]
    out = detect(task_runs(durations, states=["success"] * 40 + ["failed"]))
    assert RobustDetector().tail_uncertainty
    assert flagged_kinds(out) == {40: "stuck"}


# --- values in any unit -------------------------------------------------------------------

def metric_points(values, every_s=300) -> pd.DataFrame:
    """A metric series as one task's runs: the six contract columns, no schedule."""
    n = len(values)
    return pd.DataFrame({"dag_id": "m", "task_id": "m", "run_id": [f"p{i}" for i in range(n)],
                         "start_date": START + pd.to_timedelta(np.arange(n) * every_s, unit="s"),
                         "duration_s": np.asarray(values, float), "state": "success"})


@pytest.mark.parametrize("unit", [1e-3, 1e-1, 1.0, 1e3])
def test_a_series_is_judged_the_same_in_any_unit(unit):
    # a share like 0.03 or a count in the tens of thousands: every value under 1 s used to be
    # floored to 1 s, and slow needed 10 s more than expected, so small units were never flagged
    values = 30 * np.random.default_rng(4).lognormal(0, 0.1, 400)
    values[300] *= 8
    values[350:] *= 3
    flags = flagged_kinds(detect(metric_points(values * unit)))
    assert flags == flagged_kinds(detect(metric_points(values)))
    assert flags[300] == "slow" and any(i >= 350 for i in flags)


def test_a_tiny_task_far_off_its_usual_is_flagged_but_never_paged():
    # 0.2 s taking 2 s: rare for this task, so it is on the Anomalies page, but 1.8 s is not
    # worth a page (min_excess_s); a 60 s task taking 10x is
    tiny = list(steady(200, median=0.2)) + [2.0]
    out = detect(task_runs(tiny)).iloc[-1]
    assert out["kind"] == "slow" and out["severity"] == "low"
    assert out["reason"].endswith("(only 1.8 s off: under the 10 s worth a page)")
    big = detect(task_runs(list(steady(200, median=60)) + [600])).iloc[-1]
    assert big["kind"] == "slow" and big["severity"] != "low" and "worth a page" not in big["reason"]


def test_new_runs_of_a_small_unit_task_keep_its_floor():
    history = metric_points(0.03 * np.random.default_rng(2).lognormal(0, 0.1, 60))
    new = metric_points([0.3]).assign(run_id="p60", start_date=START + pd.Timedelta(seconds=60 * 300))
    flagged = score_new(history, new)
    full = detect(pd.concat([history, new], ignore_index=True)).iloc[-1]
    assert flagged["kind"].iloc[0] == full["kind"] == "slow"
    assert flagged["score"].iloc[0] == pytest.approx(full["score"])


# --- the stored band ----------------------------------------------------------------------

def test_the_band_stays_within_reach_through_a_level_shift():
    # the lagging median leaves the shift's first runs far above it in the tail's window,
    # and the predictive tail turned them into a band 1,365x the median (the Runs page drew it)
    durations = list(steady(200)) + list(steady(200, median=1800, seed=5))
    out = detect(task_runs(durations))
    ratio = out["expected_high"] / out["expected_s"]
    assert ratio.max() <= 30 * (1 + 1e-9)
    beyond = out["duration_s"] > out["expected_high"]
    assert (out.loc[beyond, "score"] >= -np.log10(1e-4) - 1e-9).all()  # the band is the line


def test_after_a_collapse_the_band_reaches_no_further_than_the_tasks_record():
    # a feed stopped for 30 runs: its recovery sits 100x above the median that followed it
    # down, and the band had grown to 10^14 x the median
    # (tails.reach: 30x the expected duration, or the furthest run of the window when further)
    durations = steady(300)
    durations[200:230] *= 0.01
    out = detect(task_runs(durations))
    record = (out["duration_s"] / out["expected_s"]).cummax().shift(1)  # the window (500) holds every earlier run
    band = out["expected_high"] / out["expected_s"]
    assert (band <= np.fmax(record, 30) * (1 + 1e-6))[band.notna()].all()
    assert band.max() < 200  # the recovery's 100x, not 10^14x


@pytest.mark.parametrize("values", [np.random.default_rng(0).poisson(2, 2000).astype(float),
                                    np.random.default_rng(0).normal(0, 1, 2000)], ids=["count", "signed"])
def test_a_metric_that_is_often_zero_or_below_is_not_a_stream_of_did_nothing_runs(values):
    # with the floor at 1 % of the positive values' median, a count's zeros and a signed
    # metric's negatives were 100x "faster" than usual (22 flags per 1,000 on pure noise)
    assert not detect(metric_points(values))["is_anomaly"].any()
    shifted = values.copy()
    shifted[1500:1520] += 10 * values.std()
    assert detect(metric_points(shifted))["is_anomaly"].iloc[1500:1505].any()


# a count (Poisson(3), 56 points) whose upper decile is never exceeded: ties at the top
QUIET_COUNT = [5, 6, 4, 2, 4, 2, 4, 2, 2, 4, 1, 5, 2, 3, 0, 3, 1, 7, 2, 3, 6, 3, 4, 0, 1, 4, 8, 3, 1, 1, 2,
               5, 4, 0, 3, 2, 7, 2, 5, 3, 3, 2, 2, 2, 3, 4, 3, 2, 4, 4, 5, 2, 2, 4, 0, 0]


def test_a_history_without_exceedances_still_fits_a_chain_for_new_runs():
    # with no exceedance anywhere in the fitted history the chain was skipped, left NaN in
    # the fitted state, and score_new read a NaN streak probability as "certain": the same
    # run was a drift for `detect` and nothing for `score_new`
    runs = metric_points(QUIET_COUNT + [9])
    detector = RobustDetector(risk=1e-2).fit(runs.iloc[:-1])
    assert np.isfinite(detector.state_.chain.values).all()
    full = detect(runs, risk=1e-2).iloc[-1]
    new = detector.score_new(runs.iloc[-1:]).iloc[0]
    assert full["kind"] == new["kind"] == "drift"
    assert new["score"] == pytest.approx(full["score"])
