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
from orcai.errors import PolicyInvalid
from orcai.graph import Graph
from orcai.graph import anomaly_store, dag_store, forecast_store, incident_store, pool_store, run_store
from orcai.graph import policy_store as store
from orcai.graph.alert_store import enqueue
from orcai.model import DAY_MS, HOUR_MS
from orcai.policy.actions import (
    clear_stuck_confirmed, fail_run_confirmed, restore_pool, set_paused_confirmed, throttle_pool,
)
from orcai.policy.engine import Decision, Guardrails, decide, decide_cycle, missing_resources, release_orphans
from orcai.policy.resources import ResourceFacts, load_resources, read_resource_facts, resources_used
from orcai.policy.facts import facts_for
from orcai.policy.model import load_policies_yaml, policy_files, render_message
from orcai.prometheus import PrometheusClient

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
    return Guardrails(settings.policy_max_actions_per_hour, settings.protected_dag_globs,
                      settings.protected_pool_globs)


def current_facts(graph: Graph, now_ms: int) -> dict[str, dict]:
    """The facts of every live DAG as of now."""
    anomalies = anomaly_store.anomalies_by_run(graph, now_ms - 7 * DAY_MS)
    paused_at = store.paused_by_policy(graph)
    # Per DAG, the open incident it is the root of (the largest, if several), else the largest
    # it suffers from: a DAG whose own task fails is not a victim because it also waited in
    # a starved pool.
    incidents = {}
    for row in sorted(incident_store.open_incidents_by_dag(graph),
                      key=lambda r: (r.get("root_dag") == r["dag_id"], r.get("size") or 0)):
        incidents[row["dag_id"]] = row
    forecasts = forecast_store.riskiest_forecast_by_dag(graph)
    unfinished: dict[str, list[dict]] = {}
    for row in run_store.unfinished_task_runs(graph):
        unfinished.setdefault(row["dag_id"], []).append(row)
    facts = {}
    # The last 50 runs, and every run of the last 24 h however many.
    for row in dag_store.dag_overview(graph, FACT_RUNS, since_ms=now_ms - DAY_MS):
        runs = [r for r in row["runs"] if r.get("at") is not None]
        facts[row["dag_id"]] = facts_for(row, runs, anomalies.get(row["dag_id"], {}), now_ms,
                                         paused_at.get(row["dag_id"]), incidents.get(row["dag_id"]),
                                         forecasts.get(row["dag_id"]), unfinished.get(row["dag_id"]))
    return facts


