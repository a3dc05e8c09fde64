"""The simulator against a real FalkorDB: structure read back, history written once."""

from __future__ import annotations

import pytest

from orcai.graph.load import load_dags, load_tasks
from orcai.simulate import DagSpec, TaskSpec, main, read_structure, synthetic_history, write_history
from tests.integration.known_graph import NOW, load_known_lineage

pytestmark = pytest.mark.integration


def test_read_structure_from_the_graph(graph):
    load_known_lineage(graph)
    load_tasks(graph, ["A"], [])  # DAG A loses every task: it is skipped
    specs = {spec.dag_id: spec for spec in read_structure(graph)}
    assert set(specs) == {"B", "C", "D"}
    assert specs["B"].tasks == (TaskSpec("b1", ()), TaskSpec("b2", ("b1",)))


def test_history_is_written_once_and_linked(graph):
    load_dags(graph, [])
    structure = [DagSpec("etl", "0:30:00", (TaskSpec("extract"), TaskSpec("load", ("extract",))))]
    history = synthetic_history(structure, days=3, now_ms=NOW, seed=3)

    first = write_history(graph, history)
    again = write_history(graph, history)

    assert first.nodes_created >= len(history.dag_runs) + len(history.task_runs)
    assert again.total == 0
    linked = graph.read("MATCH (:Dag {dag_id: 'etl'})-[:HAS_RUN]->(r:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun)"
                        "-[:INSTANCE_OF]->(:Task) WHERE r.source = 'synthetic' RETURN count(t) AS n")
    assert linked == [{"n": len(history.task_runs)}]


def test_cli_with_generated_dags(graph_uri, monkeypatch, capsys):
    monkeypatch.setenv("ORCAI_GRAPH_URI", graph_uri)
    assert main(["--dags", "3", "--days", "2"]) == 0
    assert "runs" in capsys.readouterr().out


def test_cli_on_an_empty_graph_says_what_to_do(graph_uri, monkeypatch, capsys):
    monkeypatch.setenv("ORCAI_GRAPH_URI", graph_uri)
    assert main(["--days", "2"]) == 2
    assert "let the worker sync from Airflow first" in capsys.readouterr().err


def test_synthetic_tasks_last_as_long_as_their_real_runs(graph):
    from orcai.simulate import observed_durations, true_cadence
    load_known_lineage(graph)  # real (source 'airflow') runs: A.a1 took 10 s, A.a3 took 19 s
    observed = observed_durations(graph)
    assert observed["A.a1"] == 10.0 and observed["A.a3"] == 19.0
    structure = [DagSpec("A", "0:03:00", (TaskSpec("a1"),))]
    history = synthetic_history(structure, days=1, now_ms=NOW, seed=1,
                                options=true_cadence(structure, 1, observed))
    assert len(history.dag_runs) >= 470  # every 3 minutes, not thinned
    durations = sorted(tr.duration_s for tr in history.task_runs if tr.state == "success" and not tr.injected_anomaly)
    assert 5 < durations[len(durations) // 2] < 20
