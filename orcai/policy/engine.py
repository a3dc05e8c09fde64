"""Deciding what policies do: pure functions over policies, facts and what was done before.

`decide` returns one Decision per (policy, DAG, action) that fired, each with the reason
and the facts it saw, and the policies whose condition failed at run time. The guardrails
live here, in one place, so the worker and the tests judge the same way:

- scope: a policy only sees the DAGs its scope matches;
- idempotent: a decision's key is policy version + action + DAG + the run it judged, so the
  same state never acts twice; a pause of a paused DAG (or unpause of a running one) is
  not needed and not recorded;
- cooldown: no new action by the same policy on the same DAG within `cooldown_min`;
- protected: never pause, unpause, clear or fail work of ORC AI's own DAGs (`orcai_*`) or a
  protected DAG;
- stuck work: `clear_stuck` / `fail_zombie_run` act on the DAG's longest-waiting task run and
  its run (`run.stuck_task`, `run.active_id`), keyed by them and the task's try, so one try
  is cleared at most once and a run is failed at most once;
- cap: at most `max_actions_per_hour` enforced Airflow/graph changes per hour across all
  policies; over the cap an action is deferred (retried next cycle), not dropped.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from orcai.errors import ConditionRuntimeError
from orcai.model import HOUR_MS
from orcai.policy.conditions import compile_condition, evaluate
from orcai.policy.model import Policy, PolicyAction

OWN_DAG_PREFIX = "orcai_"

STUCK_ACTIONS = ("clear_stuck", "fail_zombie_run")  # act on the active run, not the newest finished one
AIRFLOW_CHANGES = ("pause", "unpause") + STUCK_ACTIONS  # protected DAGs are spared these
CHANGES = ("pause", "unpause", "mark_critical") + STUCK_ACTIONS  # actions that change something; the cap counts them
FINAL = ("done", "would_do", "skipped", "undone")  # recorded outcomes a decision never redoes


@dataclass(frozen=True)
class Guardrails:
    max_actions_per_hour: int = 10
    protected: tuple[str, ...] = ()  # DAG id globs no policy may pause or unpause

    def protects(self, dag_id: str) -> str | None:
        """Why a DAG may not be paused/unpaused by a policy, or None."""
        if dag_id.startswith(OWN_DAG_PREFIX):
            return f"{dag_id} is one of ORC AI's own DAGs"
        glob = next((g for g in self.protected if fnmatch.fnmatchcase(dag_id, g)), None)
        return None if glob is None else f"{dag_id} is protected (ORCAI_PROTECTED_DAGS: {glob})"


@dataclass(frozen=True)
class PastAction:
    key: str
    policy: str
    dag_id: str
    status: str
    at: int
    dry_run: bool
    kind: str = ""


@dataclass(frozen=True)
class Decision:
    key: str
    policy: Policy
    dag_id: str
    action: PolicyAction
    status: str  # execute | would_do | skipped | deferred
    reason: str
    facts: dict


@dataclass
class Evaluation:
    decisions: list[Decision] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # policy name -> runtime error
    evaluated: int = 0  # (policy, DAG) pairs judged


def action_key(policy: Policy, action: PolicyAction, dag_id: str, facts: dict) -> str:
    return f"{policy.name}@v{policy.version}:{action.type}:{dag_id}:{judged_run(action.type, facts) or '-'}"


def judged_run(kind: str, facts: dict) -> str:
    """The run an action is about: the active run (and stuck task's try) for stuck work,
    the newest finished run otherwise."""
    run = facts["run"]
    if kind == "clear_stuck":
        return f"{run['active_id']}/{run['stuck_task']}#{run['stuck_try']}" if run.get("stuck_task") else ""
    if kind == "fail_zombie_run":
        return run.get("active_id") or ""
    return run["id"]


def decide(policies: list[Policy], facts_by_dag: dict[str, dict], past: list[PastAction],
           guardrails: Guardrails, now_ms: int) -> Evaluation:
    """What each enabled policy does to each DAG in its scope, given what was done before."""
    result = Evaluation()
    status_of = {p.key: p.status for p in past}
    changes_left = guardrails.max_actions_per_hour - sum(
        1 for p in past if not p.dry_run and p.status == "done" and p.kind in CHANGES and p.at > now_ms - HOUR_MS)
    for policy in (p for p in policies if p.enabled):
        program = compile_condition(policy.condition)
        for dag_id, facts in sorted(facts_by_dag.items()):
            dag = facts["dag"]
            if not policy.scope.matches(dag_id, dag["tags"], dag["owners"]):
                continue
            result.evaluated += 1
            try:
                fired = evaluate(program, facts)
            except ConditionRuntimeError as exc:
                result.broken[policy.name] = f"on DAG {dag_id}: {exc}"
                break
            if not fired:
                continue
            if _cooling_down(policy, dag_id, past, now_ms):
                continue
            for action in policy.actions:
                key = action_key(policy, action, dag_id, facts)
                if status_of.get(key) in FINAL or _not_needed(action, dag) or _nothing_stuck(action, facts):
                    continue
                status, reason = _judge(policy, action, dag_id, facts, guardrails, changes_left)
                if status == "execute" and action.type in CHANGES:
                    changes_left -= 1
                result.decisions.append(Decision(key, policy, dag_id, action, status, reason, facts))
    return result


def explain(policy: Policy, facts: dict) -> str:
    """Why a condition fired, in words: the condition and the facts it reads."""
    dag, run = facts["dag"], facts["run"]
    parts = [f"`{policy.condition}` is true", f"{dag['consecutive_failures']} failed run(s) in a row",
             f"failure rate 24 h {dag['failure_rate_24h']:.0%} of {dag['runs_24h']} run(s)"]
    if run["id"]:
        parts.append(f"last finished run {run['id']} {run['state']}")
    if run.get("stuck_task"):
        parts.append(f"task {run['stuck_task']} (try {run['stuck_try']}) of run {run['active_id']} "
                     f"waiting {run['stuck_min']} min")
    if facts["anomaly"]["severity"] != "none":
        parts.append(f"{facts['anomaly']['severity']} {facts['anomaly']['kind']} anomaly")
    return "; ".join(parts)


def _judge(policy: Policy, action: PolicyAction, dag_id: str, facts: dict, guardrails: Guardrails,
           changes_left: int) -> tuple[str, str]:
    why = explain(policy, facts)
    if action.type in AIRFLOW_CHANGES:
        protected = guardrails.protects(dag_id)
        if protected:
            return "skipped", f"not done: {protected}. {why}"
    if not policy.enforced:
        return "would_do", f"dry run: would {action.type.replace('_', ' ')}. {why}"
    if action.type in CHANGES and changes_left <= 0:
        return "deferred", (f"deferred: {guardrails.max_actions_per_hour} enforced actions in the last hour "
                            f"(ORCAI_POLICY_MAX_ACTIONS_PER_HOUR); retried next cycle. {why}")
    return "execute", why


def _not_needed(action: PolicyAction, dag: dict) -> bool:
    return ((action.type == "pause" and dag["is_paused"])
            or (action.type == "unpause" and not dag["is_paused"]))


def _nothing_stuck(action: PolicyAction, facts: dict) -> bool:
    return action.type in STUCK_ACTIONS and not judged_run(action.type, facts)


def _cooling_down(policy: Policy, dag_id: str, past: list[PastAction], now_ms: int) -> bool:
    since = now_ms - policy.cooldown_min * 60_000
    return any(p.policy == policy.name and p.dag_id == dag_id and p.dry_run == (not policy.enforced)
               and p.status in ("done", "would_do") and p.at > since for p in past)