class PolicyRunner:
    def __init__(self, settings: Settings, prometheus: PrometheusClient | None = None):
        self.settings = settings
        self.guardrails = guardrails_from(settings)
        self.defaults_installed = False
        self._prometheus = prometheus  # built on first need (no network in __init__)

    def resource_facts(self, policies: list) -> ResourceFacts:
        """The resource facts the enabled policies read, from Prometheus; Prometheus down or
        not configured is one log line per cycle and every such fact absent."""
        needed = set().union(*(resources_used(p.condition) for p in policies)) if policies else set()
        if not needed:
            return ResourceFacts({}, {})
        if not self.settings.prometheus_url:
            return ResourceFacts({}, {n: "ORCAI_PROMETHEUS_URL is not set" for n in needed})
        try:
            queries = [q for q in load_resources(self.settings.resources_file) if q.name in needed]
        except PolicyInvalid as exc:
            log.error("resource facts unavailable: %s is invalid: %s", self.settings.resources_file,
                      "; ".join(exc.problems))
            return ResourceFacts({}, {n: f"{self.settings.resources_file} is invalid" for n in needed})
        if self._prometheus is None:
            self._prometheus = PrometheusClient(self.settings)
        facts = read_resource_facts(self._prometheus, queries)
        if facts.unreachable:
            log.warning("resource facts unavailable this cycle: %s", facts.unreachable)
        return facts

    def close(self) -> None:
        if self._prometheus is not None:
            self._prometheus.close()

    def run(self, graph: Graph, airflow: AirflowClient, now_ms: int) -> PolicyReport:
        if not self.defaults_installed:
            installed = install_default_policies(graph, self.settings.policies_dir, now_ms)
            if installed:
                log.info("installed default policies: %s", ", ".join(installed))
            self.defaults_installed = True
        report = PolicyReport()
        every_policy = store.load_policies(graph, include_disabled=True)
        policies = [p for p in every_policy if p.enabled]
        if self.settings.dag_shard.index == 0:
            orphans = release_orphans(pool_store.pool_states(graph), every_policy)
            if orphans:
                pool_store.record_cycle_actions(graph, orphans, now_ms)
                enqueue(graph, [a for a in (self._act(graph, airflow, d, now_ms, report) for d in orphans) if a])
        if not policies:
            return report
        longest_cooldown = max(p.cooldown_min for p in policies) * 60_000
        past = store.past_actions(graph, now_ms - max(longest_cooldown, DAY_MS))
        shard = self.settings.dag_shard  # with ORCAI_SHARD, each shard acts on its own DAGs only
        facts = {dag_id: f for dag_id, f in current_facts(graph, now_ms).items() if shard.owns(dag_id)}
        resources = self.resource_facts(policies)
        for dag_facts in facts.values():
            dag_facts["resource"] = resources.values
        skipped = {p.name: why for p in policies
                   if (why := missing_resources(p, resources.values, resources.missing))}
        judged = [p for p in policies if p.name not in skipped]
        budget = self.settings.policy_eval_budget_s
        evaluation = decide(judged, facts, past, self.guardrails, now_ms, budget)
        if shard.index == 0:  # pools and tags are judged once, by the first shard
            evaluation = decide_cycle(judged, resources.values, resources.missing, facts,
                                      pool_store.pool_states(graph), past, self.guardrails, now_ms, budget,
                                      evaluation)
        evaluation.skipped.update(skipped)
        for policy in policies:
            if policy.name in evaluation.skipped:
                pool_store.record_skip(graph, policy, evaluation.skipped[policy.name], now_ms, now_ms // HOUR_MS)
        for policy_name, pool in evaluation.released:
            pool_store.clear_hold(graph, pool, policy_name)
        report.evaluated, report.fired = evaluation.evaluated, len(evaluation.decisions)
        for name, error in evaluation.broken.items():
            self._disable(graph, name, error, now_ms)
            report.disabled.append(name)
        store.record_decisions(graph, [d for d in evaluation.decisions if d.dag_id], now_ms)
        pool_store.record_cycle_actions(graph, [d for d in evaluation.decisions if not d.dag_id], now_ms)
        alerts = [self._act(graph, airflow, decision, now_ms, report) for decision in evaluation.decisions]
        enqueue(graph, [a for a in alerts if a is not None])
        return report

    def _act(self, graph: Graph, airflow: AirflowClient, decision: Decision, now_ms: int,
             report: PolicyReport) -> AlertRequest | None:
        """Execute a decision (if it is to be executed), record its outcome; the Slack notice."""
        outcome, error = decision.status, None
        if decision.status == "execute":
            outcome, error = self._execute(graph, airflow, decision, now_ms)
            store.set_action_outcome(graph, decision.key, outcome, now_ms, error)
            report.done += outcome == "done"
            report.failed += outcome == "failed"
        if outcome not in ("done", "would_do", "failed"):
            return None
        report.actions.append({"action": decision.action.type, "mode": decision.policy.mode, "outcome": outcome})
        return self._notice(decision, outcome, error, now_ms)

    def _execute(self, graph: Graph, airflow: AirflowClient, decision: Decision,
                 now_ms: int) -> tuple[str, str | None]:
        kind, dag_id, action = decision.action.type, decision.dag_id, decision.action
        if kind == "set_pool_slots":
            outcome, error = throttle_pool(graph, airflow, action.pool, action.slots, decision.policy.name, now_ms)
        elif kind == "restore_pool_slots":
            outcome, error = restore_pool(graph, airflow, action.pool)
            if outcome in ("done", "skipped"):
                store.mark_released(graph, decision.policy.name, action.pool, now_ms)
        if kind in ("set_pool_slots", "restore_pool_slots"):
            if error:
                log.error("policy %s could not %s pool %s: %s", decision.policy.name,
                          "throttle" if kind == "set_pool_slots" else "restore", action.pool, error)
            return outcome, error
        if kind in ("pause", "unpause", "pause_tag", "unpause_tag"):
            outcome, error = set_paused_confirmed(airflow, dag_id, kind in ("pause", "pause_tag"))
            if outcome in ("done", "skipped"):
                dag_store.set_dag_flags(graph, dag_id, is_paused=kind in ("pause", "pause_tag"))
            if error:
                log.error("policy %s could not %s %s: %s", decision.policy.name, kind, dag_id, error)
            return outcome, error
        if kind in ("clear_stuck", "fail_zombie_run"):
            run = decision.facts["run"]
            outcome, error = (clear_stuck_confirmed(airflow, dag_id, run["stuck_run"], run["stuck_task"], run["stuck_try"])
                              if kind == "clear_stuck" else fail_run_confirmed(airflow, dag_id, run["stuck_run"]))
            if error:
                log.error("policy %s could not %s on %s: %s", decision.policy.name, kind, dag_id, error)
            return outcome, error
        if kind == "mark_critical":
            dag_store.set_dag_flags(graph, dag_id, marked_critical=True)
        return "done", None  # an alert is done once queued in the outbox

    def _notice(self, decision: Decision, outcome: str, error: str | None, now_ms: int) -> AlertRequest:
        policy, action = decision.policy, decision.action
        undo = None
        if action.type in ("pause", "pause_tag") and outcome == "done":
            undo = f"Undo in ORC AI: {self.settings.app_url}/policies (Action log), or unpause {decision.dag_id} in Airflow"
        if action.type == "set_pool_slots" and outcome == "done":
            undo = (f"Undo in ORC AI: {self.settings.app_url}/policies (Action log) restores the pool's slots; "
                    f"it is restored by itself when the condition clears")
        text = render_message(action.message, decision.facts) if action.type == "alert" else ""
        reason = decision.reason if error is None else f"{decision.reason} — failed: {error}; retried next cycle"
        return AlertRequest(
            key=f"policy_action:{decision.key}:{outcome}", kind="policy_action", created_at=now_ms,
            dag_id=decision.dag_id or None,
            payload={"policy": policy.name, "version": policy.version, "action": action.type,
                     "mode": policy.mode, "outcome": outcome, "dag_id": decision.dag_id, "reason": reason,
                     "target": f"pool {action.pool}" if action.pool else "",
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
    known = store.policy_names(graph)
    installed = []
    for path in policy_files(directory):
        for policy in load_policies_yaml(path.read_text()):
            if policy.name not in known:
                store.save_policy(graph, policy, f"shipped: {path.name}", now_ms, change="install")
                installed.append(policy.name)
    return installed
