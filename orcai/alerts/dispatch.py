"""The worker's Slack stage: turn the cycle's anomalies into alerts, then send what is pending.

1. Open anomalies not yet in the outbox become `anomaly` alerts (key `anomaly:<anomaly
   key>`, so a repeat of the same open anomaly is never resent); announced anomalies that
   an operator closed (acknowledged, false positive) become `anomaly_resolved` alerts;
   newly failed DAG runs become `digest` alerts (key `dag_failed:<dag>/<run>`), which
   one message per cycle lists together. Producers elsewhere (the policy engine)
   enqueue their own alerts.
2. Pending alerts are grouped into as few messages as sensible (`messages.group_messages`)
   and sent within a per-channel rate limit. When Slack fails, every alert still due stays
   pending with one retry time — Slack's Retry-After, or an exponential backoff — and the
   cycle stops sending: one log line, a bounded wait, and the next cycle tries again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from orcai.alerts.messages import Links, group_messages, to_block_kit
from orcai.alerts.outbox import AlertRequest
from orcai.alerts.slack import SlackSender
from orcai.config import Settings
from orcai.errors import SlackError
from orcai.graph import Graph
from orcai.graph import alert_store
from orcai.incidents.estate import CycleEstate
from orcai.lineage.blast_radius import reach_of
from orcai.model import DAY_MS, task_key

log = logging.getLogger(__name__)

ALERT_MAX_AGE_MS = DAY_MS  # older anomalies (a backfill, `make simulate`) are shown, not paged
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 900.0
CLOSED_STATUSES = ("acknowledged", "false_positive")


# --- pure rules ----------------------------------------------------------------------------

def send_budget(sent_at_ms: Iterable[int], now_ms: int, max_per_min: int) -> int:
    """How many messages may go now without exceeding `max_per_min` in any 60 s window."""
    recent = sum(1 for at in sent_at_ms if now_ms - at < 60_000)
    return max(0, max_per_min - recent)


def retry_delay_s(consecutive_failures: int, retry_after_s: float | None) -> float:
    """Slack's Retry-After when it gave one; otherwise 30 s doubling per failure, at most 15 min."""
    if retry_after_s is not None:
        return max(1.0, retry_after_s)
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, consecutive_failures - 1))


def anomaly_alert(row: dict, now_ms: int, hits: str | None = None) -> AlertRequest:
    payload = {k: row.get(k) for k in ("dag_id", "task_id", "kind", "severity", "score", "reason", "run_id", "map_index")}
    payload["anomaly_key"] = row["key"]
    if hits:
        payload["hits"] = hits
    return AlertRequest(f"anomaly:{row['key']}", "anomaly", payload, now_ms, row.get("dag_id"))


def anomaly_node(row: dict) -> str:
    """The lineage node an anomaly sits on: its task, or its DAG's run as a whole."""
    return task_key(row["dag_id"], row["task_id"]) if row.get("task_id") else f"dag:{row['dag_id']}"


def resolved_alert(row: dict, now_ms: int) -> AlertRequest:
    how = "marked a false positive" if row.get("status") == "false_positive" else "acknowledged"
    reason = f"{how}{' by ' + row['status_by'] if row.get('status_by') else ''}"
    if row.get("status_note"):
        reason += f": {row['status_note']}"
    payload = {"anomaly_key": row["key"], "dag_id": row.get("dag_id"), "task_id": row.get("task_id"),
               "kind": row.get("kind"), "resolved_reason": reason}
    return AlertRequest(f"anomaly_resolved:{row['key']}", "anomaly_resolved", payload, now_ms, row.get("dag_id"))


def failure_alert(row: dict, now_ms: int) -> AlertRequest:
    failure = {"dag_id": row["dag_id"], "run_id": row["run_id"], "end_date": row.get("end_date"),
               "failed_tasks": sorted(t for t in row.get("failed_tasks") or [] if t)}
    return AlertRequest(f"dag_failed:{row['key']}", "digest", {"dag_ids": [row["dag_id"]], "failures": [failure]},
                        now_ms, row["dag_id"])


# --- graph reads ---------------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high")


def alerted_severities(min_severity: str) -> list[str]:
    """The severities that page someone: `min_severity` and above."""
    return list(SEVERITIES[SEVERITIES.index(min_severity):])


def enqueue_cycle_alerts(graph: Graph, now_ms: int, min_severity: str = "low",
                         estate: CycleEstate | None = None) -> int:
    """New open anomalies at `min_severity` or above, newly closed announced ones and new
    DAG failures → outbox. Returns how many alerts were added. `estate`: the cycle's
    lineage, when an earlier stage read it already."""
    since = now_ms - ALERT_MAX_AGE_MS
    new = alert_store.unannounced_anomalies(graph, since, alerted_severities(min_severity))
    reach = reach_of(graph, [anomaly_node(row) for row in new], estate)
    opened = [anomaly_alert(row, now_ms, reach[anomaly_node(row)].sentence) for row in new]
    closed = [resolved_alert(row, now_ms) for row in alert_store.closed_announced_anomalies(
        graph, since, list(CLOSED_STATUSES))]
    failed = [failure_alert(row, now_ms) for row in alert_store.unannounced_failed_runs(graph, since)]
    return alert_store.enqueue(graph, opened + closed + failed)


# --- the stage -----------------------------------------------------------------------------

