"""Graph rows → Symptoms, and which of them are still active. Pure.

A symptom is active while its task (or, for a DAG-level symptom, its DAG) has not had a
successful run that started after it: a later success is the recovery that resolves it.
"""

from __future__ import annotations

from orcai.incidents.grouping import SCHEDULE_KINDS, WAIT_KINDS, Symptom
from orcai.model import MINUTE_MS
from orcai.schedules import known_interval_s

OVERDUE_GRACE_MS = 2 * MINUTE_MS  # plus a quarter of the interval: a run this late is missing
# A task run many times its usual while the other tasks keep their pace is slow, whatever
# the detector's tail for it says: a history taken on a busy machine has a wide tail, and
# what the detector cannot call rare, the moment can (everything else ran as usual).
SLOW_RATIO = 5.0  # at least this many times its usual run time, and this many times the others' pace
SLOW_MIN_EXCESS_S = 10.0  # and this much longer than its usual (the detector's floor too)
SLOW_PEERS = 3  # the others' pace counts from this many of their runs meanwhile
# and slower than all but the slowest of its task's last this many runs: one earlier fault
# among them does not hide a second, a task often this slow is not slow now
SLOW_HISTORY = 30

DAG_LEVEL_LABELS = ("DagRun",)


def began(row: dict, kind: str) -> int | None:
    """When a symptom's condition began, if before it was seen: a wait when the task run was
    scheduled (else queued), anything else when its run started."""
    start = row.get("waited_from") if kind in WAIT_KINDS and row.get("waited_from") is not None \
        else row.get("run_start")
    return int(start) if start is not None else None


def from_anomaly(row: dict) -> Symptom:
    on_dag_run = row.get("target") in ("DagRun", "Dag")
    kind = row.get("kind") or "anomaly"
    # A late or missing run is known when it is detected; a task's anomaly began with its run.
    at = row.get("detected_at") if kind in SCHEDULE_KINDS or row.get("run_start") is None else row["run_start"]
    return Symptom(key=row["key"], label="Anomaly", kind=kind, dag_id=row["dag_id"], at=int(at),
                   task_key=None if on_dag_run else row.get("task_key"), severity=row.get("severity") or "medium",
                   reason=row.get("reason") or "", run_id=row.get("run_id"), run_start=began(row, kind))


def from_failed_task_run(row: dict) -> Symptom:
    tries = int(row.get("try_number") or 1)
    return Symptom(key=row["key"], label="TaskRun", kind="failed", dag_id=row["dag_id"], at=int(row["at"]),
                   task_key=row["task_key"], severity="high", run_id=row.get("run_id"), pool=row.get("pool"),
                   reason=f"failed on try {tries}" if tries > 1 else "failed")


def from_failed_dag_run(row: dict) -> Symptom:
    return Symptom(key=row["key"], label="DagRun", kind="failed", dag_id=row["dag_id"], at=int(row["at"]),
                   severity="high", run_id=row.get("run_id"), reason="run failed")


def from_queued_task_run(row: dict) -> Symptom:
    # The sync samples pools once a cycle: a pool never seen full while the task waited
    # points at the scheduler or the executor (its parallelism), not at the pool's slots.
    where = (f"for a slot in pool {row.get('pool')} ({row['pool_full']})" if row.get("pool_full")
             else f"to start; pool {row.get('pool')} was not seen full (the scheduler or the executor)")
    return Symptom(key=row["key"], label="TaskRun", kind="queued", dag_id=row["dag_id"], at=int(row["at"]),
                   task_key=row["task_key"], run_id=row.get("run_id"), pool=row.get("pool"),
                   queued_s=row.get("queued_s"), usual_queued_s=row.get("usual_queued_s"),
                   pool_full=bool(row.get("pool_full")), run_start=began(row, "queued"),
                   reason=f"waited {_span(row.get('queued_s'))} {where}")


