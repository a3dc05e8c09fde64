"""An ingest that fails now and then, like a partner API that times out.

Trigger it with conf `{"fail": true}` to make this run fail for sure (demos and tests).
"""

import random

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, every

FAILURE_RATE = 0.3


def fetch_partner_feed(dag_run=None) -> int:
    if (dag_run is not None and (dag_run.conf or {}).get("fail")) or random.random() < FAILURE_RATE:
        raise TimeoutError("partner feed did not answer within 30 s (simulated)")
    return 42


with DAG(
    dag_id="flaky_ingest",
    description="Pulls a partner feed that fails about a third of the time.",
    schedule=every(4),
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "owner": "integrations"},
    tags=DEMO_TAGS + ["ingest"],
):
    fetch = PythonOperator(task_id="fetch_partner_feed", python_callable=fetch_partner_feed)
    store = BashOperator(task_id="store", bash_command="sleep 1")
    fetch >> store
