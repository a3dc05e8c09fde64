"""Slack messages as data → Block Kit, and the dispatcher's pure rules (no I/O)."""

from __future__ import annotations

import json

import pytest

from orcai.alerts.dispatch import resolved_alert, retry_delay_s, send_budget
from orcai.alerts.messages import MAX_ITEMS, Links, escape, group_messages, to_block_kit
from orcai.alerts.outbox import AlertRequest
from orcai.alerts.slack import classify_status, retry_after_seconds
from tests.slack_examples import DOCS, EXAMPLES, LINKS, _anomaly, as_file_text, rendered_examples


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_saved_block_kit_examples_match_the_renderer(kind):
    saved = DOCS / f"{kind}.json"
    assert saved.exists(), "run `python -m tests.slack_examples` to write docs/slack/"
    assert saved.read_text() == as_file_text(rendered_examples()[kind]), \
        f"docs/slack/{kind}.json is stale: run `python -m tests.slack_examples`"


def test_every_outbox_kind_has_an_example():
    from orcai.alerts.outbox import KINDS
    assert set(EXAMPLES) == set(KINDS)


def anomalies(n: int) -> list[AlertRequest]:
    return [_anomaly(i, f"dag_{i:02d}", "t", "slow", ("high", "medium", "low")[i % 3], float(i), f"reason {i}")
            for i in range(n)]


def test_many_anomalies_make_one_capped_message_that_delivers_them_all():
    [message] = group_messages(anomalies(37), LINKS)
    rendered = to_block_kit(message)

    assert len(message.keys) == 37 and len(message.items) == MAX_ITEMS and message.more == 27
    assert rendered["blocks"][0]["text"]["text"] == "37 new anomalies across 37 DAGs"
    tail = rendered["blocks"][-1]
    assert tail["type"] == "context" and "and 27 more" in tail["elements"][0]["text"]
    assert "<https://orcai.example.com/anomalies|See every open anomaly in ORC AI>" in tail["elements"][0]["text"]
    assert len(rendered["blocks"]) <= 50


def test_anomalies_are_listed_most_severe_first():
    [message] = group_messages(anomalies(6), LINKS)
    severities = [item.facts[0].split(" · ")[0] for item in message.items]
    assert severities == ["severity high"] * 2 + ["severity medium"] * 2 + ["severity low"] * 2


def test_user_text_is_escaped_and_cannot_forge_links_or_mentions():
    evil = _anomaly(0, "dag<!channel>&co", "t|x>", "slow", "high", 1.0, "took <https://evil.example|click> & more")
    rendered = to_block_kit(group_messages([evil], LINKS)[0])
    header = rendered["blocks"][0]["text"]
    assert header["type"] == "plain_text"  # Slack never parses links or mentions in plain text
    text = json.dumps([rendered["text"]] + rendered["blocks"][1:])  # every mrkdwn field
    assert "<!channel>" not in text and "<https://evil.example" not in text
    assert "&lt;!channel&gt;&amp;co" in text and "took &lt;https://evil.example|click&gt; &amp; more" in text
    # The DAG id inside link URLs is percent-encoded, so it cannot close the <url|label> early.
    assert "dags/dag%3C%21channel%3E%26co/runs/" in text and "tasks/t%7Cx%3E|Open in Airflow>" in text


def test_escape_handles_the_three_control_characters_only():
    assert escape("a & b < c > d *bold*") == "a &amp; b &lt; c &gt; d *bold*"


def test_airflow_links_follow_airflow_3_ui_paths():
    links = Links("http://app", "http://af")
    assert links.airflow("d", "manual__2025-01-01T00:00:00+00:00", "t") == \
        "http://af/dags/d/runs/manual__2025-01-01T00%3A00%3A00%2B00%3A00/tasks/t"
    assert links.airflow("d") == "http://af/dags/d" and links.airflow(None) is None
    assert links.orcai_page("anomalies", dag_id="a b") == "http://app/anomalies?dag_id=a+b"


