"""The worker's Prometheus metrics: what one process did, and what the graph says.

Two kinds of numbers, in one `CollectorRegistry` per `WorkerMetrics` (never the global
registry, so tests and several workers in one process do not collide):

- Process counters and gauges, updated as the worker goes: syncs and their errors by
  reason, sync duration, the last successful sync's time and the lag since, Airflow API
  requests, runs judged, Slack sends and failures, policy actions.
- A snapshot of the graph, refreshed after each successful sync and served as is until
  the next one: per DAG its last run state, failures in a row, 24-hour success ratio,
  paused flag and last duration; open and recorded anomalies by kind and severity.

Label cardinality is bounded on purpose. `dag_id` takes only the live DAGs known to the
graph (a DAG deleted in Airflow is marked deleted by the sync and its series vanish at
the next refresh; Prometheus marks them stale at once); `state` is one of
`DAG_RUN_STATES`; `kind` and `severity` come from the detectors' fixed vocabulary;
`reason`, `action`, `mode` and `outcome` are fixed lists below, with anything unknown
counted as `other`. Nothing is labelled by run id, task id or free text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics, start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from orcai import __version__
from orcai.errors import (
    AirflowAuthError, AirflowError, AirflowResponseError, AirflowUnreachable, GraphError,
)
from orcai.graph import Graph
from orcai.dag_health import dag_table
from orcai.graph import alert_store, anomaly_store, dag_store
from orcai.model import DAY_MS

log = logging.getLogger(__name__)

DAG_RUN_STATES = ("queued", "running", "success", "failed", "none")
SYNC_ERROR_REASONS = ("airflow_unreachable", "airflow_auth", "airflow_response", "airflow", "graph",
                      "unexpected")
# The policy engine's vocabulary (see the policy_action payload in orcai/alerts/outbox.py).
POLICY_ACTIONS = ("pause", "unpause", "alert", "mark_critical", "pause_tag", "unpause_tag", "set_pool_slots",
                  "restore_pool_slots", "clear_stuck", "fail_zombie_run")
POLICY_MODES = ("dry_run", "enforce")
POLICY_OUTCOMES = ("done", "would_do", "failed")
# Syncs take from well under a second (a quiet deployment) to minutes (a first sync of thousands of DAGs).
SYNC_BUCKETS_S = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
SYNC_REQUEST_BUCKETS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class DagHealth:
    dag_id: str
    paused: bool
    last_state: str  # one of DAG_RUN_STATES
    consecutive_failures: int
    success_ratio_24h: float | None  # None: no finished run in the last 24 h
    last_duration_s: float | None


@dataclass(frozen=True)
class GraphSnapshot:
    dags: tuple[DagHealth, ...] = ()
    anomalies: tuple[dict, ...] = ()  # rows: kind, severity, status, anomalies
    alerts_24h: int | None = None  # alerts delivered in the last 24 h (None: not read yet)


def dag_health(overview_rows: list[dict], states_by_dag_24h: list[dict]) -> tuple[DagHealth, ...]:
    """Per-DAG health from `dag_store.dag_summaries` (or `dag_overview`) and
    `dag_store.run_states_by_dag_since` rows."""
    finished: dict[str, dict[str, int]] = {}
    for row in states_by_dag_24h:
        if row["state"] in ("success", "failed"):
            finished.setdefault(row["dag_id"], {})[row["state"]] = row["runs"]
    health = []
    for dag in dag_table(overview_rows).itertuples(index=False):
        counts = finished.get(dag.dag_id, {})
        total = counts.get("success", 0) + counts.get("failed", 0)
        health.append(DagHealth(
            dag_id=dag.dag_id, paused=bool(dag.paused),
            last_state=dag.last_state if dag.last_state in DAG_RUN_STATES else "none",
            consecutive_failures=int(dag.consecutive_failures),
            success_ratio_24h=counts.get("success", 0) / total if total else None,
            last_duration_s=None if _missing(dag.last_duration_s) else float(dag.last_duration_s)))
    return tuple(health)


def read_snapshot(graph: Graph, now_ms: int) -> GraphSnapshot:
    """What the graph says now, in four reads (the Status page's overview among them)."""
    dags = dag_health(dag_store.dag_summaries(graph),
                      dag_store.run_states_by_dag_since(graph, now_ms - DAY_MS))
    return GraphSnapshot(dags=dags, anomalies=tuple(anomaly_store.anomaly_totals(graph)),
                         alerts_24h=alert_store.alerts_sent_since(graph, now_ms - DAY_MS))


class GraphSnapshotCollector:
    """Serves the latest GraphSnapshot; replacing it is one assignment, so a scrape sees
    either the old snapshot or the new one, never half of each."""

    def __init__(self):
        self.snapshot = GraphSnapshot()

    def collect(self) -> Iterable:
        snapshot = self.snapshot
        state = GaugeMetricFamily("orcai_dag_last_run_state",
                                  "1 for the state of the DAG's newest run, 0 for the others (none: never ran).",
                                  labels=["dag_id", "state"])
        streak = GaugeMetricFamily("orcai_dag_consecutive_failures",
                                   "Failed runs in a row, from the newest finished run back.", labels=["dag_id"])
        ratio = GaugeMetricFamily("orcai_dag_run_success_ratio",
                                  "Successful / finished runs in the last 24 h (absent without finished runs).",
                                  labels=["dag_id"])
        paused = GaugeMetricFamily("orcai_dag_paused", "1 when the DAG is paused in Airflow.", labels=["dag_id"])
        duration = GaugeMetricFamily("orcai_dag_last_run_duration_seconds",
                                     "Duration of the DAG's newest run (absent while it runs).", labels=["dag_id"])
        for dag in snapshot.dags:
            for name in DAG_RUN_STATES:
                state.add_metric([dag.dag_id, name], 1.0 if dag.last_state == name else 0.0)
            streak.add_metric([dag.dag_id], dag.consecutive_failures)
            paused.add_metric([dag.dag_id], 1.0 if dag.paused else 0.0)
            if dag.success_ratio_24h is not None:
                ratio.add_metric([dag.dag_id], dag.success_ratio_24h)
            if dag.last_duration_s is not None:
                duration.add_metric([dag.dag_id], dag.last_duration_s)
        open_now = GaugeMetricFamily("orcai_open_anomalies", "Anomalies still open (not acknowledged, "
                                     "not a false positive).", labels=["kind", "severity"])
        recorded = CounterMetricFamily("orcai_anomalies", "Anomalies recorded in the graph, whatever "
                                       "their status (counts only up: anomalies are never deleted).",
                                       labels=["kind", "severity"])
        for (kind, severity), (opened, total) in _anomaly_totals(snapshot.anomalies).items():
            open_now.add_metric([kind, severity], opened)
            recorded.add_metric([kind, severity], total)
        alerts = GaugeMetricFamily("orcai_alerts_sent_24h", "Alerts delivered to Slack in the last 24 h "
                                   "(the alert budget; see ORCAI_ALERT_MIN_SEVERITY).")
        if snapshot.alerts_24h is not None:
            alerts.add_metric([], snapshot.alerts_24h)
        return [state, streak, ratio, paused, duration, open_now, recorded, alerts]


def _anomaly_totals(rows: Iterable[dict]) -> dict[tuple[str, str], tuple[int, int]]:
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        key = (row["kind"] or "unknown", row["severity"] or "unknown")
        opened, total = totals.get(key, (0, 0))
        totals[key] = (opened + (row["anomalies"] if row["status"] == "open" else 0), total + row["anomalies"])
    return totals


@dataclass
class WorkerMetrics:
    """Every metric the worker exports, in its own registry."""
    worker_name: str
    sync_interval_s: int
    clock: Callable[[], float] = time.time
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        r = self.registry
        Info("orcai_worker", "This worker's name and ORC AI version.", registry=r).info(
            {"worker": self.worker_name, "version": __version__})
        Gauge("orcai_sync_interval_seconds", "Configured seconds between syncs (ORCAI_SYNC_INTERVAL_S).",
              registry=r).set(self.sync_interval_s)
        self.started_at = self.clock()
        self.last_success_s: float | None = None
        self.syncs = Counter("orcai_syncs", "Sync attempts, successful or not.", registry=r)
        self.sync_errors = Counter("orcai_sync_errors", "Syncs that failed as a whole, by reason.",
                                   ["reason"], registry=r)
        self.dag_errors = Counter("orcai_sync_dag_errors", "DAGs that could not be synced inside an "
                                  "otherwise successful sync.", registry=r)
        self.sync_duration = Histogram("orcai_sync_duration_seconds", "Duration of successful syncs.",
                                       buckets=SYNC_BUCKETS_S, registry=r)
        self.last_success = Gauge("orcai_last_successful_sync_timestamp_seconds",
                                  "Unix time of the last successful sync (0: none yet).", registry=r)
        Gauge("orcai_sync_lag_seconds", "Seconds since the last successful sync (since the worker "
              "started, before the first).", registry=r).set_function(self._lag_s)
        self.synced_dags = Gauge("orcai_synced_dags", "DAGs Airflow listed in the last successful sync.",
                                 registry=r)
        self.api_requests = Counter("orcai_airflow_api_requests", "Requests made to Airflow's REST API "
                                    "by successful syncs.", registry=r)
        self.sync_requests = Histogram("orcai_sync_api_requests", "Requests one successful sync made to "
                                       "Airflow's REST API (a quiet sync: pages of the DAG list + 3).",
                                       buckets=SYNC_REQUEST_BUCKETS, registry=r)
        self.catch_up_share = Gauge("orcai_sync_catch_up_ratio", "Share of the run history a catch-up "
                                    "has read (1 when the worker is caught up).", registry=r)
        self.catch_up_share.set(1)
        self.runs_judged = Counter("orcai_detection_runs_judged", "Task runs scored by anomaly detection.",
                                   registry=r)
        self.slack_sent = Counter("orcai_slack_messages_sent", "Alerts delivered to Slack.", registry=r)
        self.slack_failures = Counter("orcai_slack_send_failures", "Slack sends that failed (retried "
                                      "later from the outbox).", registry=r)
        self.alerts_pending = Gauge("orcai_alerts_pending", "Alerts waiting in the outbox after the "
                                    "last dispatch.", registry=r)
        self.policy_actions = Counter("orcai_policy_actions", "Actions the policies took or would take "
                                      "(dry run).", ["action", "mode", "outcome"], registry=r)
        self.graph = GraphSnapshotCollector()
        r.register(self.graph)
        for reason in SYNC_ERROR_REASONS:  # every series exists from the start, at 0
            self.sync_errors.labels(reason)

    def _lag_s(self) -> float:
        return max(0.0, self.clock() - (self.last_success_s or self.started_at))

    def sync_failed(self, error: BaseException) -> None:
        self.syncs.inc()
        self.sync_errors.labels(sync_error_reason(error)).inc()

    def observe_cycle(self, outcome, graph: Graph) -> None:
        """After a successful sync and the stages before this one: count, then refresh from the graph."""
        report = outcome.sync
        self.syncs.inc()
        self.sync_duration.observe(report.duration_s)
        self.last_success_s = outcome.now_ms / 1000
        self.last_success.set(self.last_success_s)
        self.synced_dags.set(report.dags)
        self.api_requests.inc(report.requests)
        self.sync_requests.observe(report.requests)
        catch_up = getattr(report, "catch_up", None)
        self.catch_up_share.set(1 if catch_up is None else catch_up.share)
        self.dag_errors.inc(len(report.dag_errors))
        if outcome.detection is not None:
            self.runs_judged.inc(outcome.detection.judged)
        # Slack dispatch and policies come from stages added later; absent, they count nothing.
        self._observe_alerts(getattr(outcome, "alerts", None))
        self._observe_policies(getattr(outcome, "policies", None))
        self.graph.snapshot = read_snapshot(graph, outcome.now_ms)

    def _observe_alerts(self, alerts) -> None:
        if alerts is None:
            return
        self.slack_sent.inc(_count(getattr(alerts, "messages", 0)))
        self.slack_failures.inc(_count(getattr(alerts, "failed", 0)))
        self.alerts_pending.set(_count(getattr(alerts, "pending", 0)))

    def _observe_policies(self, policies) -> None:
        if policies is None:
            return
        for action in getattr(policies, "actions", policies) or ():
            self.policy_actions.labels(*policy_action_labels(action)).inc()


def policy_action_labels(action) -> tuple[str, str, str]:
    """(action, mode, outcome) of one policy action (an object or a dict), each from a fixed list."""
    return (_bounded(_field(action, "action") or _field(action, "kind"), POLICY_ACTIONS),
            _bounded(_field(action, "mode"), POLICY_MODES),
            _bounded(_field(action, "outcome") or _field(action, "status"), POLICY_OUTCOMES))


def sync_error_reason(error: BaseException) -> str:
    for kind, reason in ((AirflowUnreachable, "airflow_unreachable"), (AirflowAuthError, "airflow_auth"),
                         (AirflowResponseError, "airflow_response"), (GraphError, "graph")):
        if isinstance(error, kind):
            return reason
    return "airflow" if isinstance(error, AirflowError) else "unexpected"


def serve(registry: CollectorRegistry, host: str, port: int):
    """Serve /metrics on host:port in a background thread; None when off (port 0) or the
    port is taken — one log line, and the worker goes on without its endpoint."""
    if port == 0:
        log.info("metrics endpoint off (ORCAI_METRICS_PORT=0)")
        return None
    disable_created_metrics()  # `*_created` series would double every counter's series for nothing
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics endpoint not started: cannot listen on %s:%d (%s); set ORCAI_METRICS_PORT "
                  "to a free port, or 0 to turn it off", host, port, exc.strerror or exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server


def _field(item, name: str):
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _bounded(value, allowed: tuple[str, ...]) -> str:
    value = getattr(value, "value", value)  # enums
    return value if value in allowed else "other"


def _count(value) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return 0


def _missing(value) -> bool:
    return value is None or value != value  # NaN
