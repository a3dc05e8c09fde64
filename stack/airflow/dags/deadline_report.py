"""A report with a deadline: done within a minute of its logical date (`deadline:+1m` tag).

Its transform usually takes 2 s; triggered with conf `{"sleep_s": 120}` it takes two minutes,
and ORC AI's forecast tells, while the run is still going, that it will miss its deadline
and which task is behind (the shipped `deadline-breach-risk` policy; for tests and demos).
Triggered only: it has no schedule.
"""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, sleep_from_conf

with DAG(
    dag_id="deadline_report",
    description="A report due a minute after its logical date; conf sleep_s slows its transform.",
    schedule=None,
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "owner": "reporting"},
    tags=DEMO_TAGS + ["deadline:+1m"],
):
    extract = BashOperator(task_id="extract", bash_command="sleep 1")
    transform = BashOperator(task_id="transform", bash_command=sleep_from_conf(2))
    publish = BashOperator(task_id="publish", bash_command="sleep 1")
    extract >> transform >> publish
