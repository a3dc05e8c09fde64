"""Links into Airflow 3's UI for a DAG, a DAG run, a task run and a task. Pure.

Ids are percent-encoded whole: DAG and run ids may hold dots, slashes, `+` and spaces.
"""

from __future__ import annotations

from urllib.parse import quote


def _part(value: str) -> str:
    return quote(str(value), safe="")


def airflow_dag_url(base: str, dag_id: str) -> str:
    return f"{base}/dags/{_part(dag_id)}"


def airflow_run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{airflow_dag_url(base, dag_id)}/runs/{_part(run_id)}"


def airflow_task_url(base: str, dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> str:
    """A task run; a mapped instance (map_index >= 0) has a page of its own under `/mapped/`."""
    url = f"{airflow_run_url(base, dag_id, run_id)}/tasks/{_part(task_id)}"
    return f"{url}/mapped/{int(map_index)}" if map_index is not None and map_index >= 0 else url


def airflow_task_page_url(base: str, dag_id: str, task_id: str) -> str:
    """The task's own page (all its runs) in Airflow 3's UI."""
    return f"{airflow_dag_url(base, dag_id)}/tasks/{_part(task_id)}"
