"""ORC AI → Slack against a real FalkorDB and the Slack-compatible sink on 127.0.0.1.

Asserts on the JSON the sink received and on the outbox in the graph: grouping, no
repeats, resolved notices, Slack outages (429, 5xx, slow, bad token) that keep alerts
pending and log one line, and secrets that never reach the log.
"""

from __future__ import annotations

import logging
import time

import pytest

from orcai.alerts.dispatch import AlertDispatcher, SlackAlertStage
from orcai.alerts.outbox import AlertRequest
from orcai.graph.alert_store import enqueue
from orcai.alerts.slack import SlackSender
from orcai.config import load_settings
from orcai.access import LOCAL_ADMIN
from orcai.anomalies.review import review_anomaly
from orcai.graph.anomaly_store import load_anomalies

pytestmark = pytest.mark.integration

NOW = 1_764_100_000_000


def anomaly(n: int, dag_id: str = "etl_orders", severity: str = "high", detected_at: int = NOW) -> dict:
    run_id = f"manual__{n}"
    return {"key": f"slow:{dag_id}/{run_id}/load/-1", "kind": "slow", "score": 5.0 + n, "severity": severity,
            "reason": f"took {n + 2} min, {n + 5}× its median of 21 s", "detector": "robust",
            "detected_at": detected_at, "dag_id": dag_id, "task_id": "load", "task_key": f"{dag_id}.load",
            "run_id": run_id, "run_start": detected_at - 300_000,
            "target_label": "TaskRun", "target_key": f"{dag_id}/{run_id}/load/-1"}


def alert_states(graph) -> dict[str, str]:
    rows = graph.read("MATCH (a:Alert) RETURN a.key AS key, a.status AS status")
    return {row["key"]: row["status"] for row in rows}


@pytest.fixture
def webhook_settings(graph_uri, slack_sink):
    return load_settings(graph_uri=graph_uri, slack_webhook_url=slack_sink.webhook_url("s3cr3t-hook"),
                         slack_timeout_s=1, app_url="https://orcai.example.com",
                         airflow_ui_url="https://airflow.example.com", alert_min_severity="low")


@pytest.fixture
def dispatcher(webhook_settings, graph):
    return AlertDispatcher(webhook_settings, graph, SlackSender(webhook_settings))


def test_anomalies_below_the_alert_severity_stay_off_slack(webhook_settings, graph, slack_sink):
    settings = webhook_settings.model_copy(update={"alert_min_severity": "medium"})
    load_anomalies(graph, [anomaly(0), anomaly(1, "flaky_ingest", "medium"), anomaly(2, "ml_training", "low")])

    report = AlertDispatcher(settings, graph, SlackSender(settings)).run(NOW + 1_000)

    assert (report.enqueued, report.sent) == (2, 2)
    assert "ml_training" not in slack_sink.received[0].text
    assert set(alert_states(graph)) == {"anomaly:" + anomaly(0)["key"],
                                        "anomaly:" + anomaly(1, "flaky_ingest")["key"]}


def test_one_cycle_of_anomalies_is_one_message_and_a_repeat_cycle_sends_nothing(dispatcher, graph, slack_sink):
    load_anomalies(graph, [anomaly(0), anomaly(1, "flaky_ingest", "medium"), anomaly(2, "ml_training", "low")])

    report = dispatcher.run(NOW + 1_000)

    assert (report.enqueued, report.sent, report.messages, report.failed, report.pending) == (3, 3, 1, 0, 0)
    [message] = slack_sink.received
    assert message.path == "/services/T000/B000/s3cr3t-hook"
    assert message.body["blocks"][0]["text"]["text"] == "3 new anomalies across 3 DAGs"
    assert "took 2 min, 5× its median of 21 s" in message.text
    assert "<https://airflow.example.com/dags/etl_orders/runs/manual__0/tasks/load|Open in Airflow>" in message.text
    assert "<https://orcai.example.com/anomalies?dag_id=etl_orders|Open in ORC AI>" in message.text
    assert set(alert_states(graph).values()) == {"sent"}

    load_anomalies(graph, [anomaly(0), anomaly(1, "flaky_ingest", "medium")])  # re-detected, still open
    report = dispatcher.run(NOW + 61_000)
    assert (report.enqueued, report.sent, report.messages) == (0, 0, 0)
    assert len(slack_sink.received) == 1


def test_closing_an_announced_anomaly_sends_one_resolved_notice(dispatcher, graph, slack_sink):
    load_anomalies(graph, [anomaly(0), anomaly(1)])
    dispatcher.run(NOW)
    review_anomaly(graph, anomaly(0)["key"], "acknowledged", LOCAL_ADMIN, NOW + 5_000, "maintenance window")

    dispatcher.run(NOW + 61_000)
    dispatcher.run(NOW + 122_000)

    assert len(slack_sink.received) == 2
    resolved = slack_sink.received[1]
    assert resolved.body["blocks"][0]["text"]["text"] == "1 anomaly closed"
    assert "acknowledged by admin: maintenance window" in resolved.text
    assert "manual__1" not in resolved.text


