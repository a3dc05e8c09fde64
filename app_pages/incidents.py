"""Incidents: one per root cause — what broke first, the evidence, what it hits, and the
timeline of its symptoms (with why each task run took so long)."""

from __future__ import annotations

import streamlit as st

from orcai.airflow.links import airflow_dag_url
from orcai.errors import GraphError
from orcai.model import DAY_MS, MINUTE_MS
from ui.cache import cached_incident_timeline, cached_incidents, current_worker_health
from ui.connection import graph_error_banner, now_ms, settings_or_stop
from ui.format import absolute_time, md_text
from ui.navigation import open_dag_buttons

PERIODS = {"last 24 h": 1, "last 7 days": 7, "last 30 days": 30}

config = settings_or_stop()
st.title("Incidents")
st.caption("Symptoms (anomalies, failed runs, late or queued runs) grouped by lineage, pool, time and "
           "external system, each with its probable root cause. One Slack message per incident.")

period = st.selectbox("Open, and resolved in the", list(PERIODS), index=1)
try:
    sync_key = current_worker_health().last_sync_at
    since = (now_ms() - PERIODS[period] * DAY_MS) // MINUTE_MS * MINUTE_MS
    incidents = cached_incidents(sync_key, since)
except GraphError as exc:
    graph_error_banner(exc)
    st.stop()

if not incidents:
    st.success("No incidents. The worker groups every cycle's symptoms; each root cause shows up "
               "here with its evidence and what it hits.", icon=":material/check_circle:")
    st.stop()

open_count = sum(i.get("status") == "open" for i in incidents)
left, right = st.columns(2)
left.metric("Open", open_count)
right.metric("Resolved", len(incidents) - open_count)

# Words, not coloured emoji: a select box is plain text, and not every font has the emoji.
labels = {i["key"]: f"{'OPEN' if i.get('status') == 'open' else 'resolved'} · {i['root']} — {i.get('summary') or ''}"
          for i in incidents}
keys = list(labels)
wanted = st.query_params.get("key")
chosen = st.selectbox("Incident", keys, index=keys.index(wanted) if wanted in keys else 0,
                      format_func=labels.get)
incident = next(i for i in incidents if i["key"] == chosen)

st.subheader(f"Root cause: {incident['root']}")
status = incident.get("status")
st.markdown(f"**{status}** · opened {absolute_time(incident.get('opened_at'))}"
            + (f" · resolved {absolute_time(incident.get('resolved_at'))}" if incident.get("resolved_at") else "")
            + (f" · came back {reopened} time{'s' * (reopened != 1)} after it resolved, last "
               f"{absolute_time(incident.get('reopened_at'))}" if (reopened := incident.get("reopened")) else "")
            + f" · {incident.get('size') or 0} symptoms")
st.markdown("\n".join(f"- {md_text(line)}" for line in incident.get("evidence") or []))
others = [f"{kind} {key}" for kind, key in (incident.get("candidates") or [])[1:3]]
if others:
    st.caption("Next most likely: " + "; ".join(others))

st.subheader("What it hits")
hit = set(incident.get("dags_hit") or [])
blast = list(incident.get("blast_dags") or [])
st.markdown(f"**DAGs hit:** {md_text(', '.join(sorted(hit)) or 'none')}  \n"
            f"**Downstream, critical first:** {md_text(', '.join(d for d in blast if d not in hit) or 'nothing else')}  \n"
            f"**Assets:** {md_text(', '.join(incident.get('blast_assets') or []) or 'none')}")

root_dag = incident.get("root_dag") or (sorted(hit)[0] if hit else None)
if root_dag:
    columns = st.columns(3)
    open_dag_buttons(root_dag, ("runs", "lineage"), columns[:2])
    columns[2].link_button("Open in Airflow ↗", airflow_dag_url(config.airflow_links_url, root_dag))

st.subheader("Timeline")
try:
    symptoms = cached_incident_timeline(sync_key, chosen)
except GraphError as exc:
    graph_error_banner(exc)
    st.stop()
st.dataframe(symptoms.drop(columns=["key"]), hide_index=True, use_container_width=True,
             column_config={"at": st.column_config.DatetimeColumn("began", format="YYYY-MM-DD HH:mm"),
                            "breakdown": st.column_config.TextColumn("why it took so long", width="large")})
