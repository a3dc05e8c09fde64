"""The callback of the benchmark DAGs' deadline alert (run by the triggerer): one JSON line
per missed deadline, with when it fired. Kept out of the DAG file so the triggerer imports
it by name (the benchmark puts this folder on PYTHONPATH)."""

import json
import time


async def record_deadline_miss(path: str, context: dict | None = None) -> None:
    run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    line = {"dag_id": run.get("dag_id"), "run_id": run.get("dag_run_id") or run.get("run_id"),
            "fired_at": time.time(), "deadline_time": str(deadline.get("deadline_time"))}
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")
