"""Metrics to Slack with real processes: worker /metrics -> Prometheus -> Alertmanager -> Slack.

A real Worker cycle (real sync against the session's Airflow, real FalkorDB graph holding a DAG
that failed 4 times in a row) feeds the worker's /metrics; Debian's Prometheus scrapes it and
evaluates the stack's real alert rules; Debian's Alertmanager, with the stack's real config and
Slack templates, posts to the local Slack sink. Only timings are shortened (scrape, evaluation,
group_wait) and addresses pointed at this machine; the rules and thresholds are the real ones.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from orcai.localstack.process import start_service, wait_until
from orcai.metrics import serve
from tests.net import answers, free_port
from tests.integration.monitoring_graph import FAILING_DAG, load_monitoring_graph
from tests.stack.tools import STACK, debian_tool
from workers.worker import Worker


def prometheus_config(metrics_port: int, alertmanager_port: int) -> dict:
    """The stack's prometheus.yml, scraping this test's worker and alerting its Alertmanager."""
    config = yaml.safe_load((STACK / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(STACK / "prometheus" / "rules" / "orcai.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
    worker_job = next(job for job in config["scrape_configs"] if job["job_name"] == "orcai-worker")
    worker_job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_port}"]
    config["scrape_configs"] = [worker_job]
    return config


def alertmanager_config(webhook_file: Path) -> dict:
    """The stack's alertmanager.yml with the sink's webhook as the Slack secret and a short group_wait."""
    config = yaml.safe_load((STACK / "alertmanager" / "alertmanager.yml").read_text())
    config["global"]["slack_api_url_file"] = str(webhook_file)
    config["templates"] = [str(STACK / "alertmanager" / "templates" / "*.tmpl")]
    config["route"].update(group_wait="1s", group_interval="5s")
    return config


@pytest.fixture
def monitored_worker(airflow, graph, graph_uri):
    """A worker that has run one real cycle and serves its /metrics."""
    load_monitoring_graph(graph, int(time.time() * 1000))
    worker = Worker(airflow.settings(graph_uri=graph_uri))
    outcome = worker.cycle()
    assert outcome is not None, "the worker's sync against the session Airflow failed"
    server = serve(worker.metrics.registry, "127.0.0.1", free_port())
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    worker.close()


def test_a_failing_dag_reaches_slack_through_prometheus_and_alertmanager(monitored_worker, slack_sink, tmp_path):
    prometheus_port, alertmanager_port = free_port(), free_port()
    webhook_file = tmp_path / "slack_webhook_url"
    webhook_file.write_text(slack_sink.webhook_url("alertmanager"))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(monitored_worker, alertmanager_port)))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook_file)))

    alertmanager = start_service("alertmanager", [
        debian_tool("prometheus-alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
        "--cluster.listen-address=",  # no gossip port: a single Alertmanager
    ], tmp_path / "alertmanager.log")
    prometheus = start_service("prometheus", [
        debian_tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ], tmp_path / "prometheus.log")
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{alertmanager_port}/-/ready"), alertmanager, 60)
        wait_until(lambda: answers(f"http://127.0.0.1:{prometheus_port}/-/ready"), prometheus, 60)

        # A few seconds here (1 s scrapes and evaluations, 1 s group wait); a busy machine gets more.
        messages = slack_sink.wait_for(lambda m: FAILING_DAG in m.text, timeout_s=120)

        assert messages, (f"no Slack message about {FAILING_DAG}; Prometheus alerts: "
                          f"{_firing(prometheus_port)}\n{alertmanager.log_tail()}")
    finally:
        prometheus.stop()
        alertmanager.stop()

    message = messages[0]
    assert message.path == "/services/T000/B000/alertmanager"
    attachment = message.body["attachments"][0]
    assert attachment["title"] == f"[FIRING:1] DagConsecutiveFailures — DAG {FAILING_DAG}"
    assert f"var-dag_id={FAILING_DAG}" in attachment["title_link"]
    assert f"DAG {FAILING_DAG} failed 4 times in a row" in attachment["text"]
    assert "*Warning:*" in attachment["text"] and attachment["color"] == "warning"
    assert "Open ORC AI" in attachment["text"]


def _firing(prometheus_port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{prometheus_port}/api/v1/alerts", timeout=2) as response:
            return json.dumps(json.load(response)["data"]["alerts"])[:2000]
    except OSError as exc:
        return f"(cannot ask Prometheus: {exc})"
