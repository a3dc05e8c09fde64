"""What every page shares: settings, the graph connection, cached reads, the sidebar.

The only place that knows about Streamlit caching. Page reads are cached keyed on the
worker's last sync time, so a refresh after a sync shows new data at once and repeated
visits between syncs cost nothing.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import streamlit as st

from orcai.config import Settings, load_settings
from orcai.errors import ConfigError, GraphError
from orcai.graph import Graph, connect, describe_uri
from orcai.anomalies import anomaly_table, task_duration_history
from orcai.graph import lineage, queries
from orcai.graph.load import set_anomaly_status
from orcai.runs import RunHistory, duration_trend, load_run_history
from orcai.status import StatusOverview, WorkerHealth, ago, airflow_state, load_status, worker_health

CACHE_TTL_S = 30

# Airflow's own state colours, so operators read them the same way in both UIs.
STATE_COLOURS = {"success": "#1e8e3e", "failed": "#d93025", "running": "#1a73e8",
                 "queued": "#8d8d8d", "upstream_failed": "#f57c00", "up_for_retry": "#daa520",
                 "up_for_reschedule": "#40e0d0", "skipped": "#ff69b4", "scheduled": "#d2b48c",
                 "deferred": "#9370db", "restarting": "#ee82ee", "removed": "#b0b0b0"}
REFRESH_S = 30  # auto-refresh checks for a new sync this often


# Markdown, Streamlit's :colour[...]/:emoji: directives and $LaTeX$ all read these.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_text(value) -> str:
    """Text from Airflow or the graph (ids, reasons), escaped so Markdown shows it literally:
    a DAG id such as `**x** [y](javascript:...)` is shown as written, never as a link."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def state_style(state) -> str:
    """A dataframe cell style colouring a run state like Airflow does."""
    colour = STATE_COLOURS.get(state)
    return f"color: {colour}; font-weight: 600" if colour else ""


def state_cell_style(state) -> str:
    """A filled grid cell in the state's colour (readable on light and dark themes)."""
    colour = STATE_COLOURS.get(state)
    return f"background-color: {colour}; color: #ffffff" if colour else ""


def relative_time(ms: int | None, now: int | None = None) -> str:
    """"3 min ago" / "in 2 h" for an epoch-ms time; "never" for None."""
    if ms is None:
        return "never"
    seconds = ((now or now_ms()) - ms) / 1000
    words = ago(abs(seconds))
    return words if seconds >= 0 else "in " + words.removesuffix(" ago")


def absolute_time(ms: int | None) -> str:
    return "—" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def page_url(page: str, **params: str) -> str:
    """A relative link to another page of the app with its query parameters."""
    return f"{page}?{urlencode(params)}" if params else page


PAGE_FILES = {"runs": "pages/runs.py", "lineage": "pages/lineage.py"}


def open_dag_buttons(dag_id: str, pages: tuple[str, ...], columns) -> None:
    """Buttons that open another page on this DAG, in the same tab (query param `dag`)."""
    labels = {"runs": ("Runs", ":material/view_timeline:"), "lineage": ("Lineage", ":material/account_tree:")}
    for column, page in zip(columns, pages):
        label, icon = labels[page]
        if column.button(label, icon=icon, key=f"open-{page}", help=f"{label} of {dag_id}"):
            st.switch_page(PAGE_FILES[page], query_params={"dag": dag_id})


def admin_logged_in() -> bool:
    """Whether an admin has logged in this session (the Policies page's login sets it)."""
    return st.session_state.get("orcai_admin") is True


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
    """The same sidebar on every page: graph, Airflow (as the worker sees it), last sync,
    auto-refresh and the admin login state."""
    with st.sidebar:
        st.markdown("### ORC AI")
        try:
            config = settings()
        except ConfigError as exc:
            st.error(str(exc), icon=":material/settings:")
            return
        try:
            health = current_worker_health()
        except GraphError:
            st.error(f"Graph: unreachable ({describe_uri(config.graph_uri)}). Check `ORCAI_GRAPH_URI`.",
                     icon=":material/cloud_off:")
            return
        st.caption(f":material/hub: Graph: connected ({describe_uri(config.graph_uri)})")
        st.caption(f":material/{'link' if health.status == 'ok' else 'link_off'}: Airflow: "
                   f"{airflow_state(health)} ({config.airflow_url})",
                   help="As the worker last saw it: the app itself never calls Airflow.")
        icon = {"ok": ":material/check_circle:", "stale": ":material/schedule:",
                "error": ":material/error:", "missing": ":material/help:"}[health.status]
        st.caption(f"{icon} Worker: {health.message}", help=f"Last sync: {absolute_time(health.last_sync_at)}")
        if st.toggle("Auto-refresh", key="orcai_auto_refresh",
                     help=f"Checks every {REFRESH_S} s and redraws the page when the worker has synced."):
            _refresh_on_new_sync(health.last_sync_at)
        if admin_logged_in():
            st.caption(":material/admin_panel_settings: Admin: logged in")
        else:
            st.caption(":material/lock: Admin: not logged in (read-only)" if config.admin_password
                       else ":material/lock: Read-only: set `ORCAI_ADMIN_PASSWORD` to allow changes")


@st.fragment(run_every=REFRESH_S)
def _refresh_on_new_sync(shown_sync_at: int | None) -> None:
    """Reruns the whole page when the worker has synced since the page was drawn."""
    try:
        latest = current_worker_health().last_sync_at
    except GraphError:
        return
    st.caption(f"Last sync {relative_time(latest)}", help=absolute_time(latest))
    if latest != shown_sync_at:
        st.rerun(scope="app")


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
def cached_anomalies(last_sync_at: int | None, statuses: tuple[str, ...], since_ms: int, limit: int):
    """The `limit` most severe anomalies, and the count of all of them per severity."""
    return (anomaly_table(queries.anomalies(graph(), list(statuses), since_ms, limit)),
            queries.anomaly_counts(graph(), list(statuses), since_ms))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Scoring the task's history...")
def cached_duration_history(last_sync_at: int | None, task_key: str, lookback_days: int, detector: str):
    return task_duration_history(graph(), task_key, now_ms(), lookback_days, detector)


def change_anomaly_status(key: str, status: str) -> None:
    set_anomaly_status(graph(), key, status, by="app", at_ms=now_ms())
    cached_anomalies.clear()


# Runs: one DAG's history in a window, cached per last sync (the first argument).

@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the run history...")
def cached_run_history(last_sync_at: int | None, dag_id: str, since_ms: int, until_ms: int, limit: int,
                       states: tuple[str, ...], run_types: tuple[str, ...]) -> tuple[RunHistory, object]:
    history = load_run_history(graph(), dag_id, since_ms, until_ms, limit, list(states), list(run_types))
    return history, duration_trend(history)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_latest_dag(last_sync_at: int | None) -> str | None:
    return queries.most_recently_run_dag(graph())


def dag_ids_or_stop() -> tuple[int | None, list[str]]:
    """The last sync's key and the live DAG ids, or a banner (graph down) or an empty state
    (no DAGs yet) and the page stops: what every per-DAG page starts with."""
    try:
        sync_key = current_worker_health().last_sync_at
        dags = cached_dag_ids(sync_key)
    except GraphError as exc:
        graph_error_banner(exc)
        st.stop()
    if not dags:
        st.info("No DAGs in the graph yet. Start the worker (`python -m workers.worker`, or `make up`) "
                "and it will sync your Airflow within a minute.", icon=":material/inbox:")
        st.stop()
    return sync_key, dags
