"""Backtest: when, and on which DAGs, would a policy have fired over stored history?

Replays every finished run in the window in time order. At each run end the DAG's facts
are rebuilt from the runs before it, with the same builders the worker uses, and the
condition is evaluated; the cooldown applies as it would live. A simulated pause holds
until a simulated unpause (the real history kept running, but a paused DAG would not have
been paused again). Each DAG is assumed unpaused at the start of the window: Airflow keeps
no history of pauses.

Resource facts are replayed from Prometheus's history (range queries over the window, one
point per `RESOURCE_STEP_S`): at a run's end, each `resource.<name>` is its newest point at
or before that time (not older than two steps). A policy judged once per cycle (pool and tag
actions) is replayed at every point instead, throttling and releasing as it would live.
Where Prometheus holds no history (retention, a new query, no Prometheus), the result says
so plainly in `notes`, and those times are not judged.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timezone

from orcai.errors import ConditionRuntimeError, PolicyInvalid
from orcai.policy.conditions import evaluate_all
from orcai.policy.engine import explain, explain_cycle
from orcai.dag_health import FINISHED_STATES
from orcai.policy.facts import facts_for
from orcai.policy.facts import now_facts
from orcai.policy.model import Policy
from orcai.policy.resources import load_resources, resource_history, resources_used

RESOURCE_STEP_S = 60  # a point a minute; the window is asked in chunks under Prometheus's 11,000 points


@dataclass
class ResourceHistory:
    """Resource facts over the window: {name: {time ms: value}}, and why some have none."""
    points: dict[str, dict[int, float | dict]]
    missing: dict[str, str]
    step_ms: int = RESOURCE_STEP_S * 1000

    def __post_init__(self):
        self._sorted = {name: sorted(series) for name, series in self.points.items()}

    def at(self, names: set[str], at_ms: int) -> dict:
        """Each fact's newest point at or before `at_ms`, if not older than two steps."""
        values = {}
        for name in names:
            times = self._sorted.get(name, [])
            index = bisect.bisect_right(times, at_ms) - 1
            if index >= 0 and times[index] >= at_ms - 2 * self.step_ms:
                values[name] = self.points[name][times[index]]
        return values

    def times(self, names: set[str]) -> list[int]:
        return sorted(set().union(*(self.points.get(n, {}).keys() for n in names))) if names else []

    def notes(self, names: set[str]) -> list[str]:
        notes = [f"resource.{n} cannot be replayed: {self.missing[n]}" for n in sorted(names) if n in self.missing]
        for name in sorted(names - set(self.missing)):
            first = min(self.points.get(name, {}) or [0])
            notes.append(f"resource.{name} has history from {_iso(first)} on; earlier times are not judged")
        return notes

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
    notes: list[str] = field(default_factory=list)  # what could not be replayed, in words
    unjudged: int = 0  # times skipped: a resource fact had no history there


def backtest(policy: Policy, dags: list[dict], runs_oldest_first: list[dict],
             anomalies: dict[str, dict[str, list[dict]]], since_ms: int,
             resource_history: ResourceHistory | None = None) -> BacktestResult:
    """Evaluate `policy` at the end of every finished run since `since_ms`.

    `dags`: Dag rows (dag_id, tags, owners, criticality); `runs_oldest_first`: runs with
    dag_id, run_id, state, at, end, duration_s, run_type (may start before `since_ms`, as
    context); `anomalies`: stored anomalies by DAG id, then run id."""
    result = BacktestResult()
    needed = resources_used(policy.condition)
    history = resource_history or ResourceHistory({}, {n: "no resource history was asked for" for n in needed})
    result.notes += history.notes(needed)
    if policy.per_cycle:
        return _backtest_cycle(policy, history, needed, since_ms, result)
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
            history_runs = list(reversed(runs[max(0, index + 1 - MAX_HISTORY_RUNS):index + 1]))
            facts = facts_for({**dag, "is_paused": paused}, history_runs, by_run, at)
            if needed:
                facts["resource"] = history.at(needed, at)
                if set(facts["resource"]) != needed:
                    result.unjudged += 1
                    continue
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


def _backtest_cycle(policy: Policy, history: ResourceHistory, needed: set[str], since_ms: int,
                    result: BacktestResult) -> BacktestResult:
    """A pool or tag policy at every point of its facts' history: throttle, then release."""
    throttled, last_fired = False, None
    points = []
    for at in (t for t in history.times(needed) if t >= since_ms):
        values = history.at(needed, at)
        if set(values) != needed:
            result.unjudged += 1
        else:
            points.append((at, {"resource": values, "now": now_facts(at)}))
    result.runs_checked = len(points)
    try:  # one batch: a pipe round trip for the whole window, each evaluation still within budget
        outcomes = evaluate_all(policy.condition, [facts for _, facts in points])
    except ConditionRuntimeError as exc:
        result.error = str(exc)
        return result
    for (at, facts), fired in zip(points, outcomes):
        if isinstance(fired, ConditionRuntimeError):
            result.error = f"at {_iso(at)}: {fired}"
            return result
        pools = [a for a in policy.actions if a.type == "set_pool_slots"]
        if fired and not throttled and (last_fired is None or at - last_fired >= policy.cooldown_min * 60_000):
            last_fired, throttled = at, bool(pools)
            result.firings.append(Firing(at, "", "", tuple(a.type for a in policy.actions),
                                         explain_cycle(policy, facts), facts))
        elif not fired and throttled:
            throttled = False
            result.firings.append(Firing(at, "", "", ("restore_pool_slots",),
                                         "released: " + explain_cycle(policy, facts, False), facts))
    return result


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def resource_history_for(settings, condition: str, since_ms: int, now_ms: int) -> ResourceHistory:
    """The history of the resource facts a condition reads, from Prometheus (range queries)."""
    needed = resources_used(condition)
    if not needed:
        return ResourceHistory({}, {})
    if not settings.prometheus_url:
        return ResourceHistory({}, {n: "no Prometheus is configured (ORCAI_PROMETHEUS_URL)" for n in needed})
    from orcai.prometheus import PrometheusClient
    try:
        queries = load_resources(settings.resources_file)
    except PolicyInvalid as exc:
        return ResourceHistory({}, {n: f"{settings.resources_file} is invalid: {exc}" for n in needed})
    client = PrometheusClient(settings)
    try:
        points, missing = resource_history(client, queries, needed, since_ms / 1000, now_ms / 1000, RESOURCE_STEP_S)
    finally:
        client.close()
    return ResourceHistory({n: {int(t * 1000): v for t, v in series.items()} for n, series in points.items()},
                           missing)
