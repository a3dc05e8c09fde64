"""Status: is anything broken right now, and is ORC AI itself keeping up?"""

from __future__ import annotations

import streamlit as st

from orcai.errors import GraphError
from pages.shared import (
    cached_status, current_worker_health, graph_error_banner, now_ms, settings_or_stop, state_style,
)

config = settings_or_stop()
st.title("Status")

try:
    health = current_worker_health()
    overview = cached_status(health.last_sync_at, now_ms() // 60_000)
except GraphError as exc:
    graph_error_banner(exc)
    st.stop()

if health.status == "missing":
    st.info(health.message, icon=":material/hourglass_empty:")
elif health.status == "stale":
    st.warning(health.message + " Data below may be out of date.", icon=":material/schedule:")
elif health.status == "error":
    st.error(health.message, icon=":material/sync_problem:")

if overview.recently_failed:
    names = ", ".join(f"**{row['dag_id']}** ({row['failures']}×)" for row in overview.recently_failed)
    st.warning(f"Failed in the last 24 h: {names}", icon=":material/warning:")

kpis = overview.kpis
cols = st.columns(6)
cols[0].metric("DAGs", kpis["dags"])
cols[1].metric("Paused", kpis["paused"])
cols[2].metric("Failing now", kpis["failing"], help="DAGs whose latest run failed.")
cols[3].metric("Runs (24 h)", kpis["runs_24h"], help=f"{kpis['running']} running or queued.")
rate = kpis["success_rate_24h"]
cols[4].metric("Success rate (24 h)", "—" if rate is None else f"{rate:.0%}")
lag = health.lag_s
cols[5].metric("Sync lag", "—" if lag is None else f"{lag:.0f} s",
               help="Time since the worker's last successful sync.")

table = overview.dags
if table.empty:
    st.info("No DAGs in the graph yet. Start the worker (`python -m workers.worker`, or "
            "`make up`) and it will sync your Airflow within a minute.", icon=":material/inbox:")
    st.stop()

table = table.assign(
    last_state=table["last_state"].fillna("no runs"),
    airflow=config.airflow_links_url + "/dags/" + table["dag_id"],
    lineage="lineage?dag=" + table["dag_id"],
)
st.dataframe(
    table.style.map(state_style, subset=["last_state"]),
    hide_index=True,
    width="stretch",
    column_order=["dag_id", "airflow", "lineage", "paused", "schedule", "last_state", "last_run_at", "last_duration_s",
                  "success_rate", "consecutive_failures", "owners", "tags"],
    column_config={
        "dag_id": st.column_config.TextColumn("DAG", pinned=True),
        "paused": st.column_config.CheckboxColumn("Paused"),
        "schedule": "Schedule",
        "last_state": "Last run",
        "last_run_at": st.column_config.DatetimeColumn("Last run at", format="distance"),
        "last_duration_s": st.column_config.NumberColumn("Duration", format="%.1f s"),
        "success_rate": st.column_config.ProgressColumn(
            "Success rate", help="Finished runs among the last 20.", min_value=0, max_value=1,
            format="percent"),
        "consecutive_failures": st.column_config.NumberColumn("Failures in a row"),
        "owners": "Owners",
        "tags": "Tags",
        "airflow": st.column_config.LinkColumn("Airflow", display_text="open ↗"),
        "lineage": st.column_config.LinkColumn("Lineage", display_text="lineage"),
    },
)
