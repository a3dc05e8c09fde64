"""Write finished DAG runs and task instances straight into a local Airflow's metadata DB,
with Airflow's own models (run by the Airflow virtualenv's python, AIRFLOW_HOME set):

    .orcai/airflow-venv/bin/python tests/benchmarks/airflow_history.py --prefix bench_ --days 30 --every-h 4

For the catch-up benchmark (airflow_scale.py --catch-up): a million task instances cannot be
produced through the scheduler in the time a benchmark has. Every DAG whose id starts with
`--prefix` gets a run every `--every-h` hours over the last `--days` days, each task of its
newest version one task instance (one in 50 failed, and then its run), each last updated
when it ended, as the scheduler would have left it; rows are inserted in bulk through
SQLAlchemy Core on the models' tables, so Airflow's column defaults (ids) apply. Prints one JSON line: runs and task instances written, seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from airflow.models.dagrun import DagRun
from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from airflow.utils.types import DagRunTriggeredByType

CHUNK = 20_000  # rows per INSERT … VALUES executemany (SQLite commits each)


def newest_versions(session, prefix: str) -> dict[str, tuple[str, list[str]]]:
    """dag_id -> (its newest version id, its task ids)."""
    versions = {}
    rows = session.scalars(select(SerializedDagModel).where(SerializedDagModel.dag_id.startswith(prefix))
                           .order_by(SerializedDagModel.created_at))
    for row in rows:  # newest last: it wins
        tasks = [t["__var"]["task_id"] for t in row.data["dag"]["tasks"]]
        versions[row.dag_id] = (row.dag_version_id, tasks)
    return versions


def history_rows(versions, days: float, every_h: float, now: datetime, seed: int = 14):
    rng = random.Random(seed)
    step = timedelta(hours=every_h)
    first = now - timedelta(days=days)
    for dag_id, (version_id, tasks) in sorted(versions.items()):
        at = first
        while at < now - step:
            run_id = f"scheduled__{at.isoformat()}"
            start, failed = at + timedelta(seconds=5), False
            task_rows = []
            for task_id in tasks:
                duration = rng.uniform(5, 120)
                state = "failed" if rng.random() < 0.02 else "success"
                failed |= state == "failed"
                task_rows.append({"task_id": task_id, "dag_id": dag_id, "run_id": run_id, "map_index": -1,
                                  "start_date": start, "end_date": start + timedelta(seconds=duration),
                                  "duration": duration, "state": state, "try_number": 1, "max_tries": 0,
                                  "hostname": "bench", "pool": "default_pool", "pool_slots": 1,
                                  "queue": "default", "priority_weight": 1, "operator": "EmptyOperator",
                                  "queued_dttm": start, "dag_version_id": version_id,
                                  "updated_at": start + timedelta(seconds=duration)})
                start += timedelta(seconds=duration)
            run = {"dag_id": dag_id, "run_id": run_id, "run_type": "scheduled", "logical_date": at,
                   "run_after": at, "data_interval_start": at, "data_interval_end": at + step,
                   "queued_at": at, "start_date": at + timedelta(seconds=5), "end_date": start,
                   "state": "failed" if failed else "success", "triggered_by": DagRunTriggeredByType.TIMETABLE,
                   "created_dag_version_id": version_id, "clear_number": 0, "updated_at": start}
            yield run, task_rows
            at += step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", default="bench_")
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--every-h", type=float, default=4)
    args = parser.parse_args()
    started = time.monotonic()
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with create_session() as session:
        versions = newest_versions(session, args.prefix)
    runs = task_instances = 0
    run_rows, ti_rows = [], []

    def flush() -> None:
        with create_session() as session:
            if run_rows:
                session.execute(insert(DagRun.__table__), run_rows)
            if ti_rows:
                session.execute(insert(TaskInstance.__table__), ti_rows)
        run_rows.clear()
        ti_rows.clear()

    for run, task_rows in history_rows(versions, args.days, args.every_h, now):
        run_rows.append(run)
        ti_rows.extend(task_rows)
        runs, task_instances = runs + 1, task_instances + len(task_rows)
        if len(ti_rows) >= CHUNK:
            flush()
    flush()
    print(json.dumps({"dags": len(versions), "runs": runs, "task_instances": task_instances,
                      "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
