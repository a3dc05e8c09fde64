"""The incident stage on a real FalkorDB: one incident per root cause that opens, grows and
resolves, with its ROOT_CAUSE and INCLUDES edges, and one Slack notice per step."""

from __future__ import annotations

import json
import re

import pytest

from orcai.alerts.outbox import AlertRequest
from orcai.config import load_settings
from orcai.graph import alert_store
from orcai.graph.incident_store import RESOLVED_SINCE, UNANNOUNCED, estate_fingerprint, last_task_start
from orcai.model import DAY_MS
from orcai.incidents.lifecycle import REOPEN_WINDOW_MS
from orcai.incidents.stage import IncidentStage
from tests.integration.incident_graph import (
    MIN, NOW, ORDERS, fail_ingest, late_run, learn_bands, load_estate, miss, recover, slow_extract,
)

pytestmark = pytest.mark.integration


def alerts(graph) -> list[tuple[str, str]]:
    return sorted((a.kind, a.key) for a in alert_store.pending(graph, NOW + 1000 * MIN))


def test_a_cascade_is_one_incident_that_opens_grows_and_resolves(graph, graph_uri):
    stage = IncidentStage(load_settings(graph_uri=graph_uri))
    load_estate(graph)
    fail_ingest(graph, NOW)
    miss(graph, "transform", NOW + 20 * MIN)

    report = stage.run(graph, NOW + 25 * MIN)

    assert (report.opened, report.open, report.resolved) == (1, 1, 0)
    [row] = graph.read("MATCH (i:Incident)-[:ROOT_CAUSE]->(t:Task) RETURN properties(i) AS i, t.key AS root")
    incident = row["i"]
    assert row["root"] == "ingest.load" and incident["status"] == "open" and incident["root_kind"] == "task"
    assert incident["dags_hit"] == ["ingest", "transform"] and incident["blast_dags"][:2] == ["ingest", "transform"]
    assert ORDERS in incident["blast_assets"] and "report" in incident["blast_dags"]
    included = graph.read("MATCH (:Incident)-[:INCLUDES]->(s) RETURN labels(s)[0] AS label, s.key AS key ORDER BY key")
    assert {r["label"] for r in included} == {"Anomaly", "TaskRun", "DagRun"} and len(included) == 4
    assert "ingest.load failed first" in json.loads(incident["evidence"])[0]
    [why] = graph.read("MATCH (tr:TaskRun {key: 'ingest/bad/load/-1'}) RETURN tr.breakdown AS b")
    assert why["b"].startswith("late") or why["b"] == "on time"
    assert alerts(graph) == [("incident", f"incident:{incident['key']}")]

    assert stage.run(graph, NOW + 26 * MIN).opened == 0  # a cycle later: nothing new
    assert len(alerts(graph)) == 1

    miss(graph, "report", NOW + 40 * MIN)
    grown = stage.run(graph, NOW + 41 * MIN)
    assert (grown.opened, grown.grew) == (0, 1)
    assert graph.read("MATCH (i:Incident) RETURN count(i) AS n, max(i.size) AS size")[0] == {"n": 1, "size": 5}
    assert ("incident_update", f"incident:{incident['key']}:size5") in alerts(graph)

    recover(graph, NOW + 60 * MIN)
    done = stage.run(graph, NOW + 90 * MIN)
    assert done.resolved == 1
    [after] = graph.read("MATCH (i:Incident) RETURN i.status AS status, i.resolved_at AS at")
    assert after == {"status": "resolved", "at": NOW + 90 * MIN}
    resolved_notice = ("incident_resolved", f"incident_resolved:{incident['key']}")
    assert resolved_notice not in alerts(graph)  # not yet: it may still come back (a flap)
    stage.run(graph, NOW + 90 * MIN + REOPEN_WINDOW_MS)
    assert resolved_notice in alerts(graph)
    stage.run(graph, NOW + 91 * MIN + REOPEN_WINDOW_MS)
    assert [a for a in alerts(graph) if a[0] == "incident_resolved"] == [resolved_notice]  # once


