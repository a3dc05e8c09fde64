"""Every example query in orcai/graph/SCHEMA.md runs, on a small demo graph, and answers."""

from __future__ import annotations

import json
import re

import pytest

from orcai.lineage.criticality import refresh_criticality
from orcai.graph.load import load_assets, load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.localstack.airflow import REPO_ROOT
from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord

SCHEMA = REPO_ROOT / "orcai" / "graph" / "SCHEMA.md"
EXAMPLE = re.compile(r"```cypher\n// params: (?P<params>\{.*?\})\n(?P<query>.*?)```", re.S)


def examples() -> list[tuple[dict, str]]:
    return [(json.loads(m["params"]), m["query"]) for m in EXAMPLE.finditer(SCHEMA.read_text())]


@pytest.fixture
def demo_graph(graph):
    load_dags(graph, [DagRecord("etl_orders", False, owners=("data-platform",)),
                      DagRecord("orders_dashboard", False, owners=("analytics",))])
    load_tasks(graph, ["etl_orders", "orders_dashboard"], [
        TaskRecord("etl_orders", "extract", downstream_task_ids=("transform",)),
        TaskRecord("etl_orders", "transform", downstream_task_ids=("load",)),
        TaskRecord("etl_orders", "load"), TaskRecord("orders_dashboard", "refresh_extracts")])
    load_assets(graph, [AssetRecord("postgres://warehouse/public/orders",
                                    producers=(("etl_orders", "load"),), scheduled_dags=("orders_dashboard",))])
    load_dag_runs(graph, [DagRunRecord("etl_orders", "r1", "success", run_after=1, duration_s=4.0)])
    load_task_runs(graph, [TaskRunRecord("etl_orders", "r1", t, -1, "success", start_date=i, queued_s=0.5)
                           for i, t in enumerate(["extract", "transform", "load"])])
    refresh_criticality(graph)
    from orcai.graph.incident_store import write_incidents
    write_incidents(graph, [{"key": "task:etl_orders.load@2", "opened_at": 2, "root_kind": "task",
                             "root_key": "etl_orders.load", "evidence": ["etl_orders.load failed first"],
                             "candidates": [["task", "etl_orders.load"]],
                             "symptoms": [{"label": "TaskRun", "key": "etl_orders/r1/load/-1"}],
                             "props": {"summary": "task etl_orders.load: 1 symptom in 1 DAG", "root_kind": "task",
                                       "root_key": "etl_orders.load", "root_dag": "etl_orders", "size": 1,
                                       "dags_hit": ["etl_orders"], "blast_dags": ["etl_orders", "orders_dashboard"],
                                       "blast_assets": ["postgres://warehouse/public/orders"], "updated_at": 2}}])
    return graph


def test_schema_doc_has_examples():
    assert len(examples()) >= 6


@pytest.mark.parametrize("index", range(len(examples())))
def test_every_example_query_answers(demo_graph, index):
    params, query = examples()[index]
    rows = demo_graph.read(query, params)
    assert rows, f"example {index + 1} returned nothing:\n{query}"
