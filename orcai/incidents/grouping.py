"""Symptoms → incidents, each with a probable root cause, its evidence and its blast radius.
Pure: data in, data out; the worker stage (orcai.incidents.stage) reads and writes the graph.

A symptom is something wrong now: an open anomaly, a failed task or DAG run, a run late,
stuck or queued too long. The grouping, in order:

1. **Airflow itself.** When several DAGs are late or missing and no task has started
   anywhere for a while, the scheduler (or its executor) is the cause: one incident takes
   every late, missing and queued symptom. Once tasks start again, while it is still open,
   the runs found missed join it, but not the DAGs whose tasks waited on their pool.
2. **Pool starvation.** Tasks that waited long in the same pool (or while it was full) are
   one incident rooted at the pool.
3. **Lineage.** Symptoms sit on nodes (a task, or a DAG's run as a whole). A node is
   explained by a symptom upstream of it (inside its DAG, or across DAGs through the
   assets it waits on) that began before it, within the window; a DAG-level symptom is also
   explained by a symptom on one of its own tasks. Nodes nothing explains are roots; every
   other node joins the root it descends from (the earliest, if several).
4. **External system.** Roots on different DAGs, not linked by lineage, that failed at about
   the same time on tasks using the same external system are one incident rooted there.

A root on a task is `task`; on a DAG-level late/missing run of an asset-scheduled DAG
whose producers show nothing, the asset that did not arrive (`asset`); otherwise `dag`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from orcai.incidents.topology import Topology
from orcai.model import MINUTE_MS

WINDOW_MS = 6 * 60 * MINUTE_MS  # symptoms further apart than this are not one cause
SLACK_MS = 5 * MINUTE_MS  # an explaining symptom may be detected a little after the one it explains
AIRFLOW_IDLE_MS = 10 * MINUTE_MS  # no task started anywhere for this long …
AIRFLOW_MIN_DAGS = 3  # … while at least this many DAGs are late or missing
POOL_WAIT_S = 120.0  # queued this long (and several times its usual) counts as waiting on the pool
POOL_FULL_WAIT_S = 45.0  # … or this long while the pool was seen full (orcai.sync marks those runs)
FAILURE_KINDS = ("failed", "failure_streak", "failure_rate", "retries")
SCHEDULE_KINDS = ("late", "missing", "queued", "stuck_queued")
WAIT_KINDS = ("queued", "stuck_queued")  # a task run waiting to start: it began when the wait did
ROOT_KINDS = ("task", "asset", "pool", "external_system", "dag", "airflow")


@dataclass(frozen=True)
class Symptom:
    key: str  # the graph node's key (Anomaly, TaskRun or DagRun)
    label: str  # Anomaly | TaskRun | DagRun
    kind: str  # failed, slow, late, missing, stuck, retries, queued, failure_streak, …
    dag_id: str
    at: int  # epoch ms when it began (its run's start or logical date)
    task_key: str | None = None  # None: the DAG's run as a whole
    severity: str = "medium"
    reason: str = ""
    run_id: str | None = None
    pool: str | None = None
    queued_s: float | None = None
    usual_queued_s: float | None = None
    pool_full: bool = False  # the pool had no free slot while this waited
    # When its condition began, where that is before `at`: a late or missing run is known
    # (`at`) when it is detected, but the run that revealed it began earlier; a wait began
    # when the task run was scheduled (else queued), not when it finally started
    run_start: int | None = None

    @property
    def node(self) -> str:
        return self.task_key or f"dag:{self.dag_id}"

    @property
    def waited_on_pool(self) -> bool:
        if not self.pool or self.queued_s is None:
            return False
        usual = self.usual_queued_s or 0.0
        return self.pool_full or (self.queued_s >= POOL_WAIT_S and self.queued_s >= 3 * max(usual, 1.0))


@dataclass(frozen=True)
class AirflowPulse:
    """Whether Airflow is doing anything: when the newest task anywhere started."""
    now_ms: int
    last_task_start_ms: int | None
    outage_open: bool = False  # an incident rooted at Airflow itself is still open

    @property
    def idle_ms(self) -> int:
        return self.now_ms - (self.last_task_start_ms or 0)


@dataclass
class Draft:
    """An incident as the grouping sees it this cycle (orcai.incidents.lifecycle keeps it going)."""
    root_kind: str
    root_key: str
    symptoms: list[Symptom]
    evidence: list[str] = field(default_factory=list)
    candidates: list[tuple[str, str]] = field(default_factory=list)  # ranked (kind, key), root first
    root_dag: str | None = None  # the DAG the root lives in (a task or DAG root)
    blast_dags: list[str] = field(default_factory=list)  # DAGs downstream (hit or at risk), critical first
    blast_assets: list[str] = field(default_factory=list)

    @property
    def opened_at(self) -> int:
        return min(s.at for s in self.symptoms)

    @property
    def began_at(self) -> int:
        """When its condition was first there: its first symptom, or the earlier start of a
        run one was found on (the re-open rule of orcai.incidents.lifecycle)."""
        return min(min(s.at, s.run_start if s.run_start is not None else s.at) for s in self.symptoms)

    @property
    def dags_hit(self) -> list[str]:
        return sorted({s.dag_id for s in self.symptoms})

    @property
    def summary(self) -> str:
        return self.summary_of(len(self.symptoms), len(self.dags_hit))

    def summary_of(self, n: int, dags: int) -> str:
        """The summary of an incident of this root with `n` symptoms in `dags` DAGs (an incident
        carried on over cycles holds more than this cycle's draft)."""
        name = {"task": "task", "asset": "asset", "pool": "pool", "external_system": "external system",
                "dag": "DAG", "airflow": "Airflow itself"}[self.root_kind]
        root = name if self.root_kind == "airflow" else f"{name} {self.root_key}"
        return (f"{root}: {n} symptom{'s' * (n != 1)} in {dags} DAG{'s' * (dags != 1)}"
                + (f", {len(self.blast_dags)} DAGs downstream" if len(self.blast_dags) > dags else ""))


def group_symptoms(symptoms: list[Symptom], topo: Topology, pulse: AirflowPulse | None = None) -> list[Draft]:
    """Every symptom lands in exactly one draft incident; drafts are ordered by when they began."""
    remaining = sorted(symptoms, key=lambda s: (s.at, s.key))
    drafts: list[Draft] = []
    airflow, remaining = _airflow_itself(remaining, pulse, topo)
    drafts += airflow
    pools, remaining = _pool_starvation(remaining, topo)
    drafts += pools
    taken = {s.node: d for d in drafts for s in d.symptoms}
    drafts += _merge_by_system(_by_lineage(remaining, topo, taken), topo)
    return sorted(drafts, key=lambda d: (d.opened_at, d.root_key))


# --- 1. Airflow itself ---------------------------------------------------------------------

def _airflow_itself(symptoms, pulse, topo) -> tuple[list[Draft], list[Symptom]]:
    """Late and missing runs while nothing starts anywhere; and, while that incident is open,
    the runs found missed once Airflow is back (their gap is the outage)."""
    waiting = [s for s in symptoms if s.kind in SCHEDULE_KINDS]
    dags = {s.dag_id for s in waiting}
    down = pulse is not None and len(dags) >= AIRFLOW_MIN_DAGS and pulse.idle_ms >= AIRFLOW_IDLE_MS
    behind = [] if down else _missed_together(waiting, topo)
    if behind:
        return _scheduler_behind(behind, symptoms, topo)
    if not down:  # an outage incident still open: a DAG whose task waited on its pool waits on the pool
        pooled = {s.dag_id for s in waiting if s.waited_on_pool}
        waiting = [s for s in waiting if s.dag_id not in pooled]
    if not waiting or not (down or (pulse is not None and pulse.outage_open)):
        return [], symptoms
    draft = Draft("airflow", "scheduler", waiting, candidates=[("airflow", "scheduler")])
    draft.evidence = ([f"no task started anywhere for {pulse.idle_ms // MINUTE_MS} min "
                       f"while {len(dags)} DAGs are late or missing"] if down else
                      [f"Airflow started tasks again; {len(dags)} DAGs show the runs they missed meanwhile"])
    draft.evidence.append("the DAGs hit share no upstream task, asset or pool: they only share Airflow")
    draft.blast_dags, draft.blast_assets = topo.rank_dags(dags), []
    taken = {s.key for s in waiting}
    return [draft], [s for s in symptoms if s.key not in taken]


def _missed_together(waiting: list[Symptom], topo) -> list[Symptom]:
    """Missing runs of several DAGs, not linked by lineage, within a few minutes of each
    other: the scheduler fell behind (a run can only go missing through the scheduler)."""
    missing = sorted((s for s in waiting if s.kind == "missing"), key=lambda s: s.at)
    upstream: dict[str, set[str]] = {}  # each DAG's upstream, walked once: after an outage
    # hundreds of DAGs can show missed runs at once

    def others_upstream(dag: str) -> set[str]:
        if dag not in upstream:
            upstream[dag] = topo.upstream_of(f"dag:{dag}") - {f"dag:{dag}"}
        return upstream[dag]

    for i, first in enumerate(missing):
        near = [s for s in missing[i:] if s.at - first.at <= SLACK_MS]
        dags = {s.dag_id for s in near}
        if len(dags) < AIRFLOW_MIN_DAGS:
            continue
        nodes = {f"dag:{d}" for d in dags}
        if not any(others_upstream(d) & nodes for d in dags):
            return near
    return []


def _scheduler_behind(behind, symptoms, topo) -> tuple[list[Draft], list[Symptom]]:
    dags = {s.dag_id for s in behind}
    draft = Draft("airflow", "scheduler", behind, candidates=[("airflow", "scheduler")])
    draft.evidence = [f"{len(dags)} DAGs not linked by lineage missed scheduled runs within "
                      f"{(max(s.at for s in behind) - min(s.at for s in behind)) // MINUTE_MS} min of each other: "
                      "the scheduler fell behind", "the DAGs hit share no upstream task, asset or pool: they only share Airflow"]
    draft.blast_dags, draft.blast_assets = topo.rank_dags(dags), []
    taken = {s.key for s in behind}
    return [draft], [s for s in symptoms if s.key not in taken]


# --- 2. pool starvation --------------------------------------------------------------------

def _pool_starvation(symptoms, topo) -> tuple[list[Draft], list[Symptom]]:
    by_pool: dict[str, list[Symptom]] = defaultdict(list)
    for s in symptoms:
        if s.waited_on_pool and s.kind not in FAILURE_KINDS:
            by_pool[s.pool].append(s)
    drafts, taken = [], set()
    for pool, waiting in sorted(by_pool.items()):
        if len(waiting) < 2 and not any(s.pool_full for s in waiting):
            continue
        draft = Draft("pool", pool, waiting, candidates=[("pool", pool)])
        longest = max(waiting, key=lambda s: s.queued_s or 0)
        full = sum(s.pool_full for s in waiting)
        draft.evidence = [f"{len(waiting)} task runs waited in pool {pool}, up to {_minutes(longest.queued_s)} "
                          f"({longest.task_key})" + (f"; the pool was full for {full} of them" if full else "")]
        draft.blast_dags, draft.blast_assets = topo.blast({s.node for s in waiting})
        drafts.append(draft)
        taken |= {s.key for s in waiting}
    return drafts, [s for s in symptoms if s.key not in taken]


# --- 3. lineage ----------------------------------------------------------------------------

def _explainers(node: str, nodes: dict[str, list[Symptom]], topo: Topology) -> set[str]:
    """Symptom nodes that could have caused `node`'s symptoms: upstream of it, and for a DAG
    node also its own tasks; never its own DAG node."""
    dag = topo.dag_of(node)
    ups = topo.upstream_of(node) - {f"dag:{dag}"} if dag else set()
    own = topo.tasks_of.get(node[4:], set()) if node.startswith("dag:") else set()
    first = min(s.at for s in nodes[node])
    runs = {s.run_id for s in nodes[node] if s.run_id}
    # A task of the DAG with a symptom in the same DAG run explains it whenever that began: a
    # failed task's symptom starts with its last try, often minutes after its DAG run began
    # (Airflow's default retry_delay is 5 min), which made one failure two incidents.
    same_run = {u for u in own if u in nodes and any(s.run_id in runs for s in nodes[u])}
    return same_run | {u for u in ups | own if u in nodes and u != node
                       and min(s.at for s in nodes[u]) <= first + SLACK_MS
                       and first - min(s.at for s in nodes[u]) <= WINDOW_MS}


def _by_lineage(symptoms: list[Symptom], topo: Topology, taken: dict[str, Draft]) -> list[Draft]:
    """Lineage drafts of `symptoms`; a group descending from a node an earlier rule took
    (a pool's waiting task, Airflow's late runs) joins that rule's draft instead."""
    nodes: dict[str, list[Symptom]] = defaultdict(list)
    for s in symptoms:
        nodes[s.node].append(s)
    for node, draft in taken.items():
        if node not in nodes:
            nodes[node] = [s for s in draft.symptoms if s.node == node]
    explainers = {node: _explainers(node, nodes, topo) for node in nodes}
    roots = sorted((n for n, ex in explainers.items() if not ex), key=lambda n: (min(s.at for s in nodes[n]), n))
    members: dict[str, list[str]] = {root: [root] for root in roots}
    for node in nodes:
        if node in members:
            continue
        ancestors = _root_ancestors(node, explainers)
        if ancestors:
            members[min(ancestors, key=lambda r: (min(s.at for s in nodes[r]), r))].append(node)
        else:  # explained only inside a cycle: its own root
            members[node] = [node]
    drafts = []
    for root, group in members.items():
        if root in taken:
            placed = {s.key for s in taken[root].symptoms}
            taken[root].symptoms += [s for n in group for s in nodes[n] if s.key not in placed]
        else:
            placed = {s.key for n in group if n in taken for s in taken[n].symptoms}
            nodes_left = {n: [s for s in nodes[n] if s.key not in placed] for n in group}
            drafts.append(_lineage_draft(root, [n for n in group if nodes_left[n]], nodes_left, topo))
    return drafts


def _root_ancestors(node: str, explainers: dict[str, set[str]]) -> set[str]:
    seen, stack, roots = set(), [node], set()
    while stack:
        current = stack.pop()
        for ex in explainers.get(current, ()):
            if ex in seen:
                continue
            seen.add(ex)
            if explainers.get(ex):
                stack.append(ex)
            else:
                roots.add(ex)
    return roots


def _lineage_draft(root: str, group: list[str], nodes: dict[str, list[Symptom]], topo: Topology) -> Draft:
    symptoms = sorted((s for n in group for s in nodes[n]), key=lambda s: (s.at, s.key))
    first = min(nodes[root], key=lambda s: (s.kind != "failed", s.at))
    kind, key = _root_of(root, nodes[root], nodes, topo)
    draft = Draft(kind, key, symptoms, root_dag=topo.dag_of(root) if kind in ("task", "dag") else None)
    others = sorted((n for n in group if n != root), key=lambda n: (min(s.at for s in nodes[n]), n))
    draft.candidates = [(kind, key)] + [_node_candidate(n) for n in others]
    if not root.startswith("dag:"):
        draft.candidates += [("external_system", name) for name in sorted(topo.systems.get(root, ()))]
        if topo.pools.get(root):
            draft.candidates.append(("pool", topo.pools[root]))
    draft.evidence = [f"{_describe(first)}" + (f": {first.reason}" if first.reason else "")]
    # a task's own DAG run failing with it is a consequence, but not downstream of it
    own_run = None if root.startswith("dag:") else f"dag:{topo.dag_of(root)}"
    if own_run in others:
        draft.evidence.append(f"its own DAG run went wrong with it: {_short(own_run)}")
    downstream = [n for n in others if n != own_run]
    if downstream:
        draft.evidence.append(f"{len(downstream)} downstream node{'s' * (len(downstream) != 1)} went wrong after it: "
                              + ", ".join(_short(n) for n in downstream[:5]) + (" …" if len(downstream) > 5 else ""))
    draft.evidence.append("nothing upstream of it shows a symptom")
    start = {root} if kind != "asset" else {f"dag:{d}" for d in topo.consumers.get(key, ())}
    draft.blast_dags, draft.blast_assets = topo.blast(start)
    if kind == "asset":
        draft.blast_assets = sorted(set(draft.blast_assets) | {key})
    return draft


def _root_of(root: str, own: list[Symptom], nodes, topo: Topology) -> tuple[str, str]:
    if not root.startswith("dag:"):
        return "task", root
    dag = root[4:]
    assets = sorted(topo.scheduled_on.get(dag, ()))
    if assets and all(s.kind in SCHEDULE_KINDS for s in own):
        return "asset", assets[0]
    return "dag", dag


def _node_candidate(node: str) -> tuple[str, str]:
    return ("dag", node[4:]) if node.startswith("dag:") else ("task", node)


# --- 4. shared external system -------------------------------------------------------------

def _merge_by_system(drafts: list[Draft], topo: Topology) -> list[Draft]:
    failing = [d for d in drafts if d.root_kind == "task" and any(s.kind in FAILURE_KINDS for s in d.symptoms)]
    by_system: dict[str, list[Draft]] = defaultdict(list)
    for d in failing:
        for name in topo.systems.get(d.root_key, ()):
            by_system[name].append(d)
    merged_ids: set[int] = set()
    out = []
    for name, group in sorted(by_system.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        group = [d for d in group if id(d) not in merged_ids]
        if len({d.root_dag for d in group}) < 2 or _spread(group) > 30 * MINUTE_MS:
            continue
        symptoms = sorted((s for d in group for s in d.symptoms), key=lambda s: (s.at, s.key))
        draft = Draft("external_system", name, symptoms)
        draft.candidates = [("external_system", name)] + [c for d in group for c in d.candidates[:1]]
        draft.evidence = [f"{len(group)} tasks using {name} failed within {_minutes(_spread(group) / 1000)} "
                          f"of each other, in {len({d.root_dag for d in group})} DAGs not linked by lineage: "
                          + ", ".join(d.root_key for d in group)]
        dags = set().union(*(d.blast_dags for d in group))
        draft.blast_dags = topo.rank_dags(dags)
        draft.blast_assets = sorted(set().union(*(d.blast_assets for d in group)))
        merged_ids |= {id(d) for d in group}
        out.append(draft)
    return out + [d for d in drafts if id(d) not in merged_ids]


def _spread(group: list[Draft]) -> int:
    starts = [d.opened_at for d in group]
    return max(starts) - min(starts)


# --- words ---------------------------------------------------------------------------------

def _minutes(seconds: float | None) -> str:
    seconds = float(seconds or 0)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _short(node: str) -> str:
    return node[4:] + " (run)" if node.startswith("dag:") else node


def _describe(s: Symptom) -> str:
    where = s.task_key or f"{s.dag_id} (its run)"
    return f"{where} {s.kind.replace('_', ' ')} first, at {_hhmm(s.at)} UTC"


def _hhmm(ms: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
