"""Fan-out / fan-in: one extract per region, merged into a single report."""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, every

with DAG(
    dag_id="regional_report",
    description="Daily sales report: per-region extracts merged and published.",
    schedule=every(5),
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "owner": "finance"},
    tags=DEMO_TAGS + ["reporting", "finance"],
):
    start = BashOperator(task_id="start", bash_command="echo start")
    regions = [
        BashOperator(task_id=f"extract_{region}", bash_command="sleep 1")
        for region in ("eu", "us", "apac")
    ]
    merge = BashOperator(task_id="merge", bash_command="sleep 1")
    publish = BashOperator(task_id="publish", bash_command="echo published")
    start >> regions >> merge >> publish