def test_old_anomalies_from_a_backfill_are_not_paged(dispatcher, graph, slack_sink):
    load_anomalies(graph, [anomaly(0, detected_at=NOW - 3 * 86_400_000)])
    assert dispatcher.run(NOW).enqueued == 0 and slack_sink.received == []


def test_a_short_retry_after_is_waited_out_and_delivers_exactly_once(dispatcher, graph, slack_sink):
    load_anomalies(graph, [anomaly(0)])
    slack_sink.fail_next(1, status=429, retry_after=1)

    report = dispatcher.run(NOW)

    assert (report.sent, report.failed) == (1, 0)
    assert len(slack_sink.wait_for(timeout_s=1)) == 1


def test_a_long_retry_after_keeps_the_alert_pending_until_then_and_delivers_once(dispatcher, graph, slack_sink,
                                                                                 caplog):
    load_anomalies(graph, [anomaly(0), anomaly(1)])
    slack_sink.fail_next(1, status=429, retry_after=30)
    started = time.monotonic()

    first = dispatcher.run(NOW)

    assert time.monotonic() - started < 15  # not waited out in place (that takes 30 s)
    assert (first.sent, first.failed, first.pending, first.failure_reasons) == (0, 1, 2, {"rate_limited": 1})
    assert set(alert_states(graph).values()) == {"pending"}
    assert "rate-limited" in caplog.text and "next try in 30 s" in caplog.text
    assert dispatcher.run(NOW + 20_000).messages == 0  # Retry-After not over yet: nothing sent
    assert dispatcher.run(NOW + 31_000).sent == 2
    assert dispatcher.run(NOW + 92_000).sent == 0
    assert len(slack_sink.received) == 1 and "2 new anomalies" in slack_sink.received[0].text


@pytest.mark.parametrize("outage", ["server_error", "slow", "invalid_token"])
def test_slack_outages_keep_alerts_pending_with_one_log_line(outage, graph_uri, graph, slack_sink, caplog):
    token = "xoxb-not-the-right-token" if outage == "invalid_token" else slack_sink.token
    settings = load_settings(graph_uri=graph_uri, slack_bot_token=token, slack_channel="#airflow-alerts",
                             slack_api_url=slack_sink.url + "/api", slack_timeout_s=0.5)
    dispatcher = AlertDispatcher(settings, graph, SlackSender(settings))
    load_anomalies(graph, [anomaly(0)])
    if outage == "server_error":
        slack_sink.fail_next(5, status=503)
    if outage == "slow":
        slack_sink.delay_s = 2
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()

    report = dispatcher.run(NOW)

    # One bounded try (0.5 s timeout, one retry in place), not the 30 s a cycle may spend on Slack.
    assert time.monotonic() - started < 15
    assert (report.sent, report.failed, report.pending) == (0, 1, 1)
    assert alert_states(graph) == {f"anomaly:{anomaly(0)['key']}": "pending"}
    problems = [r for r in caplog.records if r.name.startswith("orcai")]
    assert len(problems) == 1 and problems[0].levelno == logging.WARNING and problems[0].getMessage().startswith("Slack delivery failed")
    expected = {"server_error": "HTTP 503", "slow": "no answer within 0.5 s",
                "invalid_token": "invalid_auth): check ORCAI_SLACK_BOT_TOKEN"}[outage]
    assert expected in problems[0].getMessage()
    assert token not in caplog.text and slack_sink.token not in caplog.text

    if outage == "slow":
        # The slow answer still arrives after the client gave up: a timed-out message may
        # have been delivered, so delivery is at least once, never silently lost.
        assert len(slack_sink.wait_for(timeout_s=5)) == 1

    # Slack is back: the next due cycle delivers the alert that waited.
    slack_sink.reset()
    if outage == "invalid_token":
        settings = load_settings(graph_uri=graph_uri, slack_bot_token=slack_sink.token,
                                 slack_channel="#airflow-alerts", slack_api_url=slack_sink.url + "/api")
        dispatcher = AlertDispatcher(settings, graph, SlackSender(settings))
    assert dispatcher.run(NOW + 31_000).sent == 1
    delivered = slack_sink.wait_for(lambda m: m.path == "/api/chat.postMessage")
    assert delivered[-1].body["channel"] == "#airflow-alerts" and delivered[-1].body["blocks"]


def test_the_webhook_url_never_reaches_the_log(webhook_settings, graph, slack_sink, caplog):
    caplog.set_level(logging.DEBUG)
    dispatcher = AlertDispatcher(webhook_settings, graph, SlackSender(webhook_settings))
    load_anomalies(graph, [anomaly(0)])
    slack_sink.fail_next(3, status=500)
    dispatcher.run(NOW)
    dispatcher.run(NOW + 120_000)
    assert len(slack_sink.received) == 1
    assert "s3cr3t-hook" not in caplog.text and slack_sink.url not in caplog.text