def test_kinds_are_grouped_one_message_each_most_urgent_first():
    alerts = (anomalies(2) + EXAMPLES["anomaly_resolved"] + EXAMPLES["policy_action"] * 2
              + EXAMPLES["digest"] * 2 + EXAMPLES["policy_disabled"])
    kinds = [m.kind for m in group_messages(alerts, LINKS)]
    assert kinds == ["policy_disabled", "policy_action", "anomaly", "digest", "anomaly_resolved"]


def test_dry_run_policy_action_says_nothing_changed():
    payload = dict(EXAMPLES["policy_action"][0].payload, mode="dry_run", outcome="would_do")
    alert = AlertRequest("k", "policy_action", payload, 0, "flaky_ingest")
    text = json.dumps(to_block_kit(group_messages([alert], LINKS)[0]))
    assert "Would pause flaky_ingest" in text and "dry run: nothing was changed" in text
    assert "A policy would act (dry run)" in text and "A policy acted" not in text


def test_resolved_alert_says_who_closed_it_and_why():
    alert = resolved_alert({"key": "slow:d/r/t/-1", "dag_id": "d", "task_id": "t", "kind": "slow",
                            "status": "false_positive", "status_by": "ana", "status_note": "backfill"}, 5)
    assert alert.key == "anomaly_resolved:slow:d/r/t/-1"
    assert alert.payload["resolved_reason"] == "marked a false positive by ana: backfill"


def test_rate_limit_counts_only_the_last_minute():
    now = 1_000_000
    assert send_budget([], now, 10) == 10
    assert send_budget([now - 59_000] * 4 + [now - 61_000] * 6, now, 10) == 6
    assert send_budget([now] * 12, now, 10) == 0


def test_backoff_uses_retry_after_else_doubles_up_to_a_cap():
    assert retry_delay_s(1, 45) == 45 and retry_delay_s(3, 0) == 1.0
    assert [retry_delay_s(n, None) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay_s(20, None) == 900


@pytest.mark.parametrize("status, error, headers, reason, retry_after", [
    (429, "", {"Retry-After": "30"}, "rate_limited", 30.0),
    (200, "ratelimited", {"retry-after": ["7"]}, "rate_limited", 7.0),
    (503, "", {}, "server_error", None),
    (200, "invalid_auth", {}, "auth", None),
    (403, "invalid_token", {}, "auth", None),
    (400, "invalid_blocks", {}, "rejected", None),
])
def test_failures_are_classified(status, error, headers, reason, retry_after):
    exc = classify_status(status, error, headers, "ORCAI_SLACK_BOT_TOKEN")
    assert exc.reason == reason and exc.retry_after_s == retry_after


def test_retry_after_ignores_garbage():
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds({}) is None


def test_a_sender_exists_only_when_slack_is_fully_configured():
    from orcai.alerts.slack import SlackSender
    from orcai.config import load_settings
    assert SlackSender.from_settings(load_settings()) is None
    assert SlackSender.from_settings(load_settings(slack_bot_token="xoxb-1")) is None  # no channel
    assert SlackSender.from_settings(load_settings(slack_bot_token="xoxb-1", slack_channel="#ops")).channel == "#ops"
    webhook = SlackSender.from_settings(load_settings(slack_webhook_url="https://hooks.slack.com/services/T/B/x"))
    assert webhook.channel == "webhook" and "hooks.slack.com" not in repr(vars(webhook))


def test_an_anomaly_on_a_mapped_instance_links_to_that_instance_in_airflow():
    from orcai.alerts.dispatch import anomaly_alert
    from orcai.alerts.messages import anomaly_message
    row = {"key": "slow:x", "dag_id": "example_dynamic_task_mapping", "task_id": "add_one", "kind": "slow",
           "severity": "high", "score": 6.0, "reason": "4× its usual", "run_id": "manual__1"}
    task_page = "https://airflow.example.com/dags/example_dynamic_task_mapping/runs/manual__1/tasks/add_one"
    for map_index, expected in ((2, task_page + "/mapped/2"), (-1, task_page), (None, task_page)):
        message = anomaly_message([anomaly_alert({**row, "map_index": map_index}, 0)],
                                  Links(app_url="https://orcai.example.com", airflow_url="https://airflow.example.com"))
        assert f"<{expected}|Open in Airflow>" in str(to_block_kit(message)), map_index
