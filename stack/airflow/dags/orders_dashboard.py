"""Refreshes the orders dashboard whenever etl_orders publishes the orders table."""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS

with DAG(
    dag_id="orders_dashboard",
    description="Rebuild dashboard extracts from the warehouse orders table.",
    schedule=[Asset(name="warehouse_orders", uri="postgres://warehouse/public/orders")],
    start_date=DEMO_START,
    catchup=False,
    default_args={**DEFAULT_ARGS, "owner": "analytics"},
    tags=DEMO_TAGS + ["reporting"],
):
    BashOperator(task_id="refresh_extracts", bash_command="sleep 1; echo refreshed")
