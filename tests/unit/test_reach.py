"""What an alert hits: the blast radius sentence on anomaly rows and Slack messages (pure)."""

from __future__ import annotations

from orcai.alerts.dispatch import anomaly_alert
from orcai.alerts.messages import Links, anomaly_message, to_block_kit
from orcai.incidents.topology import Topology, topology_from_rows
from orcai.lineage.blast_radius import Reach


def test_the_sentence_names_dags_critical_first_assets_and_deadlines_at_risk():
    reach = Reach(("marts", "report"), ("s3://orders",), ("report (due 07:00 UTC, 80% likely late)",))
    assert reach.sentence == ("2 DAGs downstream (marts, report); assets s3://orders; "
                              "deadlines at risk: report (due 07:00 UTC, 80% likely late)")
    assert Reach((), (), ()).sentence == "nothing downstream"


def test_an_anomaly_message_says_what_it_hits():
    alert = anomaly_alert({"key": "a1", "dag_id": "ingest", "task_id": "load", "kind": "slow", "severity": "high",
                           "score": 6.0, "reason": "4x its usual", "run_id": "r1"}, 0,
                          hits="2 DAGs downstream (marts, report)")
    text = str(to_block_kit(anomaly_message([alert], Links(app_url="https://orcai.example.com", airflow_url="http://airflow.example.com"))))
    assert "What it hits: 2 DAGs downstream (marts, report)" in text


def chained_estate(n_dags: int, cycle: bool) -> Topology:
    """DAGs of two tasks, each DAG's last task producing an asset the next DAG is scheduled on;
    with `cycle`, the last DAG's asset schedules the first again."""
    rows = {"tasks": [], "edges": [], "produces": [], "scheduled_on": []}
    for i in range(n_dags):
        dag = f"d{i}"
        rows["tasks"] += [{"key": f"{dag}.a", "dag_id": dag}, {"key": f"{dag}.b", "dag_id": dag}]
        rows["edges"].append({"down": f"{dag}.b", "up": f"{dag}.a"})
        rows["produces"].append({"task": f"{dag}.b", "uri": f"asset://{i}"})
        if i or cycle:
            rows["scheduled_on"].append({"dag_id": dag, "uri": f"asset://{(i - 1) % n_dags}"})
    return topology_from_rows(rows)


def test_blast_follows_asset_cycles_and_long_chains_to_the_end():
    cycle = chained_estate(6, cycle=True)
    for node in list(cycle.task_dag) + [f"dag:{d}" for d in cycle.tasks_of]:
        assert sorted(cycle.blast({node})[0]) == [f"d{i}" for i in range(6)], node
    chain = chained_estate(300, cycle=False)
    assert len(chain.blast({"d0.b"})[0]) == 300  # no depth limit on the walk (a recursion would hit one)
    assert chain.blast({"d299.a"}) == (["d299"], ["asset://299"])
