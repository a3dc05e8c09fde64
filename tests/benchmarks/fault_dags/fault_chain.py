"""Three DAGs linked by assets across three levels, for the real-Airflow fault benchmark.

fault_extract (manual) -> asset bench://raw_orders -> fault_transform -> asset bench://orders
-> fault_report. A run fails on purpose when triggered with conf {"fail": true}; an
asset-triggered run inherits no conf, so a fault is injected at one level only.
"""

from datetime import datetime, timezone

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
RAW, ORDERS = Asset("bench://raw_orders"), Asset("bench://orders")
STEP = "{% if dag_run.conf.get('fail') %}echo injected fault; exit 1{% else %}sleep 1{% endif %}"


def level(dag_id, task_id, schedule, produces):
    with DAG(dag_id=dag_id, schedule=schedule, start_date=START, catchup=False, max_active_runs=1,
             default_args={"owner": "bench", "retries": 0}, tags=["fault-bench"]) as dag:
        BashOperator(task_id=task_id, bash_command=STEP, outlets=produces)
    return dag


level("fault_extract", "extract", None, [RAW])
level("fault_transform", "transform", [RAW], [ORDERS])
level("fault_report", "report", [ORDERS], [])
