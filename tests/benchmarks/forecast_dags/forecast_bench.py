"""DAGs for tests/benchmarks/forecast_airflow.py: four diamonds (extract -> clean, enrich ->
load) whose tasks sleep a lognormal time around their median, scaled per DAG.

- Slowdowns: conf `{"slow": {"clean": 3.2}}` stretches that task of that run.
- Pool contention: every `load` runs in the pool `forecast_db` (2 slots).
- Deadlines: once the benchmark has measured the usual runs it writes `deadlines.json`
  beside this file ({dag_id: seconds}); each DAG then carries the param
  `deadline="+Ns"` that ORC AI reads. Airflow's own DeadlineAlert(AVERAGE_RUNTIME) is there from the start, with
  a callback that appends when it fired to `deadline_misses.jsonl` beside this file.
"""

import json
import random
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference

from forecast_bench_alerts import record_deadline_miss

HERE = Path(__file__).resolve().parent
SCALES = {"fc_orders": 1.0, "fc_ledger": 1.2, "fc_billing": 1.5, "fc_events": 2.0}
MEDIANS_S = {"extract": 5.0, "clean": 8.0, "enrich": 6.0, "load": 5.0}
SIGMA = 0.25
POOL = "forecast_db"


def _deadlines() -> dict:
    try:
        return json.loads((HERE / "deadlines.json").read_text())
    except (OSError, ValueError):
        return {}


def work(step: str, median_s: float, dag_run=None, **_context) -> None:
    factor = float(((dag_run.conf or {}).get("slow") or {}).get(step, 1.0)) if dag_run else 1.0
    time.sleep(median_s * random.lognormvariate(0.0, SIGMA) * factor)


for dag_id, scale in SCALES.items():
    seconds = _deadlines().get(dag_id)
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=2,
        tags=["forecast-bench"],
        params={"deadline": f"+{int(seconds)}s"} if seconds else {},
        deadline=DeadlineAlert(
            reference=DeadlineReference.AVERAGE_RUNTIME(),
            interval=timedelta(0),
            callback=AsyncCallback(record_deadline_miss, kwargs={"path": str(HERE / "deadline_misses.jsonl")}),
        ),
    ) as dag:
        tasks = {step: PythonOperator(task_id=step, python_callable=work, pool=POOL if step == "load" else None,
                                      op_kwargs={"step": step, "median_s": median * scale})
                 for step, median in MEDIANS_S.items()}
        tasks["extract"] >> [tasks["clean"], tasks["enrich"]] >> tasks["load"]
    globals()[dag_id] = dag
