"""Page reads, cached keyed on the worker's last sync time: a refresh after a sync shows
new data at once, and repeated visits between syncs cost nothing. The first argument of
every cached reader is that key; the readers themselves are `orcai` functions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from orcai.access import Person
from orcai.anomalies.review import anomalies_with_reach, review_anomaly, task_duration_history
from orcai.errors import GraphError
from orcai.forecast.deadline_setting import set_dag_deadline
from orcai.graph import anomaly_store, dag_store, forecast_store, run_store, worker_store
from orcai.graph import incident_store, lineage_store
from orcai.incidents.estate import CycleEstate
from orcai.incidents.review import recent_incidents, timeline
from orcai.lineage.blast_radius import BlastRadius, blast_radius
from orcai.lineage.view import LineageView, neighbourhood
from orcai.overview import StatusOverview, load_status, running_now_table
from orcai.run_history import RunHistory, duration_trend, load_run_history, run_breakdowns
from orcai.worker_health import WorkerHealth, worker_health
from ui.connection import graph, graph_error_banner, now_ms, settings

CACHE_TTL_S = 30
ESTATE_TTL_S = 600


def current_worker_health() -> WorkerHealth:
    """Uncached: it is the cache key of every other read."""
    return worker_health(worker_store.worker_heartbeats(graph()), now_ms(), settings().sync_interval_s)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the graph...")
def cached_status(last_sync_at: int | None, minute: int) -> StatusOverview:
    # `last_sync_at` and `minute` are only cache keys: new sync or a new minute, new read.
    return load_status(graph(), now_ms(), settings().sync_interval_s)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_running_now(last_sync_at: int | None):
    return running_now_table(forecast_store.running_now(graph()))


# Lineage

@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_dag_ids(last_sync_at: int | None) -> list[str]:
    return dag_store.live_dag_ids(graph())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_dag_tasks(last_sync_at: int | None, dag_id: str) -> list[str]:
    return lineage_store.dag_task_keys(graph(), dag_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_neighbourhood(last_sync_at: int | None, dag_id: str, task_key: str | None,
                         depth: int, max_nodes: int) -> LineageView:
    return neighbourhood(graph(), dag_id=dag_id, task_key=task_key, depth=depth, max_nodes=max_nodes)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_blast_radius(last_sync_at: int | None, task_key: str) -> BlastRadius:
    return blast_radius(graph(), task_key=task_key)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_recent_task_runs(last_sync_at: int | None, task_key: str) -> list[dict]:
    return run_store.recent_task_runs(graph(), task_key)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_run_breakdowns(last_sync_at: int | None, dag_id: str, task_runs: pd.DataFrame) -> pd.DataFrame:
    return run_breakdowns(graph(), dag_id, task_runs, now_ms())


# Incidents.

@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_incidents(last_sync_at: int | None, since_ms: int) -> list[dict]:
    return recent_incidents(graph(), since_ms)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_incident_timeline(last_sync_at: int | None, key: str):
    return timeline(graph(), key)


# Anomalies: a status change clears the cache so it shows at once.

@st.cache_resource(ttl=ESTATE_TTL_S, max_entries=2, show_spinner=False)
def cached_estate(fingerprint: tuple) -> CycleEstate:
    """The lineage estate, kept while its fingerprint holds (at most ESTATE_TTL_S, for an
    edit the counts cannot see): at 5,000 DAGs reading it takes seconds, and a sync a minute
    would otherwise read it again for every page that says what an anomaly hits. Shared by
    all sessions; the walks it memoizes are the same for all of them."""
    return CycleEstate(graph())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_anomalies(last_sync_at: int | None, statuses: tuple[str, ...], since_ms: int, limit: int):
    """The `limit` most severe anomalies, and the count of all of them per severity."""
    estate = cached_estate(incident_store.estate_fingerprint(graph()))
    return (anomalies_with_reach(graph(), anomaly_store.anomalies(graph(), list(statuses), since_ms, limit), estate),
            anomaly_store.anomaly_counts(graph(), list(statuses), since_ms))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the task's history...")
def cached_duration_history(last_sync_at: int | None, task_key: str, lookback_days: int):
    return task_duration_history(graph(), task_key, now_ms(), lookback_days)


def change_anomaly_status(key: str, status: str, person: Person) -> None:
    """An operator's verdict (orcai checks the role), recorded as from the Anomalies page."""
    review_anomaly(graph(), key, status, by=person, at_ms=now_ms(), page="Anomalies")
    cached_anomalies.clear()


def anomaly_history(key: str) -> list[dict]:
    """Who changed an anomaly's status, when and from where (not cached: it is short)."""
    rows = anomaly_store.anomaly_history(graph(), key)
    return [{**row, "at": pd.to_datetime(row["at"], unit="ms", utc=True)} for row in rows]


def dag_deadline(dag_id: str) -> dict | None:
    """The admin's deadline for a DAG and who set it when (not cached: it is one row)."""
    row = dag_store.dag_deadline_setting(graph(), dag_id)
    return None if row is None else {**row, "at": pd.to_datetime(row["at"], unit="ms", utc=True)}


def set_deadline(dag_id: str, text: str, person: Person) -> str | None:
    """An admin's deadline for a DAG (orcai checks the role), recorded as from the Runs page."""
    return set_dag_deadline(graph(), dag_id, text, by=person, at_ms=now_ms(), page="Runs")


# Runs: one DAG's history in a window.

@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the run history...")
def cached_run_history(last_sync_at: int | None, dag_id: str, since_ms: int, until_ms: int, limit: int,
                       states: tuple[str, ...], run_types: tuple[str, ...]) -> tuple[RunHistory, object]:
    history = load_run_history(graph(), dag_id, since_ms, until_ms, limit, list(states), list(run_types))
    return history, duration_trend(history)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cached_latest_dag(last_sync_at: int | None) -> str | None:
    return dag_store.most_recently_run_dag(graph())


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
