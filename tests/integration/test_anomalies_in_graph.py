"""Detection in the product: the monitor reads runs from a real graph and writes anomalies."""

from __future__ import annotations

import pytest

from orcai.access import Person
from orcai.anomalies.monitor import AnomalyMonitor
from orcai.anomalies.review import review_anomaly
from orcai.config import load_settings
from orcai.graph.load import load_dags, load_tasks
from orcai.graph.anomaly_store import anomalies
from orcai.simulate import DagSpec, Options, TaskSpec, synthetic_history, write_history

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000

OPS = Person("ops-sub", "ops", frozenset({"operator"}))


@pytest.fixture
def history_graph(graph, graph_uri):
    from orcai.model import DagRecord, TaskRecord
    load_dags(graph, [DagRecord("etl", is_paused=False, schedule="1:00:00")])
    load_tasks(graph, ["etl"], [TaskRecord("etl", "extract", downstream_task_ids=("load",)),
                                TaskRecord("etl", "load")])
    structure = [DagSpec("etl", "1:00:00", (TaskSpec("extract"), TaskSpec("load", ("extract",))))]
    history = synthetic_history(structure, days=10, now_ms=NOW, seed=5,
                                options=Options(anomalies_per_week=3.0))
    write_history(graph, history)
    return graph, load_settings(graph_uri=graph_uri, detect_lookback_days=14), history


def test_monitor_flags_injected_anomalies_once(history_graph):
    graph, settings, history = history_graph
    monitor = AnomalyMonitor(settings)
    first = monitor.run(graph, NOW)
    assert first.refitted and first.judged > 400 and first.flagged > 0

    stored = [row["anomaly"] for row in anomalies(graph, ["open"])]
    assert len(stored) == len({a["key"] for a in stored}) > 0
    injected = {f"{tr.dag_id}/{tr.run_id}" for tr in history.task_runs if tr.injected_anomaly}
    hits = [a for a in stored if f"{a['dag_id']}/{a['run_id']}" in injected]
    assert len(hits) >= 0.7 * len(stored), "most anomalies should be injected ones"
    assert all(a["reason"] and a["severity"] in ("low", "medium", "high") for a in stored)
    flags = graph.read("MATCH (a:Anomaly)-[:FLAGS]->(x) RETURN count(a) AS n")[0]["n"]
    assert flags == len(stored)

    again = AnomalyMonitor(settings).run(graph, NOW)  # a restarted worker re-judges...
    assert again.flagged == first.flagged
    assert len(anomalies(graph, ["open"])) == len(stored)  # ...without duplicating


def test_acknowledged_anomaly_stays_acknowledged(history_graph):
    graph, settings, _ = history_graph
    AnomalyMonitor(settings).run(graph, NOW)
    key = anomalies(graph, ["open"])[0]["anomaly"]["key"]
    assert review_anomaly(graph, key, "acknowledged", by=OPS, at_ms=NOW)
    AnomalyMonitor(settings).run(graph, NOW)
    statuses = {row["anomaly"]["key"]: row["anomaly"]["status"] for row in anomalies(graph, ["open", "acknowledged"])}
    assert statuses[key] == "acknowledged"
    assert not review_anomaly(graph, "no-such-key", "acknowledged", by=OPS, at_ms=NOW)


def test_false_positive_widens_the_tasks_tolerance(history_graph):
    graph, settings, _ = history_graph
    AnomalyMonitor(settings).run(graph, NOW)
    slow = [r["anomaly"] for r in anomalies(graph, ["open"]) if r["anomaly"]["kind"] in ("slow", "stuck")]
    assert slow, "the history has injected slow or stuck runs"
    review_anomaly(graph, slow[0]["key"], "false_positive", by=OPS, at_ms=NOW)
    tolerance = graph.read("MATCH (t:Task {key: $k}) RETURN t.tolerance AS t", {"k": slow[0]["task_key"]})
    assert tolerance == [{"t": 1.25}]