def test_the_rate_limit_holds_messages_for_the_next_minute(graph_uri, graph, slack_sink):
    settings = load_settings(graph_uri=graph_uri, slack_webhook_url=slack_sink.webhook_url(),
                             slack_max_messages_per_min=1)
    dispatcher = AlertDispatcher(settings, graph, SlackSender(settings))
    load_anomalies(graph, [anomaly(0)])
    enqueue(graph, [AlertRequest("policy_disabled:late:2", "policy_disabled",
                                 {"policy": "late", "version": 2, "error": "no such key"}, NOW)])

    first = dispatcher.run(NOW)
    assert (first.messages, first.pending) == (1, 1)
    assert "A policy was disabled" in slack_sink.received[0].text  # most urgent first
    assert dispatcher.run(NOW + 30_000).messages == 0
    assert dispatcher.run(NOW + 60_000).messages == 1
    assert "1 new anomaly in etl_orders" in slack_sink.received[1].text


def test_without_slack_settings_the_stage_does_nothing_and_says_so_once(graph_uri, graph, caplog):
    caplog.set_level(logging.INFO)
    stage = SlackAlertStage(load_settings(graph_uri=graph_uri, slack_bot_token="xoxb-1"), graph)
    load_anomalies(graph, [anomaly(0)])

    class Outcome:
        now_ms, alerts = NOW, None
    for _ in range(3):
        stage(Outcome)

    assert Outcome.alerts is None and alert_states(graph) == {}
    notes = [r.getMessage() for r in caplog.records if "Slack alerts are off" in r.getMessage()]
    assert len(notes) == 1 and "ORCAI_SLACK_CHANNEL is not" in notes[0]


def test_new_dag_failures_make_one_digest_and_are_reported_once(dispatcher, graph, slack_sink):
    from orcai.graph.load import load_dag_runs, load_task_runs
    from orcai.model import DagRunRecord, TaskRunRecord
    load_dag_runs(graph, [
        DagRunRecord("flaky_ingest", "r1", "failed", end_date=NOW - 60_000),
        DagRunRecord("regional_report", "r7", "failed", end_date=NOW - 30_000),
        DagRunRecord("etl_orders", "r2", "success", end_date=NOW - 30_000),
        DagRunRecord("etl_orders", "r0", "failed", end_date=NOW - 3 * 86_400_000),  # too old to post
        DagRunRecord("ml_training", "s1", "failed", end_date=NOW - 1_000, source="synthetic"),
    ])
    load_task_runs(graph, [TaskRunRecord("flaky_ingest", "r1", "fetch_partner_feed", -1, "failed"),
                           TaskRunRecord("flaky_ingest", "r1", "store", -1, "upstream_failed")])

    assert dispatcher.run(NOW).messages == 1
    load_dag_runs(graph, [DagRunRecord("flaky_ingest", "r3", "failed", end_date=NOW + 50_000)])
    dispatcher.run(NOW + 61_000)

    first, second = slack_sink.received
    assert first.body["blocks"][0]["text"]["text"] == "DAG failures: 2 failed runs in 2 DAGs"
    assert "failed tasks: fetch_partner_feed" in first.text and "regional_report" in first.text
    assert "etl_orders" not in first.text and "ml_training" not in first.text
    assert second.body["blocks"][0]["text"]["text"] == "DAG failures: 1 failed run in 1 DAG"
    assert "run r3 failed" in second.text


def test_each_shard_sends_only_the_alerts_of_its_own_dags(graph_uri, graph, slack_sink):
    from orcai.shard import Shard
    now = int(time.time() * 1000)
    dags = [f"dag_{i:02d}" for i in range(12)]
    anomaly = {"task_id": "load", "kind": "slow", "severity": "high", "score": 5.0, "reason": "slow", "run_id": "r1"}
    enqueue(graph, [AlertRequest(f"anomaly:{d}", "anomaly", {**anomaly, "dag_id": d, "anomaly_key": d}, now, d)
                    for d in dags]
            + [AlertRequest("policy_disabled:p", "policy_disabled", {"policy": "p", "version": 1, "error": "x"}, now)])
    sent_by = {}
    for index in (0, 1):
        settings = load_settings(graph_uri=graph_uri, shard=f"{index}/2",
                                 slack_webhook_url=slack_sink.webhook_url(f"shard{index}"))
        AlertDispatcher(settings, graph, SlackSender.from_settings(settings)).run(now)
        sent_by[index] = " ".join(m.text for m in slack_sink.received if f"shard{index}" in m.path)
    for d in dags:
        owner = 0 if Shard.parse("0/2").owns(d) else 1
        assert d in sent_by[owner] and d not in sent_by[1 - owner]
    assert "Policy p" in sent_by[0] and "Policy p" not in sent_by[1]