def test_an_incident_that_comes_back_after_a_moments_recovery_is_reopened_under_its_key(graph, graph_uri):
    stage = IncidentStage(load_settings(graph_uri=graph_uri))
    load_estate(graph)
    t = NOW + 10 * MIN
    late_run(graph, "report", "late1", t, missed_found_at=t + 2 * MIN)
    assert stage.run(graph, t + 3 * MIN).opened == 1
    [first] = graph.read("MATCH (i:Incident) RETURN properties(i) AS i")
    late_run(graph, "report", "late2", t + 4 * MIN)  # its success resolves the incident
    assert stage.run(graph, t + 6 * MIN).resolved == 1

    # the detector finds runs missed again, on the late run that started before the resolution
    late_run(graph, "report", "late2", t + 4 * MIN, missed_found_at=t + 7 * MIN)
    back = stage.run(graph, t + 8 * MIN)

    assert (back.opened, back.reopened, back.open) == (0, 1, 1)
    [again] = graph.read("MATCH (i:Incident) RETURN properties(i) AS i")
    i = again["i"]
    assert (i["key"], i["status"], i["opened_at"], i["reopened"], i["reopened_at"]) == (
        first["i"]["key"], "open", first["i"]["opened_at"], 1, t + 8 * MIN)
    assert "resolved_at" not in i and i["size"] == 2
    assert graph.read("MATCH (:Incident)-[:INCLUDES]->(a:Anomaly) RETURN count(a) AS n") == [{"n": 2}]
    assert alerts(graph) == [("incident", f"incident:{i['key']}"),  # its update: the whole incident
                             ("incident_update", f"incident:{i['key']}:size2")]

    late_run(graph, "report", "late3", t + 10 * MIN)  # it resolves again, and stays resolved
    assert stage.run(graph, t + 11 * MIN).resolved == 1
    resolved_notice = ("incident_resolved", f"incident_resolved:{i['key']}")
    stage.run(graph, t + 11 * MIN + REOPEN_WINDOW_MS - MIN)
    assert resolved_notice not in alerts(graph)
    for later in (REOPEN_WINDOW_MS, REOPEN_WINDOW_MS + MIN):
        stage.run(graph, t + 11 * MIN + later)
    assert [a for a in alerts(graph) if a[0] == "incident_resolved"] == [resolved_notice]  # once, after the window


def test_an_incident_whose_resolved_notice_is_out_is_never_reopened(graph, graph_uri):
    """Within the window by the clock, but its resolved notice already queued (by a version
    that sent it at once, or a skewed clock): the flap is a new incident, the notice stands."""
    stage = IncidentStage(load_settings(graph_uri=graph_uri))
    load_estate(graph)
    t = NOW + 10 * MIN
    late_run(graph, "report", "late1", t, missed_found_at=t + 2 * MIN)
    stage.run(graph, t + 3 * MIN)
    [first] = graph.read("MATCH (i:Incident) RETURN i.key AS key")
    late_run(graph, "report", "late2", t + 4 * MIN)
    stage.run(graph, t + 6 * MIN)
    alert_store.enqueue(graph, [AlertRequest(f"incident_resolved:{first['key']}", "incident_resolved",
                                             {"incident_key": first["key"]}, t + 6 * MIN, "report")])

    late_run(graph, "report", "late2", t + 4 * MIN, missed_found_at=t + 7 * MIN)
    back = stage.run(graph, t + 8 * MIN)

    assert (back.opened, back.reopened) == (1, 0)
    rows = graph.read("MATCH (i:Incident) RETURN i.key AS key, i.status AS status ORDER BY i.opened_at")
    assert rows[0] == {"key": first["key"], "status": "resolved"} and rows[1]["status"] == "open"


def test_the_same_symptoms_back_after_the_window_are_a_new_incident_not_the_old_one_silently(graph, graph_uri):
    """An operator clears the recovering runs in Airflow: the same symptoms are active again,
    with the same root and first moment, so the same natural key. Past the re-open window
    that is a new incident: announced, and resolved with a notice of its own."""
    stage = IncidentStage(load_settings(graph_uri=graph_uri))
    load_estate(graph)
    fail_ingest(graph, NOW)
    miss(graph, "transform", NOW + 20 * MIN)
    stage.run(graph, NOW + 25 * MIN)
    [first] = graph.read("MATCH (i:Incident) RETURN i.key AS key")
    recover(graph, NOW + 60 * MIN)
    stage.run(graph, NOW + 90 * MIN)
    stage.run(graph, NOW + 90 * MIN + REOPEN_WINDOW_MS)
    graph.write("MATCH (r:DagRun) WHERE r.run_id = 'fixed' SET r.state = 'queued'")
    graph.write("MATCH (tr:TaskRun) WHERE tr.run_id = 'fixed' SET tr.state = 'queued'")

    back = stage.run(graph, NOW + 120 * MIN)
    assert stage.run(graph, NOW + 121 * MIN).opened == 0  # a cycle later: nothing opens twice

    second = f"{first['key']}#2"
    assert (back.opened, back.reopened) == (1, 0)
    rows = graph.read("MATCH (i:Incident) RETURN i.key AS key, i.status AS status ORDER BY key")
    assert rows == [{"key": first["key"], "status": "resolved"}, {"key": second, "status": "open"}]
    assert ("incident", f"incident:{second}") in alerts(graph)
    graph.write("MATCH (n) WHERE (n:DagRun OR n:TaskRun) AND n.run_id = 'fixed' SET n.state = 'success'")
    stage.run(graph, NOW + 130 * MIN)
    stage.run(graph, NOW + 130 * MIN + REOPEN_WINDOW_MS)
    assert [a for a in alerts(graph) if a[0] == "incident_resolved"] == [
        ("incident_resolved", f"incident_resolved:{k}") for k in (first["key"], second)]