@dataclass
class DispatchReport:
    """One cycle's Slack work. `failed` counts failed sends (the metrics helper exports it)."""
    enqueued: int = 0
    sent: int = 0  # alerts delivered
    messages: int = 0  # Slack messages posted to the channel
    updates: int = 0  # incident messages edited in place, or updates folded into them
    failed: int = 0  # failed sends (0 or 1: a cycle stops at the first failure)
    pending: int = 0  # alerts still due and waiting after this cycle
    failure_reasons: dict[str, int] = field(default_factory=dict)


class AlertDispatcher:
    def __init__(self, settings: Settings, graph: Graph, sender: SlackSender, clock=time.time):
        self.settings, self.graph, self.sender, self.clock = settings, graph, sender, clock
        self.links = Links(settings.app_url, settings.airflow_links_url)
        self.sent_at_ms: deque[int] = deque(maxlen=max(1, settings.slack_max_messages_per_min))
        self.consecutive_failures = 0
        # One cycle may spend at most about this long on Slack (each send is bounded too).
        self.cycle_budget_s = max(30.0, 3 * settings.slack_timeout_s)

    def run(self, now_ms: int, estate: CycleEstate | None = None) -> DispatchReport:
        report = DispatchReport(enqueued=enqueue_cycle_alerts(self.graph, now_ms, self.settings.alert_min_severity,
                                                              estate))
        # With ORCAI_SHARD, each shard sends the alerts of its own DAGs (alerts about no DAG:
        # shard 0), so shards running at once never post the same alert twice.
        shard = self.settings.dag_shard
        due = [alert for alert in alert_store.pending(self.graph, now_ms)
               if (shard.owns(alert.dag_id) if alert.dag_id is not None else shard.index == 0)]
        messages = group_messages(due, self.links)
        budget = send_budget(self.sent_at_ms, now_ms, self.settings.slack_max_messages_per_min)
        started = self.clock()
        unsent = list(messages)
        while unsent and budget > 0 and self.clock() - started < self.cycle_budget_s:
            message = unsent[0]
            try:
                posted = self._deliver(message, now_ms)
            except SlackError as exc:
                self._failed(exc, [key for m in unsent for key in m.keys], now_ms, report)
                break
            self.consecutive_failures = 0
            report.sent += len(message.keys)
            report.messages += posted
            report.updates += not posted and message.kind in ("incident_update", "incident_resolved")
            if posted:
                self.sent_at_ms.append(now_ms)
                budget -= 1
            unsent.pop(0)
        report.pending = len(due) - report.sent
        if report.messages:
            log.info("Slack: %d alerts sent in %d messages, %d pending", report.sent, report.messages, report.pending)
        return report

    def _deliver(self, message, now_ms: int) -> bool:
        """Send one message; True when it posted a new message to the channel. An incident's
        update edits its first message in place (bot token) or is folded into it (webhook:
        the channel gets one message per incident, and one when it resolves); its resolution
        edits the first message and is posted too, in its thread where Slack allows it."""
        rendered = to_block_kit(message)
        first_ts = (alert_store.slack_ts(self.graph, f"incident:{message.incident_key}")
                    if message.incident_key and message.kind != "incident" else None)
        if message.kind == "incident_update":
            if first_ts and self.sender.can_update:
                self.sender.update(first_ts, rendered)
            alert_store.mark_sent(self.graph, message.keys, now_ms, self.sender.channel)
            return False
        if message.kind == "incident_resolved" and first_ts and self.sender.can_update:
            self.sender.update(first_ts, rendered)
            self.sender.post(rendered, thread_ts=first_ts)
            alert_store.mark_sent(self.graph, message.keys, now_ms, self.sender.channel)
            return False  # a thread reply: nothing new in the channel
        ts = self.sender.post(rendered)
        alert_store.mark_sent(self.graph, message.keys, now_ms, self.sender.channel, ts)
        return True

    def _failed(self, exc: SlackError, keys: list[str], now_ms: int, report: DispatchReport) -> None:
        """Everything still due waits for the same retry time: Slack is the problem, not an alert."""
        self.consecutive_failures += 1
        delay = retry_delay_s(self.consecutive_failures, exc.retry_after_s)
        alert_store.mark_failed(self.graph, keys, str(exc), now_ms + int(delay * 1000))
        report.failed += 1
        report.failure_reasons[exc.reason] = report.failure_reasons.get(exc.reason, 0) + 1
        log.warning("Slack delivery failed: %s; %d alerts stay pending, next try in %.0f s", exc, len(keys), delay)


class SlackAlertStage:
    """The worker stage: does nothing (and says so once, at start) when Slack is not configured."""

    def __init__(self, settings: Settings, graph: Graph, clock=time.time):
        sender = SlackSender.from_settings(settings)
        self.dispatcher = AlertDispatcher(settings, graph, sender, clock) if sender else None
        if sender is None:
            hint = (" (ORCAI_SLACK_BOT_TOKEN is set but ORCAI_SLACK_CHANNEL is not)"
                    if settings.slack_bot_token is not None else "")
            log.info("Slack alerts are off: set ORCAI_SLACK_WEBHOOK_URL, or ORCAI_SLACK_BOT_TOKEN and "
                     "ORCAI_SLACK_CHANNEL%s", hint)
        else:
            log.info("Slack alerts on: %s, at most %d messages a minute", sender.channel,
                     settings.slack_max_messages_per_min)

    def __call__(self, outcome) -> None:
        if self.dispatcher is not None:
            outcome.alerts = self.dispatcher.run(outcome.now_ms, outcome.estate)
