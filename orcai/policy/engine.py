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
  its run (`run.stuck_task`, `run.stuck_run`), keyed by them and the task's try, so one try
  is cleared at most once and a run is failed at most once;
- cap: at most `max_actions_per_hour` enforced Airflow/graph changes per hour across all
  policies; over the cap an action is deferred (retried next cycle), not dropped.

`decide_cycle` judges the policies with pool or tag actions once per cycle, on `resource`
and `now` facts: a pool is throttled while the condition holds and released (restored)
when it clears; protected pools are never resized; a policy that needs an absent resource
fact is `skipped` with the reason, not judged.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace

from orcai.errors import ConditionRuntimeError
from orcai.model import HOUR_MS
from orcai.policy.conditions import evaluate_all
from orcai.policy.facts import now_facts
from orcai.policy.model import Policy, PolicyAction
from orcai.policy.resources import resources_used

OWN_DAG_PREFIX = "orcai_"

STUCK_ACTIONS = ("clear_stuck", "fail_zombie_run")  # act on the stuck run, not the newest finished one
AIRFLOW_CHANGES = ("pause", "unpause", "pause_tag", "unpause_tag") + STUCK_ACTIONS  # protected DAGs are spared these
# Actions that change something; the cap counts them.
CHANGES = ("pause", "unpause", "mark_critical", "set_pool_slots", "pause_tag", "unpause_tag") + STUCK_ACTIONS
FINAL = ("done", "would_do", "skipped", "undone", "released")  # recorded outcomes a decision never redoes


@dataclass(frozen=True)
class Guardrails:
    max_actions_per_hour: int = 10
    protected: tuple[str, ...] = ()  # DAG id globs no policy may pause or unpause
    protected_pools: tuple[str, ...] = ()  # pool name globs no policy may resize

    def protects_pool(self, pool: str) -> str | None:
        glob = next((g for g in self.protected_pools if fnmatch.fnmatchcase(pool, g)), None)
        return None if glob is None else f"pool {pool} is protected (ORCAI_PROTECTED_POOLS: {glob})"

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
    skipped: dict[str, str] = field(default_factory=dict)  # policy name -> why it was not judged
    released: list[tuple[str, str]] = field(default_factory=list)  # (policy, pool) whose condition cleared
    evaluated: int = 0  # (policy, DAG) pairs judged


def action_key(policy: Policy, action: PolicyAction, dag_id: str, facts: dict) -> str:
    return f"{policy.name}@v{policy.version}:{action.type}:{dag_id}:{judged_run(action.type, facts) or '-'}"


def judged_run(kind: str, facts: dict) -> str:
    """The run an action is about: the stuck run (and stuck task's try) for stuck work,
    the newest finished run otherwise."""
    run = facts["run"]
    if kind == "clear_stuck":
        return f"{run['stuck_run']}/{run['stuck_task']}#{run['stuck_try']}" if run.get("stuck_task") else ""
    if kind == "fail_zombie_run":
        return run.get("stuck_run") or ""
    return run["id"]


def missing_resources(policy: Policy, resources: dict, missing: dict[str, str]) -> str | None:
    """Why a policy cannot be judged now (a resource fact it needs has no value), or None."""
    absent = sorted(resources_used(policy.condition) - set(resources))
    if not absent:
        return None
    return "; ".join(f"resource.{name} has no value: {missing.get(name, 'no such resource is defined')}"
                     for name in absent)


