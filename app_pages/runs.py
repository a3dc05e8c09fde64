"""Runs: one DAG's run history — Grid, duration trend, task durations and a run's Gantt."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from orcai.airflow.links import airflow_dag_url, airflow_run_url, airflow_task_url
from orcai.errors import GraphError, PermissionDenied
from orcai.run_history import BREAKDOWN_LABELS, gantt_rows, run_summary, state_grid
from ui.auth import denied_hint, login_widget
from ui.charts import duration_band_chart
from ui.cache import (CACHE_TTL_S, cached_latest_dag, cached_run_breakdowns, cached_run_history, dag_deadline,
                      dag_ids_or_stop, set_deadline)
from ui.connection import graph_error_banner, settings_or_stop
from ui.format import STATE_COLOURS, md_text, state_cell_style, state_style
from ui.navigation import open_dag_buttons

RUN_LIMIT = 500
RUN_STATES = ["success", "failed", "running", "queued"]
RUN_TYPES = ["scheduled", "manual", "backfill", "asset_triggered"]
DAY = dt.timedelta(days=1)
FORECAST_COLOUR = "#c5cae9"
BREAKDOWN_COLOURS = {"waiting upstream": "#9aa0a6", "scheduling": "#fbbc04", "queued": "#cfcfcf",
                     "retries": "#e8710a", "running": "#1e8e3e", "running past its usual": "#d93025"}



# plotly express spends ~0.1 s building each of these two figures: built once per run's data,
# not again at every widget change (the figures are only read afterwards).
@st.cache_resource(ttl=CACHE_TTL_S, max_entries=32, show_spinner=False)
def gantt_figure(bars: pd.DataFrame):
    bars = bars.assign(colour=bars["phase"].where(bars["phase"] == "queued", bars["state"]))
    figure = px.timeline(bars, x_start="start", x_end="end", y="task", color="colour",
                         color_discrete_map={**STATE_COLOURS, "queued": "#cfcfcf", "forecast": FORECAST_COLOUR},
                         hover_data={"phase": True, "seconds": ":.1f", "colour": False})
    figure.update_yaxes(autorange="reversed", title=None)
    figure.update_layout(height=max(220, 36 * bars["task"].nunique() + 80), legend_title_text="",
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


@st.cache_resource(ttl=CACHE_TTL_S, max_entries=32, show_spinner=False)
def breakdown_figure(split: pd.DataFrame):
    figure = px.bar(split, x="seconds", y="task", color="part", orientation="h",
                    category_orders={"part": list(BREAKDOWN_LABELS.values())},
                    color_discrete_map=BREAKDOWN_COLOURS, hover_data={"sentence": True})
    figure.update_yaxes(autorange="reversed", title=None)
    figure.update_layout(height=max(200, 36 * split["task"].nunique() + 80), legend_title_text="",
                         xaxis_title="seconds", margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


config = settings_or_stop()
st.title("Runs")

sync_key, dags = dag_ids_or_stop()

wanted = st.query_params.get("dag") or st.query_params.get("dag_id") or cached_latest_dag(sync_key)
pick, window, states_col, types_col = st.columns([3, 2, 2, 2])
dag_id = pick.selectbox("DAG", dags, index=dags.index(wanted) if wanted in dags else 0,
                        help="Type to search.")
st.query_params["dag"] = dag_id
today = dt.datetime.now(dt.timezone.utc).date()
dates = window.date_input("Runs due between", (today - 30 * DAY, today), max_value=today)
start_day, end_day = (dates[0], dates[-1]) if dates else (today - 30 * DAY, today)
states = states_col.multiselect("State", RUN_STATES, placeholder="all states")
run_types = types_col.multiselect("Run type", RUN_TYPES, placeholder="all run types")

since_ms = int(dt.datetime.combine(start_day, dt.time(), dt.timezone.utc).timestamp() * 1000)
until_ms = int(dt.datetime.combine(end_day + DAY, dt.time(), dt.timezone.utc).timestamp() * 1000)
try:
    history, trend = cached_run_history(sync_key, dag_id, since_ms, until_ms, RUN_LIMIT,
                                        tuple(sorted(states)), tuple(sorted(run_types)))
except GraphError as exc:
    graph_error_banner(exc)
    st.stop()

links = st.columns([2, 1, 5])
links[0].link_button("Open in Airflow ↗", airflow_dag_url(config.airflow_links_url, dag_id))
open_dag_buttons(dag_id, ("lineage",), links[1:])

person = login_widget()
may_set = person is not None and person.may("set_deadline")
current = dag_deadline(dag_id)
with st.expander(f"Deadline: {current['spec']}" if current and current["spec"] else "Deadline",
                 icon=":material/alarm:"):
    if current:
        st.caption(f"Set by {md_text(current['by'] or '?')} on {current['at']:%Y-%m-%d %H:%M} UTC.")
    with st.form("deadline"):
        text = st.text_input("Done by", value=(current or {}).get("spec") or "", placeholder="07:00 or +2h",
                             disabled=not may_set, key="deadline-text",
                             help="HH:MM (UTC) on the run's logical date, or +Nh / +Nm / +Ns after it; empty "
                                  "clears it. It wins over the DAG's `deadline:` tag or param and ORCAI_DEADLINES.")
        saved = st.form_submit_button("Save deadline", disabled=not may_set,
                                      help=None if may_set else "Takes the admin role (local mode: log in as admin).")
    if saved:
        try:  # orcai checks the role again at the write: a stale page or a forged click cannot skip it
            set_deadline(dag_id, text, person)
            st.rerun()
        except PermissionDenied as exc:
            st.error(denied_hint(exc), icon=":material/lock:")
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
runs = history.runs
if runs.empty:
    st.info(f"No runs of **{md_text(dag_id)}** match: widen the date range or clear the state and run-type "
            "filters. New runs appear here after the worker's next sync.", icon=":material/filter_alt_off:")
    st.stop()

summary = run_summary(runs)
cols = st.columns(5)
cols[0].metric("Runs", summary["runs"], help="Runs in the window that match the filters.")
cols[1].metric("Success rate", "—" if summary["success_rate"] is None else f"{summary['success_rate']:.0%}")
cols[2].metric("Median duration", "—" if summary["median_s"] is None else f"{summary['median_s']:.1f} s")
cols[3].metric("p95 duration", "—" if summary["p95_s"] is None else f"{summary['p95_s']:.1f} s")
cols[4].metric("Runs with anomalies", summary["with_anomalies"])
if history.truncated:
    st.caption(f"Showing the newest {RUN_LIMIT} runs of the window; narrow the dates to see older ones.")

grid_tab, trend_tab, tasks_tab, gantt_tab = st.tabs(["Grid", "Duration", "Task durations", "Gantt"])

with grid_tab:
    shown = st.slider("Runs in the grid", 5, 100, 25, step=5)
    grid = state_grid(history, shown)
    st.dataframe(grid.style.map(state_cell_style), width="stretch", height=min(600, 38 + 35 * len(grid)))
    legend = " ".join(f'<span style="background:{colour};color:#fff;padding:0 6px;border-radius:3px">{state}</span>'
                      for state, colour in STATE_COLOURS.items())
    st.caption("Rows are tasks, columns are runs (oldest left, due time in UTC); colours are Airflow's.")
    st.markdown(legend, unsafe_allow_html=True)

with trend_tab:
    figure = duration_band_chart(trend, trend[trend["anomalies"] > 0], "anomaly_reasons", marker_size=6,
                                 marker_colours=[STATE_COLOURS.get(s, "#8d8d8d") for s in trend["state"]],
                                 flag_name="anomaly")
    st.plotly_chart(figure, width="stretch")
    if trend["expected_high"].isna().all():
        st.caption("No expected range yet: the worker stores one for each DAG's whole runs at its next refit.")
    st.caption("Expected range: the band the worker judged this DAG's whole runs with when each run started "
               "(stored at each refit, at `ORCAI_DETECT_RISK`). Red crosses: runs with anomalies — hover "
               "for the reason.")

with tasks_tab:
    durations = history.task_runs.dropna(subset=["duration_s"])
    if durations.empty:
        st.caption("No finished task runs in this window.")
    else:
        order = durations.groupby("task_id")["duration_s"].median().sort_values(ascending=False).index
        figure = go.Figure([go.Box(x=durations.loc[durations["task_id"] == task, "duration_s"], name=task,
                                   boxpoints="outliers", marker_color="#1a73e8") for task in order[::-1]])
        figure.update_layout(height=max(260, 40 * len(order)), showlegend=False, xaxis_title="duration (s)",
                             margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(figure, width="stretch")

with gantt_tab:
    labels = {row.run_id: f"{row.at:%Y-%m-%d %H:%M} — {row.state} — {row.run_id}" for row in runs.itertuples()}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get)
    st.link_button("Run in Airflow ↗", airflow_run_url(config.airflow_links_url, dag_id, run_id))
    chosen = runs[runs["run_id"] == run_id].iloc[0]
    bars = gantt_rows(history.task_runs, run_id, chosen["forecast_tasks"] if chosen["state"] in ("queued", "running") else None)
    if bars.empty:
        st.caption("No task of this run has started yet.")
    else:
        st.plotly_chart(gantt_figure(bars), width="stretch")
        st.caption("Light grey: time queued before the task started; coloured: time running, in its final state; "
                   "pale blue: the worker's forecast for the tasks not finished yet (median replay).")
        # A finished run keeps its last forecast (for accuracy): say so, not "forecast end".
        if pd.notna(chosen["eta_p50"]) and chosen["state"] in ("queued", "running"):
            st.caption(f"Forecast end: {chosen['eta_p50']:%H:%M} (p50) – {chosen['eta_p80']:%H:%M} (p80) UTC.")
        elif pd.notna(chosen["eta_p50"]) and pd.notna(chosen["end_date"]):
            st.caption(f"Ended {chosen['end_date']:%H:%M} UTC; its last forecast was {chosen['eta_p50']:%H:%M} (p50) – "
                       f"{chosen['eta_p80']:%H:%M} (p80).")
        tasks = history.task_runs[history.task_runs["run_id"] == run_id].sort_values("start_date")
        split = cached_run_breakdowns(sync_key, dag_id, tasks)
        if not split.empty:
            st.markdown("**Where each task's time went**, from when its run could start")
            st.plotly_chart(breakdown_figure(split), width="stretch", key="breakdown")
            for task, sentence in split.drop_duplicates("task")[["task", "sentence"]].itertuples(index=False):
                st.caption(f"{md_text(task)}: {md_text(sentence)}")
        tasks = tasks.assign(airflow=[airflow_task_url(config.airflow_links_url, dag_id, run_id, t, m)
                                      for t, m in zip(tasks["task_id"], tasks["map_index"].fillna(-1))],
                             map_index=tasks["map_index"].where(tasks["map_index"] >= 0))  # blank unless mapped
        st.dataframe(tasks.style.map(state_style, subset=["state"]), hide_index=True, width="stretch",
                     column_order=["task_id", "map_index", "state", "try_number", "start_date", "duration_s", "queued_s", "airflow"],
                     column_config={"task_id": "Task", "map_index": st.column_config.NumberColumn("Map index", format="%d"),
                                    "state": "State", "try_number": "Try",
                                    "start_date": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                    "duration_s": st.column_config.NumberColumn("Ran", format="%.1f s"),
                                    "queued_s": st.column_config.NumberColumn("Queued", format="%.1f s"),
                                    "airflow": st.column_config.LinkColumn("Airflow", display_text="open ↗")})

st.subheader("Runs")
table = runs.assign(airflow=[airflow_run_url(config.airflow_links_url, dag_id, r) for r in runs["run_id"]],
                    started=runs["start_date"])
st.dataframe(
    table.style.map(state_style, subset=["state"]), hide_index=True, width="stretch",
    column_order=["at", "started", "run_id", "state", "run_type", "duration_s", "queued_s", "anomalies",
                  "anomaly_reasons", "airflow"],
    column_config={
        "at": st.column_config.DatetimeColumn("Due", format="distance"),
        "started": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "run_id": "Run", "state": "State", "run_type": "Type",
        "duration_s": st.column_config.NumberColumn("Duration", format="%.1f s"),
        "queued_s": st.column_config.NumberColumn("Queued", format="%.1f s"),
        "anomalies": st.column_config.NumberColumn("Anomalies"),
        "anomaly_reasons": st.column_config.TextColumn("Why", width="large"),
        "airflow": st.column_config.LinkColumn("Airflow", display_text="open ↗"),
    },
)
