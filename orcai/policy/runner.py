"""The policy stage of the worker: build facts, decide, act on Airflow, record, notify.

Runs after detection in every cycle. What it does for each decision (see engine.py):
- `execute`: pause/unpause through the Airflow REST API, confirmed by reading the DAG back;
  mark critical in the graph; an `alert` is the Slack notice itself. A failure (Airflow
  down) leaves the Action `failed`; its key is the same next cycle, so it is retried, once.
- `would_do` (dry run), `skipped` (protected), `deferred` (over the hourly cap): recorded.
Every done, would-be and failed action is queued in the alert outbox (orcai.graph.alert_store),
which the Slack dispatcher sends when Slack is configured. A policy whose condition fails at
run time is disabled, with the error on the page and in Slack; the others carry on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from orcai.airflow import AirflowClient
from orcai.alerts.outbox import AlertRequest
from orcai.config import Settings
from orcai.graph import Graph
from orcai.graph import anomaly_store, dag_store, incident_store, run_store
from orcai.graph import policy_store as store
from orcai.graph.alert_store import enqueue
from orcai.model import DAY_MS
from orcai.policy.actions import clear_stuck_confirmed, fail_run_confirmed, set_paused_confirmed
from orcai.policy.engine import Decision, Guardrails, decide
from orcai.policy.facts import facts_for
from orcai.policy.model import load_policies_yaml, render_message

log = logging.getLogger(__name__)

WORKER_AUTHOR = "orcai-worker"
FACT_RUNS = 50  # newest runs per DAG the facts are built from (plus all of the last 24 h)


@dataclass
class PolicyReport:
    evaluated: int = 0
    fired: int = 0
    done: int = 0
    failed: int = 0
    disabled: list[str] = field(default_factory=list)
    # One entry per action taken, tried or rehearsed, {"action", "mode", "outcome"}: for metrics.
    actions: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        return (f"policies: {self.evaluated} DAG checks, {self.fired} actions fired, {self.done} done, "
                f"{self.failed} failed" + (f", disabled {', '.join(self.disabled)}" if self.disabled else ""))


def guardrails_from(settings: Settings) -> Guardrails:
    return Guardrails(settings.policy_max_actions_per_hour, settings.protected_dag_globs)


def current_facts(graph: Graph, now_ms: int) -> dict[str, dict]:
    """The facts of every live DAG as of now."""
    anomalies = anomaly_store.anomalies_by_run(graph, now_ms - 7 * DAY_MS)
    paused_at = store.paused_by_policy(graph)
    incidents = {}  # per DAG, the largest open incident it is part of
    for row in sorted(incident_store.open_incidents_by_dag(graph), key=lambda r: r.get("size") or 0):
        incidents[row["dag_id"]] = row
    unfinished: dict[str, list[dict]] = {}
    for row in run_store.unfinished_task_runs(graph):
        unfinished.setdefault(row["dag_id"], []).append(row)
    facts = {}
    # The last 50 runs, and every run of the last 24 h however many.
    for row in dag_store.dag_overview(graph, FACT_RUNS, since_ms=now_ms - DAY_MS):
        runs = [r for r in row["runs"] if r.get("at") is not None]
        facts[row["dag_id"]] = facts_for(row, runs, anomalies.get(row["dag_id"], {}), now_ms,
                                         paused_at.get(row["dag_id"]), incidents.get(row["dag_id"]),
                                         unfinished.get(row["dag_id"]))
    return facts


class PolicyRunner:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.guardrails = guardrails_from(settings)
        self.defaults_installed = False

    def run(self, graph: Graph, airflow: AirflowClient, now_ms: int) -> PolicyReport:
        if not self.defaults_installed:
            installed = install_default_policies(graph, self.settings.policies_dir, now_ms)
            if installed:
                log.info("installed default policies: %s", ", ".join(installed))
            self.defaults_installed = True
        report = PolicyReport()
        policies = store.load_policies(graph, include_disabled=False)
        if not policies:
            return report
        longest_cooldown = max(p.cooldown_min for p in policies) * 60_000
        past = store.past_actions(graph, now_ms - max(longest_cooldown, DAY_MS))
        shard = self.settings.dag_shard  # with ORCAI_SHARD, each shard acts on its own DAGs only
        facts = {dag_id: f for dag_id, f in current_facts(graph, now_ms).items() if shard.owns(dag_id)}
        evaluation = decide(policies, facts, past, self.guardrails, now_ms)
        report.evaluated, report.fired = evaluation.evaluated, len(evaluation.decisions)
        for name, error in evaluation.broken.items():
            self._disable(graph, name, error, now_ms)
            report.disabled.append(name)
        store.record_decisions(graph, evaluation.decisions, now_ms)
        alerts = []
        for decision in evaluation.decisions:
            outcome, error = decision.status, None
            if decision.status == "execute":
                outcome, error = self._execute(graph, airflow, decision, now_ms)
                store.set_action_outcome(graph, decision.key, outcome, now_ms, error)
                report.done += outcome == "done"
                report.failed += outcome == "failed"
            if outcome in ("done", "would_do", "failed"):
                report.actions.append({"action": decision.action.type, "mode": decision.policy.mode,
                                       "outcome": outcome})
                alerts.append(self._notice(decision, outcome, error, now_ms))
        enqueue(graph, alerts)
        return report

    def _execute(self, graph: Graph, airflow: AirflowClient, decision: Decision,
                 now_ms: int) -> tuple[str, str | None]:
        kind, dag_id = decision.action.type, decision.dag_id
        if kind in ("pause", "unpause"):
            outcome, error = set_paused_confirmed(airflow, dag_id, kind == "pause")
            if outcome in ("done", "skipped"):
                dag_store.set_dag_flags(graph, dag_id, is_paused=kind == "pause")
            if error:
                log.error("policy %s could not %s %s: %s", decision.policy.name, kind, dag_id, error)
            return outcome, error
        if kind in ("clear_stuck", "fail_zombie_run"):
            run = decision.facts["run"]
            outcome, error = (clear_stuck_confirmed(airflow, dag_id, run["active_id"], run["stuck_task"], run["stuck_try"])
                              if kind == "clear_stuck" else fail_run_confirmed(airflow, dag_id, run["active_id"]))
            if error:
                log.error("policy %s could not %s on %s: %s", decision.policy.name, kind, dag_id, error)
            return outcome, error
        if kind == "mark_critical":
            dag_store.set_dag_flags(graph, dag_id, marked_critical=True)
        return "done", None  # an alert is done once queued in the outbox

    def _notice(self, decision: Decision, outcome: str, error: str | None, now_ms: int) -> AlertRequest:
        policy, action = decision.policy, decision.action
        undo = None
        if action.type == "pause" and outcome == "done":
            undo = f"Undo in ORC AI: {self.settings.app_url}/policies (Action log), or unpause {decision.dag_id} in Airflow"
        text = render_message(action.message, decision.facts) if action.type == "alert" else ""
        reason = decision.reason if error is None else f"{decision.reason} — failed: {error}; retried next cycle"
        return AlertRequest(
            key=f"policy_action:{decision.key}:{outcome}", kind="policy_action", created_at=now_ms,
            dag_id=decision.dag_id,
            payload={"policy": policy.name, "version": policy.version, "action": action.type,
                     "mode": policy.mode, "outcome": outcome, "dag_id": decision.dag_id, "reason": reason,
                     "facts": decision.facts, "undo": undo, "text": text})

    def _disable(self, graph: Graph, name: str, error: str, now_ms: int) -> None:
        log.error("policy %s disabled: its condition failed %s", name, error)
        policy = store.change_policy(graph, name, WORKER_AUTHOR, now_ms, "auto-disable",
                                     enabled=False, disabled_reason=f"condition failed {error}")
        enqueue(graph, [AlertRequest(
            key=f"policy_disabled:{name}@v{policy.version}", kind="policy_disabled", created_at=now_ms,
            payload={"policy": name, "version": policy.version, "error": f"condition failed {error}"})])


def install_default_policies(graph: Graph, directory: Path, now_ms: int) -> list[str]:
    """Add the shipped policies (`*.yaml` in `directory`) that the graph has never had.

    A policy an operator edited, disabled or deleted is left alone."""
    if not directory.is_dir():
        return []
    known = store.policy_names(graph)
    installed = []
    for path in sorted(directory.glob("*.yaml")):
        for policy in load_policies_yaml(path.read_text()):
            if policy.name not in known:
                store.save_policy(graph, policy, f"shipped: {path.name}", now_ms, change="install")
                installed.append(policy.name)
    return installed
