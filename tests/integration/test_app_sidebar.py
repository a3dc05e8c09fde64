"""The whole app (app.py with its navigation) in AppTest: one sidebar for every page."""

from __future__ import annotations

import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from orcai.graph.worker_store import write_heartbeat
from orcai.localstack.airflow import REPO_ROOT
from tests.integration.pages_harness import fresh_streamlit_caches  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def run_app(monkeypatch, graph_uri: str, **session) -> AppTest:
    monkeypatch.setenv("ORCAI_GRAPH_URI", graph_uri)
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    for key, value in session.items():
        app.session_state[key] = value
    return app.run()


def sidebar_text(app: AppTest) -> str:
    return " ".join(str(e.value) for e in app.sidebar.caption) + " ".join(str(e.value) for e in app.sidebar.error)


def test_sidebar_shows_connections_last_sync_and_read_only(monkeypatch, graph, graph_uri):
    now = int(time.time() * 1000)
    write_heartbeat(graph, "worker", {"name": "worker", "last_sync_at": now - 20_000, "last_ok_at": now - 20_000,
                                      "last_error": None})
    app = run_app(monkeypatch, graph_uri)
    assert not app.exception
    text = sidebar_text(app)
    assert "Graph: connected" in text and "Airflow: synced" in text
    assert re.search(r"Last sync \d+ s ago", text)
    assert "Read-only" in text
    assert app.sidebar.toggle[0].label == "Auto-refresh"
    app.sidebar.toggle[0].set_value(True).run()
    assert not app.exception


def test_sidebar_shows_admin_login_state(monkeypatch, graph, graph_uri):
    app = run_app(monkeypatch, graph_uri, orcai_admin=True)
    assert not app.exception
    assert "Admin: logged in" in sidebar_text(app)


def test_sidebar_names_the_setting_when_the_graph_is_unreachable(monkeypatch):
    app = run_app(monkeypatch, "falkor://127.0.0.1:6599/nowhere")
    assert not app.exception
    assert "ORCAI_GRAPH_URI" in sidebar_text(app)


@pytest.mark.parametrize("page", ["policies", "anomalies"])
def test_a_page_with_its_own_login_says_read_only_once(monkeypatch, graph, graph_uri, page):
    app = run_app(monkeypatch, graph_uri)
    app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception
    assert sidebar_text(app).count("Read-only") == 1
