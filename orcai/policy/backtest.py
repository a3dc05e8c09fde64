"""Backtest: when, and on which DAGs, would a policy have fired over stored history?

Replays every finished run in the window in time order. At each run end the DAG's facts
are rebuilt from the runs before it, with the same builders the worker uses, and the
condition is evaluated; the cooldown applies as it would live. A simulated pause holds
until a simulated unpause (the real history kept running, but a paused DAG would not have
been paused again). Each DAG is assumed unpaused at the start of the window: Airflow keeps
no history of pauses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orcai.errors import ConditionRuntimeError
from orcai.policy.conditions import evaluate_all
from orcai.policy.engine import explain
from orcai.dag_health import FINISHED_STATES
from orcai.policy.facts import facts_for
from orcai.policy.model import Policy

MAX_HISTORY_RUNS = 1_500  # a day of runs every minute, and then some


@dataclass(frozen=True)
class Firing:
    at: int  # epoch ms: when the run that made it fire ended
    dag_id: str
    run_id: str
    actions: tuple[str, ...]
    reason: str
    facts: dict


@dataclass
class BacktestResult:
    firings: list[Firing] = field(default_factory=list)
    dags_checked: int = 0
    runs_checked: int = 0
    error: str | None = None  # a runtime error of the condition (it would be disabled live)


def backtest(policy: Policy, dags: list[dict], runs_oldest_first: list[dict],
             anomalies: dict[str, dict[str, list[dict]]], since_ms: int) -> BacktestResult:
    """Evaluate `policy` at the end of every finished run since `since_ms`.

    `dags`: Dag rows (dag_id, tags, owners, criticality); `runs_oldest_first`: runs with
    dag_id, run_id, state, at, end, duration_s, run_type (may start before `since_ms`, as
    context); `anomalies`: stored anomalies by DAG id, then run id."""
    result = BacktestResult()
    runs_by_dag: dict[str, list[dict]] = {}
    for run in runs_oldest_first:
        runs_by_dag.setdefault(run["dag_id"], []).append(run)
    pauses = {a.type for a in policy.actions} & {"pause", "unpause"}
    for dag in sorted(dags, key=lambda d: d["dag_id"]):
        if not policy.scope.matches(dag["dag_id"], dag.get("tags"), dag.get("owners")):
            continue
        result.dags_checked += 1
        runs = runs_by_dag.get(dag["dag_id"], [])
        by_run = anomalies.get(dag["dag_id"], {})
        paused, last_fired = False, None
        for index, run in enumerate(runs):
            at = run.get("end") or run.get("at")
            if run.get("state") not in FINISHED_STATES or at is None or at < since_ms:
                continue
            result.runs_checked += 1
            # Facts look at most a day and a streak back: a bounded history keeps a DAG that
            # runs every minute (43,000 runs a month) from costing quadratic time.
            history = list(reversed(runs[max(0, index + 1 - MAX_HISTORY_RUNS):index + 1]))
            facts = facts_for({**dag, "is_paused": paused}, history, by_run, at)
            try:
                fired = evaluate_all(policy.condition, [facts])[0]
            except ConditionRuntimeError as exc:  # ran past its time budget
                fired = exc
            if isinstance(fired, ConditionRuntimeError):
                result.error = f"on DAG {dag['dag_id']}, run {run.get('run_id')}: {fired}"
                return result
            if not fired or (last_fired is not None and at - last_fired < policy.cooldown_min * 60_000):
                continue
            actions = tuple(a.type for a in policy.actions
                            if not (a.type == "pause" and paused) and not (a.type == "unpause" and not paused))
            if not actions:
                continue
            last_fired = at
            if "pause" in pauses and "pause" in actions:
                paused = True
            elif "unpause" in actions:
                paused = False
            result.firings.append(Firing(at, dag["dag_id"], run.get("run_id") or "", actions,
                                         explain(policy, facts), facts))
    result.firings.sort(key=lambda f: (f.at, f.dag_id))
    return result
