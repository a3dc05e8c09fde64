"""Forecasts of running DAG runs: ETA band, calibration, deadlines, the task to watch."""

from __future__ import annotations

import numpy as np
import pytest

from orcai.config import load_settings
from orcai.errors import ConfigError
from orcai.forecast.deadlines import deadline_at, deadline_spec
from orcai.forecast.deadlines import parse_deadline, spec_of
from orcai.forecast.replay import TaskState, forecast_run, held_risk
from orcai.model import DAY_MS, HOUR_MS, MINUTE_MS

NOW = 1_790_000_000_000
CHAIN = {"a": set(), "b": {"a"}, "c": {"b"}}


def test_a_chain_finishes_after_the_rest_of_its_tasks():
    durations = {t: np.full(30, 60.0) for t in CHAIN}
    tasks = {"a": TaskState("success", NOW - 100_000, NOW - 40_000),
             "b": TaskState("running", NOW - 30_000), "c": TaskState(None)}
    forecast = forecast_run(NOW, tasks, CHAIN, durations)
    # b ends 30 s from now at the earliest (history: always 60 s, but it already ran 30 s),
    # then c takes 60 s.
    assert NOW + 85_000 <= forecast.eta_p50 <= forecast.eta_p80 <= NOW + 100_000
    assert forecast.progress == 1 / 3
    assert forecast.watch_task == "b" and forecast.watch_reason == "running, usually takes 1 min"


def test_a_run_ends_a_usual_close_lag_after_its_last_task_and_not_before_now():
    durations = {t: np.full(30, 60.0) for t in CHAIN}
    tasks = {"a": TaskState("success", NOW - 100_000, NOW - 40_000),
             "b": TaskState("running", NOW - 30_000), "c": TaskState(None)}
    plain = forecast_run(NOW, tasks, CHAIN, durations)
    closed = forecast_run(NOW, tasks, CHAIN, durations, close_s=np.full(10, 4.0))
    assert closed.eta_p50 - plain.eta_p50 == 4_000
    done = {t: TaskState("success", NOW - 90_000, NOW - 60_000) for t in CHAIN}
    assert forecast_run(NOW, done, CHAIN, durations, close_s=np.full(10, 4.0)).eta_p80 == NOW


def test_a_task_running_far_past_its_history_is_the_one_to_watch():
    durations = {t: np.random.default_rng(1).lognormal(np.log(60), 0.2, 50) for t in CHAIN}
    tasks = {"a": TaskState("success", NOW - 2_000_000, NOW - 1_900_000),
             "b": TaskState("running", NOW - 1_800_000), "c": TaskState(None)}
    forecast = forecast_run(NOW, tasks, CHAIN, durations, deadline_ms=NOW + 60_000)
    assert forecast.eta_p50 > NOW + 60_000  # b alone must still finish, then c
    assert forecast.breach_risk > 0.95
    assert forecast.watch_task == "b" and "running for 30 min" in forecast.watch_reason
    assert forecast.eta_p80 >= forecast.eta_p50


def test_a_task_waiting_past_all_its_start_lags_starts_about_one_usual_lag_later():
    """Lags have long tails: past them all, the task is due, not a multiple of its wait away."""
    rng = np.random.default_rng(3)
    waits = {t: rng.exponential(2.0, 60) for t in CHAIN}  # mostly a second or two, now and then 10 s
    durations = {t: np.full(30, 60.0) for t in CHAIN}
    tasks = {t: TaskState(None) for t in CHAIN}
    waited_s = 2 * float(waits["a"].max())
    forecast = forecast_run(NOW, tasks, CHAIN, durations, waits, run_start_ms=NOW - int(1000 * waited_s))
    # a: one more usual lag (median ~1.4 s) then 60 s; b and c: a lag and 60 s each
    assert NOW + 180_000 <= forecast.eta_p50 <= NOW + 195_000


def test_a_task_past_most_of_its_runs_learns_how_slow_runs_go_from_the_dags_other_tasks():
    """a has run 3 min, 3× its usual minute. Three of its own 63 runs went longer, just (3.05×,
    3.1×, 4×): too few to tell how much longer a run this slow goes. Its DAG's other tasks
    had 12 runs slowed 3-6×; with them, a is forecast to run on for about another minute
    and a half (ending near 4.5× its usual), not to end within seconds."""
    rng = np.random.default_rng(4)
    usual = lambda: rng.lognormal(np.log(60), 0.2, 60)
    durations = {"a": np.append(usual(), [60 * 4.0, 60 * 3.05, 60 * 3.1]), "b": usual(), "c": usual()}
    for task in ("b", "c"):
        durations[task][:6] *= rng.uniform(3, 6, 6)
    tasks = {"a": TaskState("running", NOW - 180_000), "b": TaskState(None), "c": TaskState(None)}
    forecast = forecast_run(NOW, tasks, CHAIN, durations)
    assert 45_000 <= forecast.windows["a"][1] - NOW <= 150_000
    assert forecast.watch_task == "a"


def test_the_risk_that_has_held_is_the_lower_of_the_last_two():
    assert held_risk(None, 0.9) == 0.0  # a first forecast has held nothing yet
    assert held_risk(0.95, 0.8) == 0.8 and held_risk(0.6, 0.9) == 0.6
    assert held_risk(0.9, None) is None  # no deadline now


def test_a_failed_task_means_no_eta():
    forecast = forecast_run(NOW, {"a": TaskState("failed", NOW - 1, NOW)}, {"a": set()}, {})
    assert forecast.eta_p50 is None and forecast.watch_reason == "a task failed"


