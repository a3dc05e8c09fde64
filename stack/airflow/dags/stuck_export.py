"""An export that can be made to hang, like a task waiting on a lock that never frees.

Manual only. Triggered with conf `{"sleep_s": 600}` its task sleeps that long (default 1 s):
the stuck-work policies (`clear_stuck`, `fail_zombie_run`) are tested and demoed on it.
"""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, sleep_from_conf

with DAG(
    dag_id="stuck_export",
    description="Exports a file; hangs when triggered with conf sleep_s.",
    schedule=None,
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "owner": "data-platform"},
    tags=DEMO_TAGS + ["export"],
):
    BashOperator(task_id="export", bash_command=sleep_from_conf(1))
