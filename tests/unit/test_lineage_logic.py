"""Reachability, criticality, critical paths and external-system derivation, on plain data."""

from orcai.lineage.algorithms import adjacency, downstream_counts, reachable, task_criticality
from orcai.lineage.systems import system_for_operator, system_for_uri


def test_reachable_tolerates_cycles_and_excludes_start():
    graph = adjacency([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert reachable(graph, "a") == {"b", "c", "d"}
    assert reachable(graph, "d") == set()


def test_dag_criticality_counts_transitive_consumers():
    assert downstream_counts([("A", "B"), ("B", "C"), ("A", "C")], ["A", "B", "C", "D"]) == {
        "A": 2, "B": 1, "C": 0, "D": 0}


def test_task_criticality_counts_only_what_a_task_really_feeds():
    task_dag = {"A.1": "A", "A.2": "A", "A.side": "A", "B.1": "B", "B.2": "B", "C.1": "C"}
    flows = [("A.1", "A.2"), ("A.1", "A.side"), ("B.1", "B.2")]
    feeds = [("A.2", "B"), ("B.2", "C")]  # A.2 produces what B waits on; B.2 feeds C
    scores = task_criticality(task_dag, flows, feeds)
    assert scores["A.1"] == 2 + 3  # A.2, A.side + all of B and C
    assert scores["A.2"] == 3 and scores["A.side"] == 0
    assert scores["B.1"] == 1 + 1 and scores["C.1"] == 0


def test_external_systems_from_asset_uris_never_keep_credentials():
    assert system_for_uri("postgres://warehouse/public/orders").name == "postgres://warehouse"
    assert system_for_uri("s3://raw-bucket/events/2026").kind == "s3"
    assert system_for_uri("postgres://user:secret@db:5432/x").name == "postgres://db:5432"
    assert system_for_uri("file:///tmp/out.csv").name == "file"
    assert system_for_uri("my-custom-thing") is None


def test_external_systems_from_operator_names():
    assert system_for_operator("SQLExecuteQueryOperator") is None
    assert system_for_operator("PostgresOperator").kind == "postgres"
    assert system_for_operator("S3CreateObjectOperator").kind == "s3"
    assert system_for_operator("SlackAPIPostOperator").kind == "slack"
    assert system_for_operator(None) is None


def test_lineage_layout_puts_upstream_left_and_wraps_long_pipelines():
    from orcai.lineage.view import BAND_GAP, COLUMN_GAP, LAYERS_PER_BAND, LineageView, place
    chain = [f"t{i}" for i in range(LAYERS_PER_BAND + 2)]
    nodes = [{"id": n} for n in chain] + [{"id": "side"}]
    edges = [{"source": a, "target": b} for a, b in zip(chain, chain[1:])] + [{"source": "t0", "target": "side"}]
    place(nodes, edges)
    at = {n["id"]: (n["x"], n["y"]) for n in nodes}
    assert [at[n][0] for n in chain[:LAYERS_PER_BAND]] == [i * COLUMN_GAP for i in range(LAYERS_PER_BAND)]
    assert at["t1"][0] == at["side"][0] and at["t1"][1] != at["side"][1]  # same layer, own row
    wrapped = chain[LAYERS_PER_BAND]
    assert at[wrapped][0] == 0 and at[wrapped][1] >= max(at[n][1] for n in chain[:LAYERS_PER_BAND]) + BAND_GAP
    width, height = LineageView(nodes, edges).size
    assert width == (LAYERS_PER_BAND - 1) * COLUMN_GAP and height > BAND_GAP


def test_upstream_tasks_of_a_clicked_task_are_counted_from_it_not_from_the_view_start():
    from orcai.lineage.view import LineageView
    task = lambda key: {"id": f"task:{key}", "kind": "task", "key": key, "direction": "start"}  # noqa: E731
    nodes = [task("etl.extract"), task("etl.transform"), task("etl.load"), task("other.side"),
             {"id": "asset:orders", "kind": "asset", "key": "orders"}, task("report.build")]
    edges = [{"source": "task:etl.extract", "target": "task:etl.transform"},
             {"source": "task:etl.transform", "target": "task:etl.load"},
             {"source": "task:etl.load", "target": "asset:orders"},
             {"source": "asset:orders", "target": "task:report.build"}]
    view = LineageView(nodes, edges)
    assert view.upstream_task_count("etl.extract") == 0
    assert view.upstream_task_count("etl.transform") == 1
    assert view.upstream_task_count("etl.load") == 2
    assert view.upstream_task_count("report.build") == 3  # through the asset; the asset is not a task
    assert view.upstream_task_count("other.side") == 0