def test_policies_see_the_root_and_the_victims_of_an_open_incident(graph, graph_uri):
    from orcai.policy.runner import current_facts
    load_estate(graph)
    fail_ingest(graph, NOW)
    miss(graph, "transform", NOW + 20 * MIN)
    IncidentStage(load_settings(graph_uri=graph_uri)).run(graph, NOW + 25 * MIN)

    facts = current_facts(graph, NOW + 25 * MIN)

    assert facts["ingest"]["incident"]["is_root"] and facts["ingest"]["incident"]["root_kind"] == "task"
    assert facts["transform"]["incident"]["is_victim"] and facts["transform"]["incident"]["size"] == 4
    assert facts["report"]["incident"]["key"] == ""  # not hit yet


@pytest.mark.parametrize("others_pace, expected", [(1.0, ["ingest.extract"]), (3.0, [])])
def test_a_run_many_times_its_usual_is_an_incident_unless_the_others_are_slow_too(graph, graph_uri, others_pace,
                                                                                expected):
    stage = IncidentStage(load_settings(graph_uri=graph_uri))  # Slack from medium severity (the default)
    load_estate(graph)
    learn_bands(graph)  # its tail is wide: the detector does not flag 20 min
    slow_extract(graph, NOW, minutes=20, others_pace=others_pace)

    report = stage.run(graph, NOW + 25 * MIN)

    rows = graph.read("MATCH (i:Incident)-[:ROOT_CAUSE]->(t:Task) RETURN t.key AS root, i.evidence AS evidence")
    assert [r["root"] for r in rows] == expected and report.opened == len(expected)
    if expected:
        evidence = json.loads(rows[0]["evidence"])[0]
        assert evidence.endswith("slow first, at 2027-01-15 08:00 UTC: ran 20 min, 10× its usual 2 min, "
                                 "while the other tasks ran at 1.0× theirs")
        assert alerts(graph) == []  # shown on the Incidents page; a low-severity symptom pages no one


def test_the_estate_fingerprint_moves_with_the_estate_not_with_runs(graph):
    """Pages keep the estate while its fingerprint holds: a failed run must not move it (or
    the page would read the estate each sync), a new dependency or a deleted DAG must."""
    load_estate(graph)
    before = estate_fingerprint(graph)
    fail_ingest(graph, NOW)
    assert estate_fingerprint(graph) == before
    first, second = [r["key"] for r in graph.read("MATCH (t:Task) RETURN t.key AS key ORDER BY key LIMIT 2")]
    graph.write("MATCH (a:Task {key: $a}), (b:Task {key: $b}) CREATE (b)-[:DEPENDS_ON]->(a)", {"a": first, "b": second})
    with_edge = estate_fingerprint(graph)
    assert with_edge != before
    graph.write("MATCH (d:Dag) WITH d LIMIT 1 SET d.is_deleted = true")
    assert estate_fingerprint(graph) != with_edge


def test_the_last_task_start_is_found_in_the_last_day_or_before_it(graph):
    """The pulse reads the last day first; a quiet day must still give the true last start
    (an outage's evidence says how long nothing started), and none at all gives None."""
    assert last_task_start(graph, NOW) is None
    graph.write("CREATE (:TaskRun {key: 'old', start_date: $at})", {"at": NOW - 3 * DAY_MS})
    assert last_task_start(graph, NOW) == NOW - 3 * DAY_MS
    graph.write("CREATE (:TaskRun {key: 'new', start_date: $at})", {"at": NOW - 5 * MIN})
    assert last_task_start(graph, NOW) == NOW - 5 * MIN


def records_read(graph, cypher: str, params: dict) -> int:
    """The rows every operation of the query's plan produced (GRAPH.PROFILE): its cost."""
    lines = graph._select().profile(cypher, params).plan
    return sum(int(n) for line in lines for n in re.findall(r"Records produced: (\d+)", line))


@pytest.mark.parametrize("query", [RESOLVED_SINCE, UNANNOUNCED])
def test_the_recently_resolved_are_read_without_the_history(graph, query):
    """Each cycle reads the incidents resolved in the last minutes (and a day, for resolved
    notices): the cost must follow those and their alerts, not every incident and alert ever."""
    def seed(n: int) -> None:
        graph.write("UNWIND range(1, $n) AS k CREATE (:Incident {key: 'old' + toString(k), status: 'resolved', "
                    "resolved_at: k, opened_at: k}), (:Alert {key: 'incident:old' + toString(k)}), "
                    "(:Alert {key: 'incident_resolved:old' + toString(k)})", {"n": n})
    graph.write("UNWIND range(1, 3) AS k CREATE (:Incident {key: 'new' + toString(k), status: 'resolved', "
                "resolved_at: $now + k, opened_at: $now}), (:Alert {key: 'incident:new' + toString(k)})", {"now": NOW})
    params = {"since": NOW - REOPEN_WINDOW_MS}
    seed(200)
    small = records_read(graph, query, params)
    seed(2000)
    assert len(graph.read(query, params)) == 3
    assert records_read(graph, query, params) == small < 50
