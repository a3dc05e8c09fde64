"""Fault scenarios as data, shared by the unit tests and tests/benchmarks/incident_quality.py.

One small estate: `ingest` (extract → load, load writes postgres://warehouse/orders in pool
`db`) feeds `transform` through that asset; `transform` (build → publish) writes
s3://lake/marts, on which `report` and `dashboard` are scheduled: three levels of DAGs
linked by assets. `ml`, `billing` and `audit` stand alone; `ml.fetch` and `billing.pull`
both call http://partner-api. Each fault is the symptoms ORC AI would see, and its truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from orcai.incidents.grouping import AirflowPulse, Symptom
from orcai.incidents.topology import Topology

T0 = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC
MIN = 60_000
ORDERS, MARTS = "postgres://warehouse/orders", "s3://lake/marts"


def estate() -> Topology:
    tasks = {"ingest.extract": "ingest", "ingest.load": "ingest", "transform.build": "transform",
             "transform.publish": "transform", "report.render": "report", "dashboard.refresh": "dashboard",
             "ml.fetch": "ml", "ml.train": "ml", "billing.pull": "billing", "billing.post": "billing",
             "audit.scan": "audit"}
    return Topology(
        task_dag=tasks,
        upstream={"ingest.load": {"ingest.extract"}, "transform.publish": {"transform.build"},
                  "ml.train": {"ml.fetch"}, "billing.post": {"billing.pull"}},
        produces={"ingest.load": {ORDERS}, "transform.publish": {MARTS}},
        scheduled_on={"transform": {ORDERS}, "report": {MARTS}, "dashboard": {MARTS}},
        systems={"ingest.load": {"postgres://warehouse"}, "ml.fetch": {"http://partner-api"},
                 "billing.pull": {"http://partner-api"}},
        pools={"ingest.load": "db", "ml.train": "db", "billing.post": "db", "audit.scan": "db"},
        criticality={"ingest": 3, "transform": 2, "report": 0, "dashboard": 0})


@dataclass
class Fault:
    name: str
    cls: str  # the fault class
    truth: tuple[str, str]  # (root kind, root key)
    symptoms: list[Symptom]
    idle_min: int = 0  # minutes with no task start anywhere (the scheduler stopped)


def _run(dag: str, at: int) -> str:
    return f"{dag}/run_{at}"


def task_symptom(task: str, kind: str, at: int, tag: str, **extra) -> Symptom:
    dag, task_id = task.split(".")
    label = "TaskRun" if kind == "failed" else "Anomaly"
    key = f"{_run(dag, at)}/{task_id}/-1" if label == "TaskRun" else f"{kind}:{_run(dag, at)}/{task_id}/-1"
    return Symptom(key=f"{tag}:{key}", label=label, kind=kind, dag_id=dag, at=at, task_key=task,
                   run_id=f"run_{at}", **extra)


def dag_symptom(dag: str, kind: str, at: int, tag: str) -> Symptom:
    label = "DagRun" if kind == "failed" else "Anomaly"
    return Symptom(key=f"{tag}:{kind}:{_run(dag, at)}", label=label, kind=kind, dag_id=dag, at=at)


DOWNSTREAM = {"ingest": ["transform", "report", "dashboard"], "transform": ["report", "dashboard"],
              "ml": [], "billing": [], "audit": [], "report": [], "dashboard": []}


def cascade(task: str, t: int, tag: str) -> Fault:
    """An upstream task fails; its DAG fails; every DAG downstream through assets misses its run."""
    dag = task.split(".")[0]
    symptoms = [task_symptom(task, "failed", t, tag), task_symptom(task, "failure_streak", t + 2 * MIN, tag),
                dag_symptom(dag, "failed", t + MIN, tag)]
    symptoms += [dag_symptom(d, "missing", t + (i + 1) * 20 * MIN, tag) for i, d in enumerate(DOWNSTREAM[dag])]
    return Fault(f"cascade from {task}", "upstream failure cascade", ("task", task), symptoms)


def slow_upstream(task: str, t: int, tag: str) -> Fault:
    dag = task.split(".")[0]
    symptoms = [task_symptom(task, "slow", t, tag)]
    symptoms += [dag_symptom(d, "late", t + (i + 1) * 15 * MIN, tag) for i, d in enumerate(DOWNSTREAM[dag])]
    return Fault(f"slow upstream {task}", "slow upstream", ("task", task), symptoms)


def pool_starvation(tasks: list[str], t: int, tag: str, pool: str = "db") -> Fault:
    symptoms = []
    for i, task in enumerate(tasks):
        symptoms.append(task_symptom(task, "queued", t + i * MIN, tag, pool=pool, queued_s=600.0 + 60 * i,
                                     usual_queued_s=2.0, pool_full=i == 0))
        symptoms.append(dag_symptom(task.split(".")[0], "late", t + i * MIN + 10 * MIN, tag))
    return Fault(f"pool {pool} starved ({len(tasks)} tasks)", "pool starvation", ("pool", pool), symptoms)


def retry_storm(task: str, t: int, tag: str) -> Fault:
    dag = task.split(".")[0]
    symptoms = [task_symptom(task, "retries", t, tag, reason="try 4 of 4"),
                task_symptom(task, "failure_rate", t + 3 * MIN, tag), dag_symptom(dag, "late", t + 12 * MIN, tag)]
    symptoms += [dag_symptom(d, "late", t + (i + 2) * 15 * MIN, tag) for i, d in enumerate(DOWNSTREAM[dag])]
    return Fault(f"retry storm {task}", "retry storm", ("task", task), symptoms)


def own_slowness(task: str, t: int, tag: str) -> Fault:
    dag = task.split(".")[0]
    symptoms = [task_symptom(task, "slow", t, tag), dag_symptom(dag, "late", t + 5 * MIN, tag)]
    return Fault(f"own slowness {task}", "own slowness", ("task", task), symptoms)


def scheduler_stopped(dags: list[str], t: int, tag: str, idle_min: int = 20) -> Fault:
    symptoms = [dag_symptom(d, "late" if i % 2 else "missing", t + i * MIN, tag) for i, d in enumerate(dags)]
    return Fault(f"scheduler stopped ({len(dags)} DAGs late)", "scheduler stopped", ("airflow", "scheduler"),
                 symptoms, idle_min=idle_min)


def partner_api_down(t: int, tag: str) -> Fault:
    symptoms = [task_symptom("ml.fetch", "failed", t, tag), task_symptom("billing.pull", "failed", t + 2 * MIN, tag),
                dag_symptom("ml", "failed", t + 3 * MIN, tag), dag_symptom("billing", "failed", t + 4 * MIN, tag)]
    return Fault("partner API down", "external system", ("external_system", "http://partner-api"), symptoms)


def single_faults() -> list[Fault]:
    """At least 30 faults of six classes, each alone, an hour apart."""
    faults = []
    makers = [
        *(lambda t, g, task=task: cascade(task, t, g) for task in
          ("ingest.load", "ingest.extract", "transform.build", "transform.publish", "ml.fetch", "billing.pull")),
        *(lambda t, g, task=task: slow_upstream(task, t, g) for task in
          ("ingest.load", "ingest.extract", "transform.build", "transform.publish")),
        *(lambda t, g, tasks=tasks: pool_starvation(tasks, t, g) for tasks in
          (["ml.train", "billing.post"], ["ml.train", "billing.post", "audit.scan"], ["audit.scan"],
           ["ingest.load", "audit.scan"])),
        *(lambda t, g, task=task: retry_storm(task, t, g) for task in
          ("ingest.load", "transform.build", "billing.pull", "ml.fetch", "audit.scan")),
        *(lambda t, g, task=task: own_slowness(task, t, g) for task in
          ("audit.scan", "ml.train", "report.render", "dashboard.refresh", "billing.post")),
        *(lambda t, g, dags=dags: scheduler_stopped(dags, t, g) for dags in
          (["ingest", "ml", "billing"], ["ingest", "ml", "billing", "audit"], ["audit", "report", "ml", "billing"],
           ["ml", "billing", "audit", "ingest", "transform"])),
        lambda t, g: partner_api_down(t, g),
        lambda t, g: partner_api_down(t, g),
    ]
    for i, make in enumerate(makers):
        faults.append(make(T0 + i * 24 * 60 * MIN, f"f{i}"))
    return faults


def concurrent_pairs() -> list[tuple[Fault, Fault]]:
    """Two independent faults at the same time: they must stay two incidents."""
    t = T0 - 30 * 24 * 60 * MIN
    return [
        (cascade("ingest.load", t, "a"), own_slowness("audit.scan", t + 5 * MIN, "b")),
        (slow_upstream("transform.build", t, "a"), retry_storm("billing.pull", t + MIN, "b")),
        (cascade("transform.publish", t, "a"), own_slowness("ml.train", t + 2 * MIN, "b")),
        (pool_starvation(["ml.train", "billing.post"], t, "a"), cascade("ingest.extract", t + 3 * MIN, "b")),
        (retry_storm("ml.fetch", t, "a"), slow_upstream("ingest.load", t + 4 * MIN, "b")),
        (own_slowness("report.render", t, "a"), cascade("billing.pull", t + 10 * MIN, "b")),
    ]


def pulse_for(fault_symptoms: list[Symptom], idle_min: int) -> AirflowPulse:
    now = max(s.at for s in fault_symptoms) + MIN
    return AirflowPulse(now, now - idle_min * MIN if idle_min else now - MIN)
