"""The Incidents page (AppTest) on a real FalkorDB holding an incident the stage wrote."""

from __future__ import annotations

import pytest

from orcai.config import load_settings
from orcai.graph.worker_store import write_heartbeat
from orcai.incidents.stage import IncidentStage
from tests.integration.incident_graph import MIN, NOW, fail_ingest, late_run, load_estate, miss
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]


def test_the_page_shows_the_root_cause_evidence_blast_radius_and_timeline(monkeypatch, graph, graph_uri):
    now = NOW + 30 * MIN  # the estate's clock; open incidents show whatever the period
    load_estate(graph)
    fail_ingest(graph, now - 30 * MIN)
    miss(graph, "transform", now - 10 * MIN)
    IncidentStage(load_settings(graph_uri=graph_uri)).run(graph, now)
    write_heartbeat(graph, "worker", {"last_sync_at": now, "last_ok_at": now, "last_error": None})

    app = run_page(monkeypatch, "incidents", graph_uri)

    assert not app.exception
    assert [m.value for m in app.metric] == ["1", "0"]
    assert "Root cause: Task ingest.load" in [h.value for h in app.subheader]
    text = " ".join(m.value for m in app.markdown).replace("\\", "")  # unescape markdown
    assert "ingest.load failed first" in text and "transform" in text and "postgres://wh/orders" in text
    timeline = app.dataframe[0].value
    assert set(timeline["dag_id"]) == {"ingest", "transform"} and len(timeline) == 4
    assert timeline["breakdown"].notna().any()


def test_the_page_says_so_when_there_is_no_incident(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "incidents", graph_uri)
    assert not app.exception and "No incidents" in app.success[0].value


def test_the_page_says_how_often_an_incident_came_back_after_it_resolved(monkeypatch, graph, graph_uri):
    stage, t = IncidentStage(load_settings(graph_uri=graph_uri)), NOW + 10 * MIN
    load_estate(graph)
    late_run(graph, "report", "late1", t, missed_found_at=t + 2 * MIN)
    stage.run(graph, t + 3 * MIN)
    late_run(graph, "report", "late2", t + 4 * MIN)  # its success resolves the incident
    stage.run(graph, t + 6 * MIN)
    late_run(graph, "report", "late2", t + 4 * MIN, missed_found_at=t + 7 * MIN)  # back, found on that run
    stage.run(graph, t + 8 * MIN)
    write_heartbeat(graph, "worker", {"last_sync_at": t + 8 * MIN, "last_ok_at": t + 8 * MIN, "last_error": None})

    app = run_page(monkeypatch, "incidents", graph_uri)

    assert not app.exception and [m.value for m in app.metric] == ["1", "0"]
    text = " ".join(m.value for m in app.markdown)
    assert "came back 1 time after it resolved" in text and "resolved 20" not in text
