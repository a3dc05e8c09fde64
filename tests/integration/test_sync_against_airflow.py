"""After a sync, the graph says exactly what Airflow's REST API says."""

from __future__ import annotations

import time

import pytest

from orcai.airflow import AirflowClient
from orcai.graph import connect
from orcai.localstack.airflow import DEMO_DAGS as DEMO_DAGS_FOLDER
from orcai.sync import sync_once
from tests.airflow_truth import airflow_truth, graph_view, rounded
from tests.conftest import DEMO_DAGS, api_json, trigger, wait_for_quiet_airflow

pytestmark = pytest.mark.integration


def test_graph_equals_airflow_after_sync(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    report = sync_once(client, graph, settings)

    truth, view = rounded(airflow_truth(airflow_with_runs)), graph_view(graph)
    assert report.dag_errors == {}
    assert set(DEMO_DAGS) < set(truth["dags"]) and len(truth["runs"]) >= 9
    for part in ("dags", "tasks", "edges", "runs", "task_runs"):
        assert view[part] == truth[part], part


def next_run_dates(graph) -> dict[str, int | None]:
    return {r["id"]: r["next"] for r in graph.read("MATCH (d:Dag) RETURN d.dag_id AS id, d.next_run_at AS next")}


def test_second_sync_writes_nothing(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    sync_once(client, graph, settings)
    before = graph.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"]

    # Airflow itself moves some (paused, example) DAGs' next run date each time it parses
    # their files (every 30 s here): a real change that a sync must write. Anything else,
    # and any write to a DAG whose next run date did not move, would be a needless write.
    dates = next_run_dates(graph)
    again = sync_once(client, graph, settings)
    moved = {dag for dag, date in next_run_dates(graph).items() if date != dates.get(dag)}
    props_per_dag = len(graph.read("MATCH (d:Dag) RETURN properties(d) AS p LIMIT 1")[0]["p"])

    assert again.written.nodes_created == 0
    assert again.written.relationships_created == 0
    assert again.written.properties_set <= len(moved) * props_per_dag, moved
    assert graph.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"] == before
    pages = 1 + again.dags // 100
    assert again.requests <= pages + 3  # the DAG list, DAG versions, the run and task-instance streams


def test_small_pages_give_the_same_graph(airflow_with_runs, graph_uri):
    """Pagination by offset: with 2 items per page nothing is lost or doubled."""
    settings = airflow_with_runs.settings(graph_uri=graph_uri, page_size=2)
    graph = connect(settings)
    sync_once(AirflowClient(settings), graph, settings)
    assert graph_view(graph) == rounded(airflow_truth(airflow_with_runs))


def test_new_run_appears_after_next_sync(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    sync_once(client, graph, settings)

    new_run = trigger(client, "ml_training")
    wait_for_quiet_airflow(client)
    report = sync_once(client, graph, settings)

    key = f"ml_training/{new_run.dag_run_id}"
    stored = graph.read("MATCH (r:DagRun {key: $key}) RETURN r.state AS state", {"key": key})
    final = client.get_dag_run("ml_training", new_run.dag_run_id)
    assert stored == [{"state": final.state.value}]
    assert report.dag_runs_seen >= 1
    tasks = graph.read("MATCH (:DagRun {key: $key})-[:HAS_TASK_RUN]->(t:TaskRun) RETURN t.task_id AS id",
                       {"key": key})
    assert sorted(t["id"] for t in tasks) == ["build_features", "train_model"]


EDITED_DAG = "orcai_test_in_place_edit"


def edited_dag_source(task_ids: list[str]) -> str:
    chain = " >> ".join(f'BashOperator(task_id="{t}", bash_command="true")' for t in task_ids)
    return ("from airflow.sdk import DAG\n"
            "from airflow.providers.standard.operators.bash import BashOperator\n\n"
            f'with DAG("{EDITED_DAG}", schedule=None, catchup=False, tags=["orcai-test"]):\n'
            f"    {chain}\n")


def wait_for_airflow_tasks(airflow, task_ids: list[str], timeout_s: float = 240) -> None:
    """Until Airflow's dag-processor has parsed the file and serves these tasks (every ~30 s here)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if sorted(t["task_id"] for t in api_json(airflow, f"/dags/{EDITED_DAG}/tasks")["tasks"]) == task_ids:
                return
        except OSError:  # 404 until the DAG is parsed, or a slow answer
            pass
        time.sleep(2)
    raise TimeoutError(f"Airflow did not serve {EDITED_DAG} with tasks {task_ids} within {timeout_s} s")


def stored_tasks(graph) -> set[str]:
    return {r["id"] for r in graph.read("MATCH (:Dag {dag_id: $dag})-[:HAS_TASK]->(t:Task) WHERE NOT t.is_deleted "
                                        "RETURN t.task_id AS id", {"dag": EDITED_DAG})}


def test_an_in_place_edit_of_a_paused_dag_is_picked_up_by_the_slow_refresh(airflow_with_runs, graph):
    """Airflow updates a DAG version in place while no task ran on it: nothing in its API
    says a paused DAG changed, so only the slow refresh (ORCAI_TASK_REFRESH_MIN) sees it."""
    dag_file = DEMO_DAGS_FOLDER / f"{EDITED_DAG}.py"
    settings = airflow_with_runs.settings(task_refresh_min=60)
    client = AirflowClient(settings)
    try:
        dag_file.write_text(edited_dag_source(["extract"]))
        wait_for_airflow_tasks(airflow_with_runs, ["extract"])
        sync_once(client, graph, settings)
        assert stored_tasks(graph) == {"extract"}

        dag_file.write_text(edited_dag_source(["extract", "publish"]))
        wait_for_airflow_tasks(airflow_with_runs, ["extract", "publish"])
        versions = api_json(airflow_with_runs, f"/dags/{EDITED_DAG}/dagVersions")["dag_versions"]
        assert [v["version_number"] for v in versions] == [1]  # edited in place
        sync_once(client, graph, settings)
        assert stored_tasks(graph) == {"extract"}  # the refresh is not due yet: unseen

        # An hour later (one-hour cycles, so every DAG due is refreshed in this one).
        hour_later = settings.model_copy(update={"sync_interval_s": 3600})
        report = sync_once(client, graph, hour_later, clock=lambda: time.time() + 3660)
        assert stored_tasks(graph) == {"extract", "publish"} and report.tasks_read >= 1
        edges = graph.read("MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) WHERE a.dag_id = $dag "
                           "RETURN a.task_id AS a, b.task_id AS b", {"dag": EDITED_DAG})
        assert edges == [{"a": "publish", "b": "extract"}]
    finally:
        dag_file.unlink(missing_ok=True)
        wait_until_airflow_drops(airflow_with_runs)  # the next tests see the DAGs they expect


def wait_until_airflow_drops(airflow, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if EDITED_DAG not in {d["dag_id"] for d in api_json(airflow, f"/dags?dag_id_pattern={EDITED_DAG}")["dags"]}:
            return
        time.sleep(2)
    raise TimeoutError(f"Airflow still lists {EDITED_DAG} {timeout_s} s after its file was removed")
