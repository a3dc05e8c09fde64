"""The incident stage of the worker, after detection and forecasts, before policies.

Each cycle: gather the active symptoms (open anomalies, failed task and DAG runs, task runs
that waited long in their pool, retry storms, task runs many times their usual while the
others kept their pace, all since `LOOKBACK_MS` and not recovered since), group
them into incidents (orcai.incidents.grouping), carry the open incidents on (lifecycle),
write them with their ROOT_CAUSE and INCLUDES edges, store the time breakdown on the
task runs involved, and queue one Slack notice per incident: when it opens, when it grows
(updated in place where Slack allows it) and when it resolves. An incident that resolved and
came back within the re-open window (a flap, orcai.incidents.lifecycle) is re-opened under
its key; its resolved notice waits until it has stayed resolved that long, so a flap sends
nothing: no resolved notice, no second opening.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from orcai.alerts.outbox import AlertRequest
from orcai.config import Settings
from orcai.graph import Graph
from orcai.graph import alert_store
from orcai.graph import incident_store as store
from orcai.incidents import symptoms as sym
from orcai.incidents.breakdown import RunTiming, breakdown
from orcai.incidents.estate import CycleEstate
from orcai.incidents.grouping import (
    AIRFLOW_IDLE_MS, FAILURE_KINDS, POOL_FULL_WAIT_S, POOL_WAIT_S, AirflowPulse, Draft, group_symptoms,
)
from orcai.incidents.lifecycle import REOPEN_WINDOW_MS, Change, incident_key, numbered_key, reconcile, settled
from orcai.model import MINUTE_MS

log = logging.getLogger(__name__)

LOOKBACK_MS = 24 * 60 * MINUTE_MS
SEVERITIES = ("low", "medium", "high")
MAX_BREAKDOWNS = 200  # task runs whose time is split per cycle
RETRY_STORM_TRIES = 3  # a task run on its third try (two retries) is in a retry storm
# Long runs judged per cycle, furthest out first: on a swamped machine every task may be 5x
# slower, and each is compared with the others' pace over its own span
MAX_SLOW_CANDIDATES = 200


@dataclass
class IncidentReport:
    open: int = 0
    opened: int = 0
    grew: int = 0
    resolved: int = 0
    reopened: int = 0  # resolved incidents that came back this cycle (flaps)


def pages_someone(draft: Draft, min_severity: str) -> bool:
    """An incident is worth a Slack message when something failed, waited or went missing, or
    a symptom is severe enough: an anomaly, or a run the incident stage found slow, pages by
    its severity."""
    floor = SEVERITIES.index(min_severity) if min_severity in SEVERITIES else 0
    return any(s.kind in FAILURE_KINDS or (s.label != "Anomaly" and s.kind != "slow")
               or SEVERITIES.index(s.severity if s.severity in SEVERITIES else "low") >= floor
               for s in draft.symptoms)


def incident_payload(change: Change, status: str = "open") -> dict:
    """What a Slack message about the incident says (orcai.alerts.messages.incident_message):
    the whole incident, with the symptoms of earlier cycles (and before a flap) too."""
    draft = change.draft
    root = draft.symptoms[0]
    return {"incident_key": change.key, "status": status, "summary": change.summary, "root_kind": draft.root_kind,
            "root_key": draft.root_key, "root_dag": draft.root_dag, "opened_at": change.opened_at,
            "size": change.size, "dags_hit": change.dags_hit, "blast_dags": draft.blast_dags[:10],
            "blast_assets": draft.blast_assets[:10], "evidence": change.evidence[:4],
            "first_run_id": root.run_id, "first_dag_id": root.dag_id}


def incident_row(change: Change, now_ms: int) -> dict:
    d = change.draft
    return {"key": change.key, "opened_at": change.opened_at, "root_kind": d.root_kind, "root_key": d.root_key,
            "evidence": change.evidence, "candidates": [list(c) for c in d.candidates],
            "symptoms": [{"label": s.label, "key": s.key} for s in d.symptoms],
            "props": {"summary": change.summary, "root_kind": d.root_kind, "root_key": d.root_key,
                      "root_dag": d.root_dag, "size": change.size, "dags_hit": change.dags_hit,
                      "blast_dags": d.blast_dags, "blast_assets": d.blast_assets, "updated_at": now_ms,
                      **({"reopened": change.reopened, "reopened_at": now_ms} if change.reopened_now else {})}}


class IncidentStage:
    def __init__(self, settings: Settings):
        self.settings = settings

    def gather(self, graph: Graph, now_ms: int):
        since = now_ms - LOOKBACK_MS
        found = [sym.from_anomaly(r) for r in store.open_anomaly_symptoms(graph, since)]
        failed_tasks, failed_dags = store.failed_runs(graph, since)
        found += [sym.from_failed_task_run(r) for r in failed_tasks]
        found += [sym.from_failed_dag_run(r) for r in failed_dags]
        found += [sym.from_queued_task_run(r) for r in store.long_waiting_runs(graph, since, POOL_WAIT_S, POOL_FULL_WAIT_S)]
        found += [sym.from_retrying_task_run(r) for r in store.retrying_runs(graph, since, RETRY_STORM_TRIES)]
        found += self._slow_runs(graph, since, now_ms, {(s.task_key, s.run_id) for s in found if s.label == "Anomaly"})
        if not found:
            return []
        task_ok, dag_ok = store.latest_successes(graph, sorted({s.task_key for s in found if s.task_key}),
                                                 sorted({s.dag_id for s in found}))
        return sym.active(found, task_ok, dag_ok)

    @staticmethod
    def _slow_runs(graph: Graph, since: int, now_ms: int, flagged: set) -> list:
        """Task runs many times their usual while other tasks kept their pace (symptoms.slow_runs)."""
        long = store.long_runs(graph, since, now_ms, sym.SLOW_RATIO, sym.SLOW_MIN_EXCESS_S, MAX_SLOW_CANDIDATES)
        if not long:
            return []
        recent = store.recent_run_times(graph, long, sym.SLOW_HISTORY)
        return sym.slow_runs(long, store.pace_around(graph, long), recent, flagged)

    def run(self, graph: Graph, now_ms: int, estate: CycleEstate | None = None) -> IncidentReport:
        # Lineage crosses shards, so incidents are grouped from every shard's symptoms, once:
        # by the first shard (like pools and tags in the policy stage). Their Slack notices
        # go out from the shard owning the root's DAG (orcai.alerts.dispatch).
        if self.settings.dag_shard.index != 0:
            return IncidentReport()
        open_now = store.open_incidents(graph)
        pulse = AirflowPulse(now_ms, store.last_task_start(graph, now_ms),
                             outage_open=any(i["root_kind"] == "airflow" for i in open_now))
        symptoms = self.gather(graph, now_ms)
        if pulse.idle_ms >= AIRFLOW_IDLE_MS:  # nothing runs: scheduled DAGs miss runs no detector can flag yet
            symptoms += sym.overdue_dags(store.scheduled_dags(graph), now_ms)
        drafts = []
        if symptoms:
            drafts = group_symptoms(symptoms, (estate or CycleEstate(graph)).topology(), pulse)
        recent = store.resolved_incidents_since(graph, now_ms - REOPEN_WINDOW_MS) if drafts else []
        changes, resolved_keys = reconcile(open_now, drafts, resolved_recently=recent, now_ms=now_ms)
        changes = self._fresh_keys(graph, changes)
        if changes:
            store.write_incidents(graph, [incident_row(c, now_ms) for c in changes])
            self._store_breakdowns(graph, drafts, now_ms)
        resolved = store.resolve_incidents(graph, resolved_keys, now_ms)
        # Resolved notices of incidents that stayed resolved the whole window (this cycle's
        # re-opened ones are open again): a day back, so a worker that was down catches up
        quiet = [i for i in store.unannounced_resolutions(graph, now_ms - LOOKBACK_MS) if settled(i, now_ms)]
        alert_store.enqueue(graph, self._alerts(graph, changes, quiet, now_ms))
        report = IncidentReport(open=len(changes), opened=sum(c.new for c in changes),
                                grew=sum(c.grew for c in changes), resolved=len(resolved),
                                reopened=sum(c.reopened_now for c in changes))
        return report

    @staticmethod
    def _fresh_keys(graph: Graph, changes: list[Change]) -> list[Change]:
        """A new incident whose key a resolved one already has (nothing open has it: that one
        would have matched by its root) is numbered past it (`numbered_key`): written under
        the old key it would re-open the old incident silently. Numbering is deterministic,
        and a re-run cycle finds the new incident open, so nothing opens twice."""
        new = [c for c in changes if c.new]
        n, clash = 1, new
        while clash:  # almost always no round at all: natural keys rarely repeat
            taken = store.taken_incident_keys(graph, [numbered_key(incident_key(c.draft), n) for c in clash])
            for c in clash:
                c.key = numbered_key(incident_key(c.draft), n)
            n, clash = n + 1, [c for c in clash if c.key in taken]
        return changes

    def _alerts(self, graph: Graph, changes: list[Change], quiet: list[dict], now_ms: int) -> list[AlertRequest]:
        """An opening for a new incident worth a message, an update for an announced one that
        grew (a flap's return among them: its message is edited back, nothing new is posted),
        and a resolved notice for each announced incident that stayed resolved (`quiet`)."""
        alerts = []
        announced = alert_store.existing_keys(graph, [f"incident:{c.key}" for c in changes])
        for change in changes:
            worthy = pages_someone(change.draft, self.settings.alert_min_severity)
            payload = incident_payload(change)
            dag = change.draft.root_dag or change.draft.dags_hit[0]
            if f"incident:{change.key}" not in announced:
                if worthy:
                    alerts.append(AlertRequest(f"incident:{change.key}", "incident", payload, now_ms, dag))
            elif change.grew:
                alerts.append(AlertRequest(f"incident:{change.key}:size{payload['size']}", "incident_update",
                                           payload, now_ms, dag))
        for row in quiet:
            payload = {"incident_key": row["key"], "status": "resolved", "summary": row.get("summary"),
                       "root_kind": row.get("root_kind"), "root_key": row.get("root_key"),
                       "opened_at": row.get("opened_at"), "resolved_at": row.get("resolved_at"),
                       "size": row.get("size"), "dags_hit": row.get("dags_hit") or [],
                       "blast_dags": (row.get("blast_dags") or [])[:10], "reopened": row.get("reopened") or 0}
            alerts.append(AlertRequest(f"incident_resolved:{row['key']}", "incident_resolved", payload, now_ms,
                                       row.get("root_dag") or (row.get("dags_hit") or [None])[0]))
        return alerts

    def _store_breakdowns(self, graph: Graph, drafts: list[Draft], now_ms: int) -> None:
        """On every symptom: when it began, and for task runs why they took so long."""
        marks, run_of = [], {}
        for draft in drafts:
            for s in draft.symptoms:
                marks.append({"label": s.label, "key": s.key, "at": s.at, "breakdown": None})
                run_key = s.key if s.label == "TaskRun" else (s.key.split(":", 1)[1] if s.task_key else None)
                if run_key:
                    run_of[s.key] = run_key
        keys = sorted(set(run_of.values()))[:MAX_BREAKDOWNS]
        sentences = {row["key"]: breakdown(timing(row, now_ms)).sentence
                     for row in store.task_run_timings(graph, keys) if row.get("could_start") is not None}
        for mark in marks:
            mark["breakdown"] = sentences.get(run_of.get(mark["key"]))
        store.mark_symptoms(graph, marks)


def timing(row: dict, now_ms: int) -> RunTiming:
    return RunTiming(could_start_ms=int(row["could_start"]), start_ms=row.get("start"), end_ms=row.get("end"),
                     now_ms=now_ms, queued_s=row.get("queued_s"), try_number=int(row.get("try_number") or 1),
                     upstream_end_ms=row.get("upstream_end"), upstream_task=row.get("upstream_task"),
                     usual_run_s=row.get("usual_run_s"), usual_start_s=row.get("usual_start_s"),
                     usual_end_s=row.get("usual_end_s"), pool=row.get("pool"),
                     scheduled_ms=row.get("scheduled_when"), pool_slots=row.get("pool_slots"))
