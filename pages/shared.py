"""What every page shares: settings, the graph connection, cached reads, the sidebar.

The only place that knows about Streamlit caching. Page reads are cached keyed on the
worker's last sync time, so a refresh after a sync shows new data at once and repeated
visits between syncs cost nothing.
"""

from __future__ import annotations

import time

import streamlit as st

from orcai.config import Settings, load_settings
from orcai.errors import ConfigError, GraphError
from orcai.graph import Graph, connect, describe_uri
from orcai.anomalies import anomaly_table, task_duration_history
from orcai.graph import lineage, queries
from orcai.graph.load import set_anomaly_status
from orcai.status import StatusOverview, WorkerHealth, load_status, worker_health

CACHE_TTL_S = 30

# Airflow's own state colours, so operators read them the same way in both UIs.
STATE_COLOURS = {"success": "#1e8e3e", "failed": "#d93025", "running": "#1a73e8",
                 "queued": "#8d8d8d", "upstream_failed": "#f57c00"}


def state_style(state) -> str:
    """A dataframe cell style colouring a run state like Airflow does."""
    colour = STATE_COLOURS.get(state)
    return f"color: {colour}; font-weight: 600" if colour else ""


def now_ms() -> int:
    return int(time.time() * 1000)


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def graph() -> Graph:
    return connect(settings())


def settings_or_stop() -> Settings:
    try:
        return settings()
    except ConfigError as exc:
        st.error(f"ORC AI is misconfigured. {exc}", icon=":material/settings:")
        st.stop()


def graph_error_banner(exc: GraphError) -> None:
    st.error(
        f"**The knowledge graph is unreachable.** {exc}. "
        f"Check that the graph server is running and that `ORCAI_GRAPH_URI` "
        f"(now `{describe_uri(settings().graph_uri)}`) points at it.",
        icon=":material/cloud_off:",
    )


def current_worker_health() -> WorkerHealth:
    """Uncached: it is the cache key of every other read."""
    return worker_health(queries.worker_heartbeats(graph()), now_ms(), settings().sync_interval_s)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the graph...")
def cached_status(last_sync_at: int | None, minute: int) -> StatusOverview:
    # `last_sync_at` and `minute` are only cache keys: new sync or a new minute, new read.
    return load_status(graph(), now_ms(), settings().sync_interval_s)


def render_sidebar() -> None:
    with st.sidebar:
        st.markdown("### ORC AI")
        try:
            config = settings()
        except ConfigError as exc:
            st.error(str(exc))
            return
        try:
            health = current_worker_health()
        except GraphError:
            st.error(f"Graph: unreachable ({describe_uri(config.graph_uri)})", icon=":material/cloud_off:")
            return
        st.caption(f"Graph: {describe_uri(config.graph_uri)}")
        st.caption(f"Airflow: {config.airflow_url}")
        icon = {"ok": ":material/check_circle:", "stale": ":material/schedule:",
                "error": ":material/error:", "missing": ":material/help:"}[health.status]
        st.caption(f"{icon} Worker: {health.message}")


# Lineage reads: cached per last sync (the first argument), so a new sync shows at once.

@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_dag_ids(last_sync_at: int | None) -> list[str]:
    return lineage.dag_ids(graph())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_dag_tasks(last_sync_at: int | None, dag_id: str) -> list[str]:
    return lineage.dag_task_keys(graph(), dag_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_neighbourhood(last_sync_at: int | None, dag_id: str, task_key: str | None,
                         depth: int, max_nodes: int) -> lineage.LineageView:
    return lineage.neighbourhood(graph(), dag_id=dag_id, task_key=task_key, depth=depth,
                                 max_nodes=max_nodes)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_blast_radius(last_sync_at: int | None, task_key: str) -> lineage.BlastRadius:
    return lineage.blast_radius(graph(), task_key=task_key)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_recent_task_runs(last_sync_at: int | None, task_key: str) -> list[dict]:
    return lineage.recent_task_runs(graph(), task_key)


# Anomalies: cached per last sync; a status change clears the cache so it shows at once.

@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_anomalies(last_sync_at: int | None, statuses: tuple[str, ...], since_ms: int):
    return anomaly_table(queries.anomalies(graph(), list(statuses), since_ms))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Scoring the task's history...")
def cached_duration_history(last_sync_at: int | None, task_key: str, lookback_days: int, detector: str):
    return task_duration_history(graph(), task_key, now_ms(), lookback_days, detector)


def change_anomaly_status(key: str, status: str) -> None:
    set_anomaly_status(graph(), key, status, by="app", at_ms=now_ms())
    cached_anomalies.clear()