def test_the_p80_band_covers_about_four_runs_in_five():
    """Calibration: runs drawn from the same lognormal history as the forecast's."""
    rng = np.random.default_rng(7)
    upstream = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
    history = {t: rng.lognormal(np.log(120), 0.4, 200) for t in upstream}
    covered = []
    for seed in range(200):
        actual = {t: rng.lognormal(np.log(120), 0.4) for t in upstream}
        end = {}
        for t in ("a", "b", "c", "d"):
            start = max([end[u] for u in upstream[t]], default=0.0)
            end[t] = start + actual[t]
        tasks = {"a": TaskState("success", NOW - int(1000 * actual["a"]), NOW), "b": TaskState(None),
                 "c": TaskState(None), "d": TaskState(None)}
        forecast = forecast_run(NOW, tasks, upstream, history, seed=seed)
        real_end = NOW + 1000 * (end["d"] - end["a"])
        covered.append(real_end <= forecast.eta_p80)
    assert 0.72 <= np.mean(covered) <= 0.88


def test_deadlines_from_tags():
    midnight = NOW - NOW % DAY_MS
    assert parse_deadline(["etl", "deadline:07:00"], midnight + HOUR_MS) == midnight + 7 * HOUR_MS
    # past 07:00 on the logical date: the next day's 07:00
    assert parse_deadline(["deadline:07:00"], midnight + 8 * HOUR_MS) == midnight + DAY_MS + 7 * HOUR_MS
    assert parse_deadline(["deadline:+2h"], midnight) == midnight + 2 * HOUR_MS
    assert parse_deadline(["deadline:+90m"], midnight) == midnight + 90 * MINUTE_MS
    assert parse_deadline(["deadline:+45s"], midnight) == midnight + 45_000
    assert parse_deadline(["nightly"], midnight) is None and parse_deadline(["deadline:+2h"], None) is None


def test_deadlines_from_the_setting_for_dags_without_a_tag():
    rules = load_settings(deadlines="report_*=07:00; etl_*=deadline:+2h ;*=+12h").deadline_rules
    assert rules == (("report_*", "07:00"), ("etl_*", "+2h"), ("*", "+12h"))
    assert deadline_spec("report_daily", ["nightly"], rules) == "07:00"
    assert deadline_spec("etl_orders", [], rules) == "+2h"
    assert deadline_spec("report_daily", ["deadline:+30m"], rules) == "+30m"  # the DAG's own tag wins
    assert deadline_spec("other", [], ()) is None
    midnight = NOW - NOW % DAY_MS
    assert deadline_at("07:00", midnight + HOUR_MS) == midnight + 7 * HOUR_MS and deadline_at(None, midnight) is None
    # the DAG's `deadline` param: after its tag, before the setting; an invalid one counts as none
    assert deadline_spec("report_daily", [], rules, param="+45m") == "+45m"
    assert deadline_spec("report_daily", ["deadline:+30m"], rules, param="+45m") == "+30m"
    assert deadline_spec("report_daily", [], rules, param="soon") == "07:00"
    # an admin's setting on the page wins over all of them
    assert deadline_spec("report_daily", ["deadline:+30m"], rules, param="+45m", setting="+3h") == "+3h"
    assert spec_of(" Deadline:+90M ") == "+90m"
    with pytest.raises(ValueError, match="HH:MM"):
        spec_of("tomorrow")
    for wrong in ("report_*", "report_*=7am", "=+2h", "x=25:00"):
        with pytest.raises(ConfigError, match="ORCAI_DEADLINES|deadlines"):
            load_settings(deadlines=wrong)


def test_a_pools_load_at_past_moments():
    from orcai.forecast.load import PoolTimeline
    pool = PoolTimeline([(0, 10), (5, None), (8, 9)])  # None: still running
    assert pool.load_at([0, 5, 8.5, 9, 10, 20]).tolist() == [1, 2, 3, 2, 1, 1]
    assert PoolTimeline([]).load_at([5]).tolist() == [0]


def test_start_lags_like_now_come_from_the_past_lags_at_a_similar_load():
    from orcai.forecast.load import lags_like_now
    loads = np.repeat([0.0, 1.0, 4.0], 40)
    lags = np.where(loads >= 4, 30.0, 1.0)  # with four ahead in the pool, a task waited 30 s
    assert set(lags_like_now(lags, loads, 5).tolist()) == {30.0}
    assert set(lags_like_now(lags, loads, 0).tolist()) == {1.0}
    unknown = np.full(120, np.nan)
    assert lags_like_now(lags, unknown, 5) is None and lags_like_now(lags, loads, None) is None
    assert lags_like_now(lags[:15], loads[:15], 0) is None  # too few to condition on


def test_the_load_now_moves_the_tasks_about_to_start_not_those_further_on():
    durations = {t: np.full(30, 60.0) for t in CHAIN}
    waits = {t: np.full(30, 1.0) for t in CHAIN}
    busy = {t: np.full(10, 120.0) for t in CHAIN}  # the lags seen when the pool was this busy
    tasks = {"a": TaskState("success", NOW - 60_000, NOW), "b": TaskState(None), "c": TaskState(None)}
    quiet = forecast_run(NOW, tasks, CHAIN, durations, waits)
    crowded = forecast_run(NOW, tasks, CHAIN, durations, waits, waits_now=busy)
    # b is next (its upstream is done): it waits 120 s, not 1 s; c, two steps on, keeps its usual 1 s
    assert crowded.eta_p50 - quiet.eta_p50 == 119_000
