"""Anomalies: what is abnormal right now, why, and what the operator decided about it."""

from __future__ import annotations

import streamlit as st

from orcai.anomalies.review import FALSE_POSITIVE_WIDENING
from orcai.errors import GraphError, PermissionDenied
from orcai.model import DAY_MS, MINUTE_MS
from ui.auth import denied_hint, login_widget
from ui.charts import duration_band_chart
from ui.cache import (anomaly_history, cached_anomalies, cached_duration_history, change_anomaly_status,
                      current_worker_health)
from ui.connection import graph_error_banner, now_ms, settings_or_stop
from ui.format import md_text

SEVERITY_COLOURS = {"high": "#d93025", "medium": "#f57c00", "low": "#8d8d8d"}
SHOWN_LIMIT = 1000  # most severe first; the counts above the table cover all of them
PERIODS = {"last 24 h": 1, "last 7 days": 7, "last 30 days": 30, "all": None}

config = settings_or_stop()
st.title("Anomalies")
person = login_widget()  # first, so the sidebar says who may review even on an empty page

with st.expander("Detector settings", icon=":material/tune:"):
    st.markdown(f"- detector: **{config.detector}** (`ORCAI_DETECTOR`)\n"
                f"- learns from the last **{config.detect_lookback_days} days** of runs "
                f"(`ORCAI_DETECT_LOOKBACK_DAYS`)\n"
                f"- baselines refitted every **{config.detect_refit_min} min** "
                f"(`ORCAI_DETECT_REFIT_MIN`); in between, only new runs are scored\n"
                f"- a false positive widens that task's tolerance by {FALSE_POSITIVE_WIDENING - 1:.0%}")

left, middle, right = st.columns([2, 2, 2])
statuses = left.multiselect("Status", ["open", "acknowledged", "false_positive"], default=["open"])
period = middle.selectbox("Detected", list(PERIODS), index=1)
days = PERIODS[period]

try:
    sync_key = current_worker_health().last_sync_at
    since = 0 if days is None else now_ms() - days * DAY_MS
    table, counts = cached_anomalies(sync_key, tuple(sorted(statuses)), since // MINUTE_MS * MINUTE_MS, SHOWN_LIMIT)
except GraphError as exc:
    graph_error_banner(exc)
    st.stop()

kinds = right.multiselect("Kind", sorted(table["kind"].dropna().unique()))
dags = st.multiselect("DAG", sorted(table["dag_id"].dropna().unique()))
if kinds:
    table = table[table["kind"].isin(kinds)]
if dags:
    table = table[table["dag_id"].isin(dags)]

if table.empty:
    st.success("No anomalies match. The worker scores every new run after each sync; "
               "anything abnormal shows up here with the reason.", icon=":material/check_circle:")
    st.stop()

if kinds or dags:  # counts of what the filters kept
    counts = table["severity"].value_counts().to_dict()
cols = st.columns(3)
for col, severity in zip(cols, ("high", "medium", "low")):
    col.metric(f"{severity.capitalize()} severity", f"{int(counts.get(severity, 0)):,}")
if sum(counts.values()) > SHOWN_LIMIT:
    st.caption(f"The table lists the {SHOWN_LIMIT:,} most severe of {sum(counts.values()):,}; the kind and "
               "DAG filters choose among those. Narrow the period to see the rest.")

st.dataframe(
    table.style.map(lambda s: f"color: {SEVERITY_COLOURS.get(s, '')}; font-weight: 600", subset=["severity"]),
    hide_index=True, width="stretch",
    column_order=["severity", "kind", "dag_id", "task_id", "reason", "hits", "detected_at", "status", "run_id"],
    column_config={
        "severity": "Severity", "kind": "Kind", "dag_id": "DAG", "task_id": "Task",
        "reason": st.column_config.TextColumn("Why", width="large"),
        "hits": st.column_config.TextColumn("What it hits", width="medium"),
        "detected_at": st.column_config.DatetimeColumn("Detected", format="distance"),
        "status": "Status", "run_id": "Run",
    },
)

labels = {row.key: f"[{row.severity}] {row.dag_id}.{row.task_id} — {row.kind} — {row.run_id}"
          for row in table.itertuples()}
chosen = st.selectbox("Look closer", list(labels), format_func=labels.get)
anomaly = table.set_index("key").loc[chosen]
st.subheader(md_text(f"{anomaly['dag_id']}.{anomaly['task_id']}"))
st.markdown(f"**{anomaly['kind']}** in run {md_text(anomaly['run_id'])}: {md_text(anomaly['reason'])}")
if anomaly["hits"]:
    st.markdown(f"**What it hits:** {md_text(anomaly['hits'])}")

history = cached_duration_history(sync_key, anomaly["task_key"], config.detect_lookback_days)
if history.empty:
    st.caption("No run history for this task in the detector's lookback window.")
else:
    figure = duration_band_chart(history, history[history["is_anomaly"]], "reason",
                                 highlight=history[history["run_id"] == anomaly["run_id"]])
    st.plotly_chart(figure, width="stretch")

buttons = st.columns(3)
actions = {"acknowledged": "Acknowledge", "false_positive": "Mark false positive", "open": "Reopen"}
may_write = person is not None and person.may("review_anomaly")
for column, (status, label) in zip(buttons, actions.items()):
    if column.button(label, disabled=anomaly["status"] == status or not may_write, key=f"set-{status}",
                     help=None if may_write else "Takes the operator role (local mode: log in as admin)."):
        try:  # orcai checks the role again at the write: a stale page or a forged click cannot skip it
            change_anomaly_status(chosen, status, person)
            st.rerun()
        except PermissionDenied as exc:
            st.error(denied_hint(exc), icon=":material/lock:")

history = anomaly_history(chosen)
if history:
    st.markdown("**History**")
    st.dataframe(history, hide_index=True, width="stretch", key="anomaly-history",
                 column_order=["at", "by", "before", "status", "page", "note", "subject"],
                 column_config={"at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
                                "by": "Who", "before": "From", "status": "To", "page": "Page",
                                "note": "Note", "subject": "Subject"})
