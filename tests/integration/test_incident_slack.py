"""One Slack message per incident, against a real FalkorDB and the Slack-compatible sink:
the cascade of tests/integration/incident_graph.py over five cycles (fault, growth, growth,
recovery, and a quiet one once the incident stayed resolved for the re-open window), counted
against what the same cycles send without the incident stage; and a flapping incident, which
sends one message."""

from __future__ import annotations

import pytest

from orcai.alerts.dispatch import AlertDispatcher
from orcai.alerts.slack import SlackSender
from orcai.config import load_settings
from orcai.incidents.estate import CycleEstate
from orcai.incidents.stage import IncidentStage
from orcai.incidents.lifecycle import REOPEN_WINDOW_MS
from tests.integration.incident_graph import MIN, NOW, fail_ingest, late_run, load_estate, miss, recover

pytestmark = pytest.mark.integration


def cycles(graph, settings, with_incidents: bool):
    """The fault's cycles, one at a time (fault, grew, grew, recovered, stayed resolved):
    yields each cycle's dispatch report once its messages were sent."""
    stage, dispatcher = IncidentStage(settings), AlertDispatcher(settings, graph, SlackSender(settings))
    steps = [lambda: fail_ingest(graph, NOW), lambda: miss(graph, "transform", NOW + 20 * MIN),
             lambda: miss(graph, "report", NOW + 40 * MIN), lambda: recover(graph, NOW + 60 * MIN), lambda: None]
    for i, step in enumerate(steps):
        step()
        now = NOW + (i + 1) * 25 * MIN
        estate = CycleEstate(graph)  # as the worker: one read of the lineage per cycle
        if with_incidents:
            stage.run(graph, now, estate)
        yield dispatcher.run(now, estate)


def play(graph, settings, with_incidents: bool) -> list:
    """The fault's cycles; returns each cycle's dispatch report."""
    return list(cycles(graph, settings, with_incidents))


def settings_for(graph_uri, slack_sink, bot: bool):
    common = dict(graph_uri=graph_uri, slack_timeout_s=2, app_url="https://orcai.example.com",
                  alert_min_severity="low")
    if bot:
        return load_settings(slack_bot_token=slack_sink.token, slack_channel="#airflow-alerts",
                             slack_api_url=slack_sink.url + "/api", **common)
    return load_settings(slack_webhook_url=slack_sink.webhook_url("hook"), **common)


def test_webhook_gets_one_message_per_incident_and_one_when_it_resolves(graph, graph_uri, slack_sink):
    load_estate(graph)
    reports = play(graph, settings_for(graph_uri, slack_sink, bot=False), with_incidents=True)

    texts = [m.text for m in slack_sink.received]
    assert len(texts) == 2 and sum(r.messages for r in reports) == 2
    assert "Probable root cause: task ingest.load" in texts[0] and "What it hits" in texts[0]
    assert "transform" in texts[0] and "report" in texts[0]  # downstream named before it was hit
    assert "Resolved: task ingest.load" in texts[1]


def test_a_bot_token_edits_the_incident_message_in_place_and_resolves_it_in_its_thread(graph, graph_uri, slack_sink):
    load_estate(graph)
    reports = play(graph, settings_for(graph_uri, slack_sink, bot=True), with_incidents=True)

    paths = [m.path for m in slack_sink.received]
    # opened; grew twice (edited); resolved (edited, and a reply in its thread)
    assert paths == ["/api/chat.postMessage"] + ["/api/chat.update"] * 3 + ["/api/chat.postMessage"]
    edits, reply = [m.body for m in slack_sink.received[1:4]], slack_sink.received[-1].body
    assert len({e["ts"] for e in edits}) == 1 and reply["thread_ts"] == edits[0]["ts"]
    assert "Resolved" in str(edits[-1]["blocks"]) and "thread_ts" not in slack_sink.received[0].body
    assert sum(r.messages for r in reports) == 1  # one message in the channel; the rest edits and a reply