def decide(policies: list[Policy], facts_by_dag: dict[str, dict], past: list[PastAction],
           guardrails: Guardrails, now_ms: int, budget_s: float = 1.0) -> Evaluation:
    """What each enabled policy does to each DAG in its scope, given what was done before.

    Conditions run in the time-bounded evaluator (`budget_s` per evaluation); a condition
    that fails or runs past its budget puts its policy in `broken`."""
    result = Evaluation()
    status_of = {p.key: p.status for p in past}
    changes_left = guardrails.max_actions_per_hour - sum(
        1 for p in past if not p.dry_run and p.status == "done" and p.kind in CHANGES and p.at > now_ms - HOUR_MS)
    for policy in (p for p in policies if p.enabled and not p.per_cycle):
        in_scope = [(dag_id, facts) for dag_id, facts in sorted(facts_by_dag.items())
                    if policy.scope.matches(dag_id, facts["dag"]["tags"], facts["dag"]["owners"])]
        try:
            outcomes = evaluate_all(policy.condition, [facts for _, facts in in_scope], budget_s)
        except ConditionRuntimeError as exc:  # a timeout: which DAG does not matter, the cost does
            result.broken[policy.name] = str(exc)
            continue
        for (dag_id, facts), fired in zip(in_scope, outcomes):
            dag = facts["dag"]
            result.evaluated += 1
            if isinstance(fired, ConditionRuntimeError):
                result.broken[policy.name] = f"on DAG {dag_id}: {fired}"
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
    if run.get("breach_risk", 0.0) > 0:
        parts.append(f"run {run['active_id']}: {run['breach_risk']:.0%} risk of missing its deadline "
                     f"(in {run['deadline']} min; p80 ETA in {run['eta_p80']} min, {run['late_min']} min late)")
        if run["watch"]:
            parts.append(f"watch {run['watch']}")
    if run.get("stuck_task"):
        parts.append(f"task {run['stuck_task']} (try {run['stuck_try']}) of run {run['stuck_run']} "
                     f"waiting {run['stuck_min']} min")
    if facts["anomaly"]["severity"] != "none":
        parts.append(f"{facts['anomaly']['severity']} {facts['anomaly']['kind']} anomaly")
    parts += [f"resource.{name} = {_show(facts['resource'][name])}"
              for name in sorted(resources_used(policy.condition)) if name in facts.get("resource", {})]
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
    return ((action.type in ("pause", "pause_tag") and dag["is_paused"])
            or (action.type in ("unpause", "unpause_tag") and not dag["is_paused"]))


def _nothing_stuck(action: PolicyAction, facts: dict) -> bool:
    return action.type in STUCK_ACTIONS and not judged_run(action.type, facts)


def _cooling_down(policy: Policy, dag_id: str, past: list[PastAction], now_ms: int) -> bool:
    since = now_ms - policy.cooldown_min * 60_000
    return any(p.policy == policy.name and p.dag_id == dag_id and p.dry_run == (not policy.enforced)
               and p.status in ("done", "would_do") and p.at > since for p in past)


# --- policies judged once per cycle: pools and tags -------------------------------------------

def decide_cycle(policies: list[Policy], resources: dict, missing: dict[str, str], facts_by_dag: dict[str, dict],
                 pools: dict[str, dict], past: list[PastAction], guardrails: Guardrails, now_ms: int,
                 budget_s: float = 1.0, result: Evaluation | None = None) -> Evaluation:
    """What each enabled per-cycle policy (pool and tag actions) does, on `resource` and `now`.

    `pools`: the graph's pool state by name ({throttled_by, original_slots, episode, held_off_by}).
    A throttle holds while the condition does; when it clears, the pool is restored (a
    `restore_pool_slots` decision), whatever the cooldown and the hourly cap."""
    result = result or Evaluation()
    status_of = {p.key: p.status for p in past}
    changes_left = guardrails.max_actions_per_hour - sum(
        1 for p in past if not p.dry_run and p.status == "done" and p.kind in CHANGES and p.at > now_ms - HOUR_MS)
    facts = {"resource": resources, "now": now_facts(now_ms)}
    for policy in (p for p in policies if p.enabled and p.per_cycle):
        why_not = missing_resources(policy, resources, missing)
        if why_not:
            result.skipped[policy.name] = why_not
            continue
        try:
            fired = evaluate_all(policy.condition, [facts], budget_s)[0]
        except ConditionRuntimeError as exc:
            fired = exc
        if isinstance(fired, ConditionRuntimeError):
            result.broken[policy.name] = str(fired)
            continue
        result.evaluated += 1
        why = explain_cycle(policy, facts, bool(fired))
        for action in policy.actions:
            if action.type == "set_pool_slots":
                decision = _pool_decision(policy, action, bool(fired), pools.get(action.pool, {}), facts, why,
                                          guardrails, changes_left, past, now_ms, result)
                if decision is not None and status_of.get(decision.key) not in FINAL:
                    changes_left -= decision.status == "execute" and decision.action.type == "set_pool_slots"
                    result.decisions.append(decision)
            elif fired and action.type in ("pause_tag", "unpause_tag"):
                for dag_id, dag_facts in sorted(facts_by_dag.items()):
                    dag = dag_facts["dag"]
                    if action.tag not in dag["tags"] or _not_needed(action, dag) or \
                            _cooling_down(policy, dag_id, past, now_ms):
                        continue
                    key = action_key(policy, action, dag_id, dag_facts)
                    if status_of.get(key) in FINAL:
                        continue
                    status, reason = _judge(policy, action, dag_id, {**dag_facts, **facts}, guardrails, changes_left)
                    changes_left -= status == "execute"
                    result.decisions.append(Decision(key, policy, dag_id, action, status,
                                                     reason.replace(explain(policy, {**dag_facts, **facts}), why),
                                                     {**facts, "dag": dag, "run": dag_facts["run"]}))
            elif fired and action.type == "alert":
                key = f"{policy.name}@v{policy.version}:alert:-:{now_ms // HOUR_MS}"
                if status_of.get(key) not in FINAL and not _cooling_down(policy, "", past, now_ms):
                    status = "execute" if policy.enforced else "would_do"
                    result.decisions.append(Decision(key, policy, "", action, status, why, facts))
    return result


