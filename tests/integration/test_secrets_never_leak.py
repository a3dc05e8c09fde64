"""Secrets never leak: not to logs, pages, exceptions, metrics or the graph.

Full worker cycles run with every secret set to a recognisable value, against a real Airflow
and a password-protected FalkorDB, while Slack fails (a 500, then an invalid token) and
Airflow refuses a wrong password. Then everything ORC AI wrote or showed is searched for
each secret.
"""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import generate_latest

from orcai.localstack.falkordb import start_falkordb
from tests.conftest import PORT_OFFSET
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)
from workers.worker import Worker

pytestmark = pytest.mark.integration
PAGES = ("status", "lineage", "anomalies", "policies")


def page_text(app) -> str:
    """Everything a page shows: text elements, tables and widget values."""
    parts = []
    for kind in ("markdown", "caption", "text", "code", "error", "warning", "info", "success",
                 "title", "header", "subheader", "metric", "exception"):
        parts += [str(getattr(e, "value", e)) for e in getattr(app, kind, [])]
    parts += [e.value.to_csv() for e in app.dataframe]
    parts += [str(w.value) for w in list(app.text_input) + list(app.text_area) + list(app.selectbox)]
    return "\n".join(parts)


def test_no_secret_appears_anywhere_after_failing_cycles(airflow_with_runs, slack_sink, tmp_path,
                                                         monkeypatch, caplog, fresh_streamlit_caches):  # noqa: F811
    airflow_password = json.loads(airflow_with_runs.password_file.read_text())["admin"]
    secrets = {
        "graph password": "graph-SECRET-5a1f0c",
        "admin password": "admin-SECRET-77e2b9",
        "slack webhook": slack_sink.webhook_url("hook-SECRET-91d3aa"),
        "slack bot token": "xoxb-SECRET-4c0ffee",
        "wrong airflow password": "airflow-SECRET-0bad",
        "airflow password": airflow_password,
    }
    port = 6398 + PORT_OFFSET
    server = start_falkordb(tmp_path / "falkordb", port, password=secrets["graph password"])
    graph_uri = f"falkor://127.0.0.1:{port}/leaks"
    common = dict(graph_uri=graph_uri, graph_password=secrets["graph password"],
                  admin_password=secrets["admin password"], sync_lookback_days=2)
    exported = []
    try:
        with caplog.at_level(logging.DEBUG):
            # 1. A good sync, while Slack answers 500 to the webhook.
            slack_sink.fail_next(20, status=500)
            worker = Worker(airflow_with_runs.settings(**common, slack_webhook_url=secrets["slack webhook"]))
            assert worker.cycle() is not None
            exported.append(generate_latest(worker.metrics.registry).decode())
            worker.close()
            # 2. Wrong Airflow password; Slack through a bot token the sink rejects.
            worker = Worker(airflow_with_runs.settings(
                **common, airflow_password=secrets["wrong airflow password"],
                slack_bot_token=secrets["slack bot token"], slack_channel="#alerts",
                slack_api_url=slack_sink.url + "/api"))
            assert worker.cycle() is None  # the auth failure is a log line, not an exception
            exported.append(generate_latest(worker.metrics.registry).decode())
            graph_dump = json.dumps(worker.graph.read("MATCH (n) RETURN properties(n) AS p"), default=str)
            worker.close()
        logs = caplog.text

        # 3. Every page, logged in as admin, pointed at the same graph and Airflow.
        monkeypatch.setenv("ORCAI_GRAPH_PASSWORD", secrets["graph password"])
        monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", secrets["admin password"])
        monkeypatch.setenv("ORCAI_SLACK_WEBHOOK_URL", secrets["slack webhook"])
        monkeypatch.setenv("ORCAI_AIRFLOW_URL", airflow_with_runs.url)
        monkeypatch.setenv("ORCAI_AIRFLOW_PASSWORD_FILE", str(airflow_with_runs.password_file))
        shown = []
        for page in PAGES:
            app = run_page(monkeypatch, page, graph_uri)
            if page == "policies":
                app.text_input(key="admin-password").input(secrets["admin password"])
                app.button[[b.label for b in app.button].index("Log in")].click()
                app.run()
            shown.append(page_text(app))
    finally:
        server.stop()

    places = {"worker logs": logs, "metrics": "\n".join(exported), "graph": graph_dump,
              "pages": "\n".join(shown)}
    assert "sync failed" in logs and "Slack" in logs  # the failures did happen and were logged
    assert "orcai_sync_errors_total" in places["metrics"]
    for secret_name, value in secrets.items():
        for place, text in places.items():
            assert value not in text, f"the {secret_name} leaked into the {place}"
