"""Every page, with the graph unreachable: a banner naming the setting, not a traceback."""

from __future__ import annotations

import pytest

from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


@pytest.mark.parametrize("page", ["status", "runs", "lineage", "anomalies", "policies"])
def test_graph_unreachable_shows_a_banner_not_a_traceback(monkeypatch, page):
    app = run_page(monkeypatch, page, "falkor://127.0.0.1:6599/nowhere")
    assert not app.exception
    banner = " ".join(e.value for e in app.error)
    assert "knowledge graph is unreachable" in banner and "ORCAI_GRAPH_URI" in banner