def from_retrying_task_run(row: dict) -> Symptom:
    tries = int(row.get("try_number") or 1)
    return Symptom(key=row["key"], label="TaskRun", kind="retries", dag_id=row["dag_id"], at=int(row["at"]),
                   task_key=row["task_key"], severity="medium", run_id=row.get("run_id"), pool=row.get("pool"),
                   reason=f"on try {tries}: {tries - 1} retries" + (" before it succeeded" if row.get("state") == "success"
                                                                     else ""))


def slow_runs(rows: list[dict], pace: dict[str, dict], recent: dict[str, list[float]],
              flagged: set[tuple[str, str]]) -> list[Symptom]:
    """Long task runs (incident_store.long_runs rows) that stand out: slower than all but one
    of their task's recent runs (`recent`: incident_store.recent_run_times), and many times
    their usual while the other tasks' runs meanwhile (`pace`: incident_store.pace_around)
    kept theirs. A run the detector flagged already (`flagged`: (task key, run id) of open
    anomalies) is that anomaly's symptom."""
    out = []
    for row in rows:
        others = pace.get(row["key"]) or {}
        load = float(others["pace"] or 1.0) if int(others.get("peers") or 0) >= SLOW_PEERS else None
        ratio = float(row["ran_s"]) / float(row["usual_s"])
        before = sorted(recent.get(row["key"]) or [], reverse=True)
        if ((row["task_key"], row.get("run_id")) in flagged or ratio < SLOW_RATIO * max(1.0, load or 1.0)
                or float(row["ran_s"]) <= (before[1] if len(before) > 1 else 0.0)):
            continue
        out.append(Symptom(key=row["key"], label="TaskRun", kind="slow", dag_id=row["dag_id"], at=int(row["at"]),
                           task_key=row["task_key"], severity="low", run_id=row.get("run_id"), pool=row.get("pool"),
                           reason=_slow_reason(row, ratio, load)))
    return out


def _slow_reason(row: dict, ratio: float, load: float | None) -> str:
    """"ran 31 s, 21× its usual 1.5 s, while the other tasks ran at 1.3× theirs"."""
    ran = f"{'running for' if row.get('state') == 'running' else 'ran'} {_span(row['ran_s'])}"
    others = f", while the other tasks ran at {load:.1f}× theirs" if load is not None else ""
    return f"{ran}, {ratio:.0f}× its usual {_span(row['usual_s'])}{others}"


def _span(seconds) -> str:
    seconds = float(seconds or 0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def overdue_dags(rows: list[dict], now_ms: int) -> list[Symptom]:
    """Scheduled DAGs whose next run has not started (dag_store rows: dag_id, schedule,
    last_run_at): a run is missing before any run exists to flag. Such a symptom has no
    node of its own (label `Dag`); it lasts until the DAG runs again."""
    out = []
    for row in rows:
        interval_s = known_interval_s(row.get("schedule"))
        if not interval_s or row.get("last_run_at") is None:
            continue
        due = int(row["last_run_at"]) + interval_s * 1000
        if now_ms > due + OVERDUE_GRACE_MS + interval_s * 250:
            missed = (now_ms - int(row["last_run_at"])) // (interval_s * 1000)
            out.append(Symptom(key=f"overdue:{row['dag_id']}@{due}", label="Dag", kind="missing",
                               dag_id=row["dag_id"], at=due, severity="high",
                               reason=f"no run started for {(now_ms - due) // MINUTE_MS} min: "
                                      f"{missed} scheduled run{'s' * (missed != 1)} missing"))
    return out


def active(symptoms: list[Symptom], task_success: dict[str, int], dag_success: dict[str, int]) -> list[Symptom]:
    """The symptoms nothing has recovered from yet; a symptom on the same node as another of
    the same key is kept once."""
    out, seen = [], set()
    for s in symptoms:
        recovered_at = task_success.get(s.task_key) if s.task_key else dag_success.get(s.dag_id)
        if s.key in seen or (recovered_at is not None and recovered_at > s.at):
            continue
        seen.add(s.key)
        out.append(s)
    return out