def test_without_incidents_the_same_fault_sends_a_message_per_symptom_cycle(graph, graph_uri, slack_sink):
    load_estate(graph)
    reports = play(graph, settings_for(graph_uri, slack_sink, bot=False), with_incidents=False)
    print(f"today: {len(slack_sink.received)} messages for the cascade")
    assert sum(r.messages for r in reports) == len(slack_sink.received) >= 3


def test_a_cycle_reads_the_lineage_once_for_the_incident_and_the_slack_stages(graph, graph_uri, slack_sink):
    load_estate(graph)
    fail_ingest(graph, NOW)  # a symptom to group, and a new anomaly whose reach Slack names
    settings = settings_for(graph_uri, slack_sink, bot=False)
    estate = CycleEstate(graph)

    AlertDispatcher(settings, graph, SlackSender(settings)).run(NOW + 25 * MIN, estate)
    assert estate.reads == 1  # the reach of the new anomaly was read through the cycle's estate
    IncidentStage(settings).run(graph, NOW + 25 * MIN, estate)

    assert estate.reads == 1
    assert graph.read("MATCH (i:Incident)-[:ROOT_CAUSE]->(t:Task) RETURN t.key AS root") == [{"root": "ingest.load"}]
    assert any("transform" in m.text for m in slack_sink.received)


def flapping(graph, settings) -> list:
    """`report` misses runs; a late run's success resolves the incident; a cycle later the
    detector finds runs missed again, on a late run that had started before that resolution
    (the scheduler fell behind); then it recovers for good. Each cycle's dispatch report."""
    stage, dispatcher = IncidentStage(settings), AlertDispatcher(settings, graph, SlackSender(settings))
    t = NOW + 10 * MIN
    steps = [(t + 3 * MIN, lambda: late_run(graph, "report", "late1", t, missed_found_at=t + 2 * MIN)),
             (t + 6 * MIN, lambda: late_run(graph, "report", "late2", t + 4 * MIN)),  # resolves it
             (t + 8 * MIN, lambda: late_run(graph, "report", "late2", t + 4 * MIN, missed_found_at=t + 7 * MIN)),
             (t + 11 * MIN, lambda: late_run(graph, "report", "late3", t + 10 * MIN)),  # resolves it again
             (t + 12 * MIN, lambda: None),
             (t + 11 * MIN + REOPEN_WINDOW_MS, lambda: None),  # stayed resolved the whole window
             (t + 12 * MIN + REOPEN_WINDOW_MS, lambda: None)]
    reports = []
    for now, step in steps:
        step()
        stage.run(graph, now)
        reports.append(dispatcher.run(now))
    return reports


def test_a_flapping_incident_is_one_webhook_message_and_one_resolved_notice_once_it_stays_resolved(
        graph, graph_uri, slack_sink):
    load_estate(graph)
    reports = flapping(graph, settings_for(graph_uri, slack_sink, bot=False))

    assert [r.messages for r in reports] == [1, 0, 0, 0, 0, 1, 0]
    texts = [m.text for m in slack_sink.received]
    assert "Resolved" not in texts[0] and "Resolved" in texts[1] and "came back 1 time" in texts[1]
    [incident] = graph.read("MATCH (i:Incident) RETURN properties(i) AS i")
    assert incident["i"]["status"] == "resolved" and incident["i"]["reopened"] == 1


def test_a_flapping_incident_with_a_bot_token_posts_once_and_resolves_in_its_thread_once(graph, graph_uri, slack_sink):
    load_estate(graph)
    flapping(graph, settings_for(graph_uri, slack_sink, bot=True))

    paths = [m.path for m in slack_sink.received]
    # opened; the flap's return grew it (edited in place); resolved at last (edited, and a thread reply)
    assert paths == ["/api/chat.postMessage", "/api/chat.update", "/api/chat.update", "/api/chat.postMessage"]
    assert "thread_ts" in slack_sink.received[-1].body
