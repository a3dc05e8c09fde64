"""Airflow → Slack: a failing demo task's message, sent by the Slack provider's notifier
(`on_failure_callback`, connection AIRFLOW_CONN_SLACK_DEFAULT), arrives at the sink."""

from __future__ import annotations

import time
import urllib.error

import pytest

from orcai.airflow import AirflowClient
from tests.conftest import AIRFLOW_WEBHOOK_NAME, api_json, wait_for_quiet_airflow

pytestmark = pytest.mark.integration


def trigger_with_conf(airflow, dag_id: str, conf: dict, attempts: int = 5) -> str:
    """Trigger a run with `conf`, retrying Airflow's HTTP 500 'database is locked' (SQLite)."""
    for attempt in range(1, attempts + 1):
        try:
            return api_json(airflow, f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
        except urllib.error.HTTPError as exc:
            if exc.code != 500 or attempt == attempts:
                raise
            time.sleep(attempt)


def test_a_failing_demo_task_posts_its_failure_to_slack(airflow_with_runs, slack_sink):
    run_id = trigger_with_conf(airflow_with_runs, "flaky_ingest", {"fail": True})

    arrived = slack_sink.wait_for(lambda m: m.path.endswith(f"/{AIRFLOW_WEBHOOK_NAME}") and run_id in m.text,
                                  timeout_s=180)

    client = AirflowClient(airflow_with_runs.settings())
    try:
        wait_for_quiet_airflow(client)  # later tests expect a quiet Airflow
    finally:
        client.close()
    assert len(arrived) == 1, f"no Slack message for run {run_id}; the sink got {slack_sink.received}"
    text = arrived[0].body["text"]
    assert "Airflow task failed: *flaky_ingest.fetch_partner_feed*" in text
    assert f"in run `{run_id}`" in text and "/dags/flaky_ingest/runs/" in text and "|Open the log>" in text
    states = {ti["task_id"]: ti["state"] for ti in api_json(
        airflow_with_runs, f"/dags/flaky_ingest/dagRuns/{run_id}/taskInstances")["task_instances"]}
    assert states["fetch_partner_feed"] == "failed"
