"""A classic ETL chain: extract -> transform -> load, publishing the orders table."""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, every

ORDERS_TABLE = Asset(name="warehouse_orders", uri="postgres://warehouse/public/orders")

with DAG(
    dag_id="etl_orders",
    description="Extract orders from the shop API, clean them, load the warehouse.",
    schedule=every(3),
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=DEMO_TAGS + ["etl", "orders"],
):
    extract = BashOperator(task_id="extract", bash_command="sleep 1; echo extracted 120 orders")
    transform = BashOperator(task_id="transform", bash_command="sleep 2; echo cleaned")
    load = BashOperator(
        task_id="load", bash_command="sleep 1; echo loaded", outlets=[ORDERS_TABLE]
    )
    extract >> transform >> load
