"""What an alert hits: the blast radius sentence on anomaly rows and Slack messages (pure)."""

from __future__ import annotations

from orcai.alerts.dispatch import anomaly_alert
from orcai.alerts.messages import Links, anomaly_message, to_block_kit
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