def explain_cycle(policy: Policy, facts: dict, holds: bool = True) -> str:
    """Why a per-cycle condition fired (or cleared): the condition and the resource values it read."""
    values = [f"resource.{name} = {_show(facts['resource'][name])}"
              for name in sorted(resources_used(policy.condition)) if name in facts["resource"]]
    return f"`{policy.condition}` is {'true' if holds else 'false'}" + (f" ({', '.join(values)})" if values else "")


def _slots(count) -> str:
    return f"{count} slot" + ("" if count == 1 else "s")


def _show(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in sorted(value.items())[:5]) + ("…}" if len(value) > 5 else "}")
    return f"{value:.3g}"


def _pool_decision(policy: Policy, action: PolicyAction, fired: bool, pool: dict, facts: dict, why: str,
                   guardrails: Guardrails, changes_left: int, past: list[PastAction], now_ms: int,
                   result: Evaluation) -> Decision | None:
    name, episode = action.pool, int(pool.get("episode") or 0)
    mine = pool.get("throttled_by") == policy.name
    prefix = f"{policy.name}@v{policy.version}"
    if not fired:
        if pool.get("held_off_by") == policy.name:
            result.released.append((policy.name, name))
        if not mine:
            return None
        restore = PolicyAction("restore_pool_slots", pool=name, slots=pool.get("original_slots"))
        return Decision(f"{prefix}:restore_pool_slots:{name}:{episode}", policy, "", restore, "execute",
                        f"released: the condition cleared; restore {name} to {pool.get('original_slots')} slots. "
                        f"{why}", facts)
    if mine or pool.get("held_off_by") == policy.name:
        return None
    if pool.get("throttled_by"):
        return None  # another policy holds this pool; it restores it
    if _cooling_down(policy, f"pool:{name}", past, now_ms):
        return None
    key = f"{prefix}:set_pool_slots:{name}:{episode + 1}" + ("" if policy.enforced else f":dry{now_ms // HOUR_MS}")
    text = why
    protected = guardrails.protects_pool(name)
    if protected:
        return Decision(key, policy, "", action, "skipped", f"not done: {protected}. {text}", facts)
    if not policy.enforced:
        return Decision(key, policy, "", action, "would_do",
                        f"dry run: would set pool {name} to {_slots(action.slots)}. {text}", facts)
    if changes_left <= 0:
        return Decision(key, policy, "", action, "deferred",
                        f"deferred: {guardrails.max_actions_per_hour} enforced actions in the last hour "
                        f"(ORCAI_POLICY_MAX_ACTIONS_PER_HOUR); retried next cycle. {text}", facts)
    return Decision(key, policy, "", action, "execute", f"throttle: set pool {name} to {_slots(action.slots)}. {text}",
                    facts)


def release_orphans(pools: dict[str, dict], policies: list[Policy]) -> list[Decision]:
    """Restores for pools still throttled by a policy that no longer throttles them (disabled,
    switched to dry run, deleted, or edited to another pool): nothing else would give them
    their slots back."""
    active = {(p.name, a.pool) for p in policies if p.enabled and p.enforced
              for a in p.actions if a.type == "set_pool_slots"}
    known = {p.name: p for p in policies}
    decisions = []
    for name, pool in sorted(pools.items()):
        owner = pool.get("throttled_by")
        if not owner or (owner, name) in active:
            continue
        # The restore is real whatever the policy's mode now is: record it as enforced.
        policy = replace(known.get(owner) or Policy(name=owner, condition="true", actions=()), mode="enforce")
        restore = PolicyAction("restore_pool_slots", pool=name, slots=pool.get("original_slots"))
        decisions.append(Decision(f"{owner}@v{policy.version}:restore_pool_slots:{name}:{int(pool.get('episode') or 0)}",
                                  policy, "", restore, "execute",
                                  f"released: policy {owner} no longer throttles it (disabled, dry run, deleted or edited); "
                                  f"restore {name} to {pool.get('original_slots')} slots", {}))
    return decisions
