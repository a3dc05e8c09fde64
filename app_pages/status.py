"""Status: is anything broken right now, and is ORC AI itself keeping up?"""

from __future__ import annotations

import streamlit as st

from orcai.airflow.links import airflow_dag_url
from orcai.errors import GraphError
from orcai.dag_health import filter_dags, names_in
from ui.cache import cached_running_now, cached_status, current_worker_health
from ui.connection import graph_error_banner, now_ms, settings_or_stop
from ui.format import absolute_time, md_text, state_mark
from ui.navigation import open_dag_buttons, page_url

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

for worker, catch_up in health.catching_up:  # a first sync, or after an outage: pages fill as it reads
    st.progress(catch_up.share, text=f"Worker '{md_text(worker)}' is {catch_up.summary()}. "
                "The pages show what has arrived so far.")

if overview.recently_failed:
    names = ", ".join(f"**{md_text(row['dag_id'])}** ({row['failures']}×)" for row in overview.recently_failed)
    st.warning(f"Failed in the last 24 h: {names}", icon=":material/warning:")

kpis = overview.kpis
cols = st.columns(7)
cols[0].metric("DAGs", kpis["dags"])
cols[1].metric("Paused", kpis["paused"])
cols[2].metric("Failing now", kpis["failing"], help="DAGs whose latest run failed.")
cols[3].metric("Runs (24 h)", kpis["runs_24h"], help=f"{kpis['running']} running or queued.")
rate = kpis["success_rate_24h"]
cols[4].metric("Success rate (24 h)", "—" if rate is None else f"{rate:.0%}")
cols[5].metric("Alerts (24 h)", kpis["alerts_24h"],
               help="Slack alerts delivered in the last 24 h; anomalies below `ORCAI_ALERT_MIN_SEVERITY` "
                    "stay on the Anomalies page.")
lag = health.lag_s
cols[6].metric("Sync lag", "—" if lag is None else f"{lag:.0f} s",
               help=f"Time since the worker's last successful sync ({absolute_time(health.last_sync_at)}).")

running = cached_running_now(health.last_sync_at)
if not running.empty:
    st.subheader("Running now")
    st.dataframe(
        running, hide_index=True, width="stretch", key="running-now",
        column_order=["dag_id", "run_id", "state", "progress", "eta_p50", "eta_p80", "deadline", "breach_risk",
                      "watch_task", "watch_reason"],
        column_config={
            "dag_id": "DAG", "run_id": "Run", "state": "State",
            "progress": st.column_config.ProgressColumn("Done", min_value=0, max_value=100, format="%d %%",
                                                       color="blue"),
            "eta_p50": st.column_config.DatetimeColumn("ETA (p50)", format="HH:mm"),
            "eta_p80": st.column_config.DatetimeColumn("ETA (p80)", format="HH:mm",
                                                       help="Four runs in five finish by then."),
            "deadline": st.column_config.DatetimeColumn("Deadline", format="HH:mm",
                                                        help="From a `deadline:07:00` or `deadline:+2h` DAG tag."),
            "breach_risk": st.column_config.ProgressColumn("Risk of missing it", min_value=0, max_value=100,
                                                           format="%d %%", color="auto-inverse"),
            "watch_task": "Watch", "watch_reason": st.column_config.TextColumn("Why", width="large")})
    st.caption("ETAs replay each run's remaining tasks over the DAG from their own history, re-forecast "
               "every cycle (UTC times).")

table = overview.dags
if table.empty:
    st.info("No DAGs in the graph yet. Start the worker (`python -m workers.worker`, or "
            "`make up`) and it will sync your Airflow within a minute.", icon=":material/inbox:")
    st.stop()

critical = table[table["critical"]]
if len(critical):
    failing = critical[critical["last_state"] == "failed"]["dag_id"].tolist()
    note = f" — **failing now: {', '.join(failing)}**" if failing else ""
    st.markdown(f":material/star: **{len(critical)} critical DAGs** (most DAGs depend on them downstream){note}")

owner_col, tag_col, critical_col = st.columns([3, 3, 2])
owners = owner_col.multiselect("Owner", names_in(table, "owners"), placeholder="all owners")
tags = tag_col.multiselect("Tag", names_in(table, "tags"), placeholder="all tags")
critical_only = critical_col.toggle("Critical only")
table = filter_dags(table, owners, tags, critical_only)
if table.empty:
    st.info("No DAG matches these filters: clear the owner, tag or critical filter.", icon=":material/filter_alt_off:")
    st.stop()

table = table.assign(
    mark=table["last_state"].map(state_mark),
    last_state=table["last_state"].fillna("no runs"),
    airflow=[airflow_dag_url(config.airflow_links_url, dag) for dag in table["dag_id"]],
    runs=[page_url("runs", dag=dag) for dag in table["dag_id"]],
    lineage=[page_url("lineage", dag=dag) for dag in table["dag_id"]],
    star=table["critical"].map({True: "★", False: ""}),
    success_rate=table["success_rate"] * 100,  # whole percents: "67 %", not "66.67%"
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_order=["star", "dag_id", "runs", "lineage", "airflow", "paused", "schedule", "mark", "last_state", "last_run_at",
                  "last_duration_s", "success_rate", "consecutive_failures", "criticality", "owners", "tags"],
    column_config={
        "star": st.column_config.TextColumn("", help="★ = critical: many DAGs depend on it downstream.", width=30),
        "dag_id": st.column_config.TextColumn("DAG", pinned=True),
        "criticality": st.column_config.NumberColumn("DAGs downstream", help="DAGs that depend on this one, through assets."),
        "paused": st.column_config.CheckboxColumn("Paused"),
        "schedule": "Schedule",
        "mark": st.column_config.TextColumn("", width=30),
        "last_state": "Last run",
        "last_run_at": st.column_config.DatetimeColumn("Last run at", format="distance"),
        "last_duration_s": st.column_config.NumberColumn("Duration", format="%.1f s"),
        "success_rate": st.column_config.ProgressColumn(
            "Success rate", help="Finished runs among the last 20.", min_value=0, max_value=100,
            format="%.0f %%", color="auto"),  # green above half, red below (the default is the red primary)
        "consecutive_failures": st.column_config.NumberColumn("Failures in a row"),
        "owners": "Owners",
        "tags": "Tags",
        "airflow": st.column_config.LinkColumn("Airflow", display_text="open ↗"),
        "runs": st.column_config.LinkColumn("Runs", display_text="runs"),
        "lineage": st.column_config.LinkColumn("Lineage", display_text="lineage"),
    },
)

pick, *buttons = st.columns([4, 1, 1, 3], vertical_alignment="bottom")
chosen = pick.selectbox("Open a DAG", table["dag_id"], help="Type to search.")
open_dag_buttons(chosen, ("runs", "lineage"), buttons)
