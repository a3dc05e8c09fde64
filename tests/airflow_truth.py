"""What Airflow says (its REST API, read independently of ORC AI) and what the graph says,
in the same shape, so a test can assert the two are equal."""

from __future__ import annotations

from tests.conftest import api_json


def all_pages(airflow, path: str, field: str) -> list[dict]:
    items, offset = [], 0
    while True:
        sep = "&" if "?" in path else "?"
        page = api_json(airflow, f"{path}{sep}limit=100&offset={offset}")
        items += page[field]
        offset += len(page[field])
        if not page[field] or offset >= page["total_entries"]:
            return items


def airflow_truth(airflow) -> dict:
    dags = all_pages(airflow, "/dags", "dags")
    tasks = {dag["dag_id"]: api_json(airflow, f"/dags/{dag['dag_id']}/tasks")["tasks"] for dag in dags}
    return {
        "dags": {d["dag_id"]: (d["is_paused"], sorted(t["name"] for t in d["tags"])) for d in dags},
        "tasks": {f"{dag_id}.{t['task_id']}" for dag_id, ts in tasks.items() for t in ts},
        "edges": {(f"{dag_id}.{child}", f"{dag_id}.{t['task_id']}")
                  for dag_id, ts in tasks.items() for t in ts for child in t["downstream_task_ids"]},
        "runs": {f"{r['dag_id']}/{r['dag_run_id']}": (r["state"], r["duration"])
                 for r in all_pages(airflow, "/dags/~/dagRuns", "dag_runs")},
        "task_runs": {f"{t['dag_id']}/{t['dag_run_id']}/{t['task_id']}/{t['map_index']}":
                      (t["state"], t["try_number"], t["duration"])
                      for t in all_pages(airflow, "/dags/~/dagRuns/~/taskInstances", "task_instances")},
    }


def graph_view(graph) -> dict:
    def close(value):
        return None if value is None else round(value, 3)
    dags = graph.read("MATCH (d:Dag) WHERE NOT d.is_deleted RETURN d.dag_id AS id, d.is_paused AS paused, d.tags AS tags")
    return {
        "dags": {d["id"]: (d["paused"], sorted(d["tags"])) for d in dags},
        "tasks": {r["key"] for r in graph.read(
            "MATCH (:Dag)-[:HAS_TASK]->(t:Task) WHERE NOT t.is_deleted RETURN t.key AS key")},
        "edges": {(r["a"], r["b"]) for r in graph.read(
            "MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN a.key AS a, b.key AS b")},
        "runs": {r["key"]: (r["state"], close(r["duration"])) for r in graph.read(
            "MATCH (:Dag)-[:HAS_RUN]->(r:DagRun) RETURN r.key AS key, r.state AS state, r.duration_s AS duration")},
        "task_runs": {r["key"]: (r["state"], r["try"], close(r["duration"])) for r in graph.read(
            "MATCH (:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun)-[:INSTANCE_OF]->(:Task) "
            "RETURN t.key AS key, t.state AS state, t.try_number AS try, t.duration_s AS duration")},
    }


def rounded(truth: dict) -> dict:
    def close(value):
        return None if value is None else round(value, 3)
    return {
        **truth,
        "runs": {k: (s, close(d)) for k, (s, d) in truth["runs"].items()},
        "task_runs": {k: (s, t, close(d)) for k, (s, t, d) in truth["task_runs"].items()},
    }


def duplicate_keys(graph) -> dict[str, int]:
    """Per label, how many nodes share a key with another (MERGE should make this zero)."""
    counts = {}
    for label in ("Dag", "Task", "DagRun", "TaskRun", "Asset"):
        key = "dag_id" if label == "Dag" else "uri" if label == "Asset" else "key"
        row = graph.read(f"MATCH (n:{label}) RETURN count(n) AS n, count(DISTINCT n.{key}) AS keys")[0]
        counts[label] = row["n"] - row["keys"]
    return counts
