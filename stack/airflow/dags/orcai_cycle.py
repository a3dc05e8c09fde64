"""ORC AI's own cycle — sync → detect → policies — as Airflow tasks.

For deployments that outgrow one worker process: Airflow's executors (Celery, Kubernetes)
run ORC AI instead of `make worker`, with Airflow's retries, logs and alerting. Paused on
creation: unpause it where you would otherwise start the worker (not both, or they take
turns on the graph's cycle lock, which is harmless but pointless).

Each task runs `$ORCAI_PYTHON -m workers.worker --once --step <step>` in ORC AI's
checkout (ORCAI_DIR, by default the checkout this file sits in). ORC AI's dependencies
conflict with Airflow's, so they live in their own interpreter (ORCAI_PYTHON, e.g.
`/opt/orcai/.venv/bin/python`) rather than in Airflow's virtualenv; the task reads its
settings from the ORCAI_* variables of the Airflow worker's environment, like the worker.
`max_active_runs=1` keeps one cycle at a time, and each step also holds the graph's
cycle lock, so a standalone worker against the same graph never runs alongside it. A
step that finds the lock taken exits 99, which Airflow records as skipped. With
ORCAI_SHARD, one copy of this DAG per shard (or per Airflow deployment) splits the work.

ORCAI_CYCLE_SCHEDULE sets the schedule (cron or preset, default every 5 minutes; empty:
only triggered runs).
"""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

ORCAI_DIR = os.environ.get("ORCAI_DIR") or str(Path(__file__).resolve().parents[3])
SCHEDULE = os.environ.get("ORCAI_CYCLE_SCHEDULE", "*/5 * * * *") or None
STEPS = ("sync", "detect", "policies")
LOCK_TAKEN = 99  # workers.worker's exit code when another worker holds the cycle lock

with DAG(
    dag_id="orcai_cycle",
    description="ORC AI: sync Airflow into the graph, detect anomalies, apply policies.",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    dagrun_timeout=timedelta(hours=1),
    default_args={"owner": "orcai", "retries": 0},
    tags=["orcai"],
):
    previous = None
    for step in STEPS:
        task = BashOperator(
            task_id=step,
            bash_command=('exec "${ORCAI_PYTHON:?set ORCAI_PYTHON to the interpreter of the ORC AI virtualenv}" '
                          f"-m workers.worker --once --step {step}"),
            cwd=ORCAI_DIR,
            skip_on_exit_code=LOCK_TAKEN,
        )
        if previous is not None:
            previous >> task
        previous = task
