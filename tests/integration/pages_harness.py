"""Running one Streamlit page with AppTest against a given graph, with clean caches."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from orcai.localstack.airflow import REPO_ROOT


@pytest.fixture
def fresh_streamlit_caches():
    """Settings and the graph connection are cached per process: start each page test clean."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def run_page(monkeypatch, page: str, graph_uri: str, timeout_s: float = 60, **query) -> AppTest:
    monkeypatch.setenv("ORCAI_GRAPH_URI", graph_uri)
    app = AppTest.from_file(str(REPO_ROOT / "app_pages" / f"{page}.py"), default_timeout=timeout_s)
    app.query_params.update(query)
    return app.run()


def log_in(app: AppTest, password: str) -> AppTest:
    """Log in through the sidebar's admin form, as an operator would."""
    app.text_input(key="admin-password").input(password)
    app.button[[b.label for b in app.button].index("Log in")].click()
    return app.run()
