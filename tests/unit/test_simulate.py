"""Synthetic history: pure generation, checked without a graph."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from orcai.simulate import (
    ANOMALY_KINDS, DagSpec, Options, SyntheticHistory, TaskSpec,
    schedule_interval_s, structure_from_records, synthetic_deployment, synthetic_history,
    topological_order,
)

NOW_MS = int(datetime(2026, 1, 15, 12, 7, 30, tzinfo=timezone.utc).timestamp() * 1000)

STRUCTURE = [
    DagSpec("etl_orders", "0:03:00", (
        TaskSpec("extract"), TaskSpec("transform", ("extract",)), TaskSpec("load", ("transform",)))),
    DagSpec("ml_training", "@hourly", (
        TaskSpec("prepare"), TaskSpec("train_a", ("prepare",)), TaskSpec("train_b", ("prepare",)),
        TaskSpec("evaluate", ("train_a", "train_b")), TaskSpec("publish", ("evaluate",)))),
    DagSpec("regional_report", "*/5 * * * *", (
        TaskSpec("query"), TaskSpec("render", ("query",)))),
    DagSpec("nightly", "@daily", (TaskSpec("only"),)),
]


@pytest.fixture(scope="module")
def history() -> SyntheticHistory:
    return synthetic_history(STRUCTURE, days=30, now_ms=NOW_MS, seed=7)


def runs_by_dag_run(history):
    grouped = defaultdict(dict)
    for tr in history.task_runs:
        grouped[tr.dag_run_key][tr.task_id] = tr
    return grouped


def test_same_seed_and_now_give_identical_history(history):
    again = synthetic_history(STRUCTURE, days=30, now_ms=NOW_MS, seed=7)
    assert again.dag_runs == history.dag_runs
    assert again.task_runs == history.task_runs
    other = synthetic_history(STRUCTURE, days=30, now_ms=NOW_MS, seed=8)
    assert other.task_runs != history.task_runs


def test_keys_are_unique_synthetic_and_cannot_collide_with_airflow(history):
    keys = [r.key for r in history.dag_runs]
    assert len(keys) == len(set(keys))
    assert len({tr.key for tr in history.task_runs}) == len(history.task_runs)
    assert all(r.run_id.startswith("synthetic__") for r in history.dag_runs)
    assert {r.source for r in history.dag_runs} == {tr.source for tr in history.task_runs} == {"synthetic"}
    assert all(r.run_type == "scheduled" for r in history.dag_runs)


def test_nothing_happens_after_now_or_before_the_period(history):
    start_ms = NOW_MS - 30 * 86_400_000
    for run in history.dag_runs:
        assert start_ms <= run.logical_date < run.run_after <= run.queued_at <= run.start_date
        assert run.end_date <= NOW_MS
    assert all(tr.end_date <= NOW_MS for tr in history.task_runs)
    latest = max(r.run_after for r in history.dag_runs if r.dag_id == "ml_training")
    assert NOW_MS - latest < 2 * 3_600_000  # history reaches up to now


def test_runs_follow_the_schedule_and_respect_the_cap(history):
    per_dag = defaultdict(list)
    for run in history.dag_runs:
        per_dag[run.dag_id].append(run.logical_date)
    assert 715 <= len(per_dag["ml_training"]) <= 720  # hourly over 30 days
    assert 28 <= len(per_dag["nightly"]) <= 30
    assert all(len(dates) <= 2000 for dates in per_dag.values())  # 3- and 5-minute DAGs capped
    assert len(per_dag["etl_orders"]) > 1500
    gaps = {b - a for a, b in zip(sorted(per_dag["etl_orders"]), sorted(per_dag["etl_orders"])[1:])}
    assert len(gaps) == 1 and gaps.pop() % 180_000 == 0  # still on the 3-minute grid


def test_tasks_start_after_their_upstream_tasks_end(history):
    upstream = {(dag.dag_id, t.task_id): t.upstream for dag in STRUCTURE for t in dag.tasks}
    for runs in runs_by_dag_run(history).values():
        for tr in runs.values():
            for up in upstream[(tr.dag_id, tr.task_id)]:
                assert tr.start_date >= runs[up].end_date
            if tr.state != "upstream_failed":
                assert tr.queued_s > 0


def test_dag_run_spans_its_task_runs(history):
    task_runs = runs_by_dag_run(history)
    for run in history.dag_runs:
        tasks = task_runs[run.key].values()
        assert run.start_date <= min(t.start_date for t in tasks)
        assert run.end_date == max(t.end_date for t in tasks)
        assert run.duration_s == pytest.approx((run.end_date - run.start_date) / 1000)
        failed = any(t.state != "success" for t in tasks)
        assert run.state == ("failed" if failed else "success")


def test_failures_make_downstream_upstream_failed_and_retries_happen(history):
    states = [tr.state for tr in history.task_runs]
    assert "upstream_failed" in states
    ordinary_failed = [r for r in history.dag_runs if r.state == "failed" and not r.injected_anomaly]
    assert 0.005 < len(ordinary_failed) / len(history.dag_runs) < 0.05
    assert any(tr.try_number == 2 and tr.state == "success" for tr in history.task_runs)
    for runs in runs_by_dag_run(history).values():
        if "transform" in runs and runs["extract"].state == "failed":
            assert runs["transform"].state == runs["load"].state == "upstream_failed"


def test_every_kind_of_anomaly_is_injected_and_labelled_on_its_dag_run(history):
    counts = history.anomaly_counts()
    assert all(counts.get(kind, 0) > 0 for kind in ANOMALY_KINDS)
    labelled_runs = {tr.dag_run_key: tr.injected_anomaly for tr in history.task_runs if tr.injected_anomaly}
    by_key = {r.key: r for r in history.dag_runs}
    for key, kind in labelled_runs.items():
        assert by_key[key].injected_anomaly == kind
    assert sum(1 for r in history.dag_runs if r.injected_anomaly) == len(labelled_runs)


def test_slow_runs_are_at_least_three_times_the_task_median(history):
    durations = defaultdict(list)
    for tr in history.task_runs:
        if tr.state == "success":
            durations[tr.task_key].append(tr.duration_s)
    slow = [tr for tr in history.task_runs if tr.injected_anomaly == "slow"]
    assert slow
    for tr in slow:
        assert tr.state == "success"
        assert tr.duration_s >= 3 * statistics.median(durations[tr.task_key])


def test_stuck_runs_fail_after_running_far_too_long(history):
    stuck = [tr for tr in history.task_runs if tr.injected_anomaly == "stuck"]
    assert stuck
    for tr in stuck:
        assert tr.state == "failed" and tr.duration_s >= 1800


def test_failure_streaks_are_three_to_six_consecutive_failed_runs(history):
    runs_of_task = defaultdict(list)
    for tr in sorted(history.task_runs, key=lambda t: t.start_date):
        runs_of_task[tr.task_key].append(tr)
    streaks = []
    for runs in runs_of_task.values():
        length = 0
        for tr in runs + [None]:
            if tr is not None and tr.injected_anomaly == "failure_streak":
                assert tr.state == "failed"
                length += 1
            elif length:
                streaks.append(length)
                length = 0
    assert streaks and all(3 <= n <= 6 for n in streaks)


def test_anomaly_rate_zero_injects_nothing():
    quiet = synthetic_history(STRUCTURE, 30, NOW_MS, 7, Options(anomalies_per_week=0))
    assert quiet.anomaly_counts() == {}
    assert not any(r.injected_anomaly for r in quiet.dag_runs)


@pytest.mark.parametrize("schedule, seconds", [
    ("0:04:00", 240), ("1 day, 0:00:00", 86_400), ("2 days, 6:00:00", 194_400),
    ("@hourly", 3600), ("@daily", 86_400), ("@weekly", 604_800),
    ("*/5 * * * *", 300), ("0 * * * *", 3600), ("0,30 * * * *", 1800),
    ("0 */6 * * *", 21_600), ("30 2 * * *", 86_400), ("0 3 * * 1", 604_800),
    ("0 0 1 * *", 2_592_000), ("* * * * *", 60),
    (None, 3600), ("", 3600), ("@once", 3600), ("Asset", 3600), ("0-10/2 * * * *", 3600),
])
def test_schedule_interval_parsing(schedule, seconds):
    assert schedule_interval_s(schedule) == seconds


def test_synthetic_deployment_makes_acyclic_chains_and_fans():
    dags, tasks = synthetic_deployment(5, tasks_per_dag=6, seed=3)
    assert len(dags) == 5 and len({d.dag_id for d in dags}) == 5
    assert all(d.source == "synthetic" and not d.is_paused for d in dags)
    structure = structure_from_records(dags, tasks)
    shapes = set()
    for dag in structure:
        assert len(dag.tasks) == 6
        order = [t.task_id for t in topological_order(dag.tasks)]  # raises on a cycle
        roots = [t for t in dag.tasks if not t.upstream]
        fan_in = max(len(t.upstream) for t in dag.tasks)
        shapes.add("fan" if fan_in > 1 else "chain")
        assert len(roots) == 1 and order[0] == roots[0].task_id
    assert shapes == {"chain", "fan"}
    assert synthetic_deployment(5, 6, 3) == (dags, tasks)


def test_synthetic_deployment_history_runs():
    dags, tasks = synthetic_deployment(3, tasks_per_dag=2, seed=1)
    history = synthetic_history(structure_from_records(dags, tasks), 7, NOW_MS, seed=1)
    assert {r.dag_id for r in history.dag_runs} == {d.dag_id for d in dags}


def test_topological_order_rejects_cycles():
    with pytest.raises(ValueError, match="cycle"):
        topological_order((TaskSpec("a", ("b",)), TaskSpec("b", ("a",))))


def test_synthetic_durations_follow_the_real_distribution():
    import numpy as np
    from orcai.simulate import DagSpec, TaskSpec, lognormal_fits, synthetic_history, true_cadence
    real = list(np.random.default_rng(0).lognormal(np.log(1.5), 0.3, 200))
    median, sigma = lognormal_fits({"A.a1": real})["A.a1"]
    assert median == pytest.approx(1.5, rel=0.1) and sigma == pytest.approx(0.3, rel=0.2)
    structure = [DagSpec("A", "0:03:00", (TaskSpec("a1"),))]
    options = true_cadence(structure, 1, {"A.a1": median}, {"A.a1": sigma})
    history = synthetic_history(structure, days=1, now_ms=1_780_000_000_000, seed=1, options=options)
    logs = np.log([tr.duration_s for tr in history.task_runs if tr.state == "success" and not tr.injected_anomaly])
    assert np.exp(np.median(logs)) == pytest.approx(median, rel=0.1)
    assert (np.quantile(logs, 0.75) - np.quantile(logs, 0.25)) / 1.349 == pytest.approx(sigma, rel=0.25)