def test_between_refits_only_new_runs_are_scored(history_graph):
    from orcai.graph.load import load_dag_runs, load_task_runs
    from orcai.model import DagRunRecord, TaskRunRecord
    graph, settings, history = history_graph
    monitor = AnomalyMonitor(settings)
    monitor.run(graph, NOW)
    quiet = monitor.run(graph, NOW + 60_000)
    assert not quiet.refitted and quiet.judged <= 2  # only the overlap is looked at again

    last = max(tr.end_date for tr in history.task_runs if tr.task_id == "extract" and tr.end_date)
    start = last + 3_600_000
    load_dag_runs(graph, [DagRunRecord("etl", "late_slow", "success", run_after=start)])
    load_task_runs(graph, [TaskRunRecord("etl", "late_slow", "extract", -1, "success", start_date=start,
                                         end_date=start + 1_800_000, duration_s=1800.0)])
    report = monitor.run(graph, start + 1_900_000)
    assert not report.refitted and report.judged <= 3 and report.flagged == 1  # new run + overlap
    flagged = [r["anomaly"] for r in anomalies(graph, ["open"]) if r["anomaly"]["run_id"] == "late_slow"]
    assert flagged[0]["kind"] == "slow" and "its median" in flagged[0]["reason"]


def test_a_failed_store_between_refits_flags_the_re_read_run_again(history_graph, monkeypatch):
    # the schedule state moves past a cycle's runs only once their anomalies are stored: a
    # failed store, then the next cycle re-reading the run, must flag it again
    from orcai.anomalies import monitor as monitor_module
    from orcai.graph.load import load_dag_runs, load_task_runs
    from orcai.model import DagRunRecord, TaskRunRecord
    graph, settings, history = history_graph
    monitor = AnomalyMonitor(settings.model_copy(update={"detect_refit_min": 600}))  # no refit in between
    monitor.run(graph, NOW)
    last = max((r for r in history.dag_runs if r.logical_date is not None and r.start_date is not None
                and r.run_type in (None, "scheduled")), key=lambda r: r.logical_date)
    logical = last.logical_date + 3_600_000
    start = max(tr.end_date for tr in history.task_runs if tr.end_date) + 2_700_000  # 45 min late or more
    start = max(start, logical + (last.start_date - last.logical_date) + 2_700_000)
    load_dag_runs(graph, [DagRunRecord("etl", "held_up", "success", "scheduled", logical_date=logical,
                                       run_after=logical)])
    load_task_runs(graph, [TaskRunRecord("etl", "held_up", "extract", -1, "success", start_date=start,
                                         end_date=start + 60_000, duration_s=60.0)])
    stored = monitor_module.anomaly_store.load_anomalies

    def unavailable(graph, records):
        raise ConnectionError("graph unavailable")
    monkeypatch.setattr(monitor_module.anomaly_store, "load_anomalies", unavailable)
    with pytest.raises(ConnectionError):
        monitor.run(graph, start + 120_000)
    monkeypatch.setattr(monitor_module.anomaly_store, "load_anomalies", stored)
    report = monitor.run(graph, start + 180_000)
    assert not report.refitted
    kinds = [r["anomaly"]["kind"] for r in anomalies(graph, ["open"]) if r["anomaly"]["run_id"] == "held_up"]
    assert "late" in kinds or "missing" in kinds


def test_a_refit_whose_store_failed_is_done_again(history_graph, monkeypatch):
    # a refit is adopted only once its verdicts are stored: otherwise the next cycle would
    # score the same runs incrementally against a fit that counts them as judged already
    from orcai.anomalies import monitor as monitor_module
    graph, settings, _ = history_graph
    monitor = AnomalyMonitor(settings)
    stored = monitor_module.anomaly_store.load_anomalies

    def unavailable(graph, records):
        raise ConnectionError("graph unavailable")
    monkeypatch.setattr(monitor_module.anomaly_store, "load_anomalies", unavailable)
    with pytest.raises(ConnectionError):
        monitor.run(graph, NOW)
    monkeypatch.setattr(monitor_module.anomaly_store, "load_anomalies", stored)
    report = monitor.run(graph, NOW + 60_000)
    assert report.refitted and report.flagged > 0
    assert anomalies(graph, ["open"])
