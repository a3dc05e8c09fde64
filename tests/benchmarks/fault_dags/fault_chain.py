"""The estate of the real-Airflow fault benchmark (tests/benchmarks/fault_injection.py).

- Three chains a, b, c, each three DAGs linked by assets across three levels:
  fault_<c>_extract (manual) -> bench://<c>/raw -> fault_<c>_transform -> bench://<c>/orders
  -> fault_<c>_report.
- A pool with one slot, `bench_db`, shared by fault_pool_hog.hold and fault_pool_load.load.
- Three DAGs on a one-minute schedule, fault_tick_1..3: what a stopped scheduler leaves
  missing.

Faults are files, so that runs Airflow starts itself (asset-triggered ones) get them too:
`$FAULT_DIR/<dag_id>` holds `fail` (fail, no retry), `sleep <s>` (that much slower) or
`retry <n>` (fail the first n tries, then succeed). Each chain level also checks its input:
it runs only when the upstream level finished the chain's current round
(`$FAULT_DIR/<chain>.round`), as a job reading yesterday's data would fail; so a level
triggered while its upstream failed fails too (the cascade).
"""

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.exceptions import AirflowFailException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
ARGS = {"owner": "bench", "retries": 3, "retry_delay": timedelta(seconds=5)}


def _fault(dag_id: str) -> list[str]:
    path = Path(os.environ["FAULT_DIR"]) / dag_id
    return path.read_text().split() if path.exists() else []


def step(dag_id: str, chain: str | None = None, needs: str | None = None, makes: str | None = None,
         **context) -> None:
    fault, folder = _fault(dag_id), Path(os.environ["FAULT_DIR"])
    if fault[:1] == ["fail"]:
        raise AirflowFailException("injected failure")
    if fault[:1] == ["retry"] and context["ti"].try_number <= int(fault[1]):
        raise RuntimeError(f"injected failure on try {context['ti'].try_number}")
    time.sleep(1 + (float(fault[1]) if fault[:1] == ["sleep"] else 0))
    if chain:
        current = (folder / f"{chain}.round").read_text()
        if needs and (folder / f"{chain}.{needs}").read_text() != current:
            raise AirflowFailException(f"input {needs} is not from this round: its upstream did not finish")
        (folder / f"{chain}.{makes}").write_text(current)


def dag(dag_id, task_id, schedule=None, pool="default_pool", outlets=(), max_active_runs=16, **kwargs):
    with DAG(dag_id=dag_id, schedule=schedule, start_date=START, catchup=False, max_active_runs=max_active_runs,
             default_args=ARGS, tags=["fault-bench"]) as built:
        PythonOperator(task_id=task_id, python_callable=step, pool=pool, outlets=list(outlets),
                       op_kwargs={"dag_id": dag_id, **kwargs})
    return built


for chain in ("a", "b", "c"):
    raw, orders = Asset(f"bench://{chain}/raw"), Asset(f"bench://{chain}/orders")
    dag(f"fault_{chain}_extract", "extract", outlets=[raw], chain=chain, makes="raw")
    dag(f"fault_{chain}_transform", "transform", schedule=[raw], outlets=[orders], chain=chain, needs="raw", makes="orders")
    dag(f"fault_{chain}_report", "report", schedule=[orders], chain=chain, needs="orders", makes="report")

dag("fault_pool_hog", "hold", pool="bench_db")
dag("fault_pool_load", "load", pool="bench_db")
for n in (1, 2, 3):
    dag(f"fault_tick_{n}", "tick", schedule="* * * * *", max_active_runs=1)
