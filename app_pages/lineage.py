"""Lineage: what does this task (or DAG) depend on, and what does it hit downstream?"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_agraph import Config, Edge, Node, agraph

from orcai.airflow.links import airflow_task_page_url
from ui.cache import (
    cached_blast_radius, cached_dag_tasks, cached_neighbourhood, cached_recent_task_runs, dag_ids_or_stop,
)
from ui.connection import settings_or_stop
from ui.format import md_text
from ui.lineage_drawing import KIND_STYLE, lineage_html, node_hover, node_label, task_colours
from ui.navigation import open_dag_buttons

MAX_NODES = 300
# streamlit-agraph turns each node's hover text into a DOM element, so its re-renders (Streamlit
# sends several per visit) find every node changed and diff all nodes against all: ~1 s of the
# browser's time at 300 nodes. Hover text only where that is cheap.
HOVER_MAX_NODES = 60
CANVAS_WIDTH_PX = 900  # about the width of the main column in the wide layout

config = settings_or_stop()
st.title("Lineage")
st.caption("Pick a DAG, or one of its tasks, to see what it depends on and what it hits "
           "downstream — inside the DAG and across DAGs through assets.")

sync_key, dags = dag_ids_or_stop()

params = st.query_params


def forget_focus() -> None:
    """Another DAG, task or depth: the task clicked in the drawing (`focus`) no longer applies."""
    st.query_params.pop("focus", None)


wanted = params.get("dag")
left, middle, right = st.columns([3, 3, 2])
dag_id = left.selectbox("DAG", dags, index=dags.index(wanted) if wanted in dags else 0, on_change=forget_focus)
tasks = cached_dag_tasks(sync_key, dag_id)
task_key = middle.selectbox("Task (optional)", [None] + sorted(tasks),
                            format_func=lambda k: "whole DAG" if k is None else k.split(".", 1)[1],
                            index=(sorted(tasks).index(params["task"]) + 1) if params.get("task") in tasks else 0,
                            on_change=forget_focus)
wanted_hops = params.get("hops", "1")
depth = right.slider("DAG hops", 0, 5, min(int(wanted_hops), 5) if wanted_hops.isdigit() else 1,
                     help="How many DAGs away to follow assets, up and down.", on_change=forget_focus)
open_dag_buttons(dag_id, ("runs",), st.columns([1, 7]))
page_params = {"dag": dag_id, "hops": str(depth), **({"task": task_key} if task_key else {})}
st.query_params.update(page_params)
if not task_key and "task" in st.query_params:
    del st.query_params["task"]

with st.spinner("Walking the graph..."):
    view = cached_neighbourhood(sync_key, dag_id, task_key, depth, MAX_NODES)
if view.hidden:
    st.warning(f"{view.hidden} more tasks are in this neighbourhood; the {MAX_NODES} nearest are "
               "drawn. Pick a task or fewer DAG hops to narrow it.", icon=":material/filter_alt:")


def draw_node(node: dict, hover: bool) -> Node:
    drawn = styled_node(node)
    if not hover:
        drawn.title = ""  # Node() falls back to the id when given none
    return drawn


def styled_node(node: dict) -> Node:
    if node["kind"] == "task":
        colour, border, width = task_colours(node)
        return Node(id=node["id"], label=node_label(node, dag_id), shape="box", size=18, x=node["x"], y=node["y"],
                    color={"background": colour, "border": border}, borderWidth=width,
                    font={"color": "#ffffff"}, title=node_hover(node))
    colour, shape = KIND_STYLE[node["kind"]]
    return Node(id=node["id"], label=node["label"], shape=shape, size=16, color=colour,
                title=node_hover(node), x=node["x"], y=node["y"])


LEGEND = ("Colour = last run state · thick black border = your selection · ⚠ = open anomalies · "
          "purple diamonds = assets · grey hexagons = external systems. ")
# The first view is plain HTML drawn by Streamlit's own bundle (ui.lineage_drawing): no
# component iframe to fetch and compile on every visit. The interactive graph (zoom, pan) is
# a tab away, and runs only when that tab is open.
graph_tab, interactive_tab, table_tab = st.tabs(["Graph", "Interactive", "Table"], key="view",
                                                bind="query-params")
selected = None
if not view.nodes:
    graph_tab.info("This DAG has no tasks in the graph yet.")
    interactive_tab.info("This DAG has no tasks in the graph yet.")
elif graph_tab.open is not False:
    with graph_tab:
        st.html(lineage_html(view.nodes, view.edges, dag_id, page_params, params.get("focus"), CANVAS_WIDTH_PX))
        st.caption(LEGEND + "Hover for a task's key and downstream count; click a task for details, "
                   "a DAG for its lineage. Zoom and pan: the Interactive tab.")
if view.nodes and interactive_tab.open:
    with interactive_tab:
        # Positions come from orcai.lineage.view (layers left to right): the browser only draws,
        # and the canvas is as tall as the drawing once fitted to the page's width.
        width, tall = view.size
        scale = min(1.0, CANVAS_WIDTH_PX / (width + 240))
        height = int(min(1200, max(240, (tall + 120) * scale)))
        # Straight edges: vis-network's default "dynamic" curves add a hidden support node per
        # edge and bend each one; no improvedLayout pass either, the positions are given.
        layout = Config(height=height, directed=True, physics=False, hierarchical=False,
                        edges={"smooth": False}, layout={"improvedLayout": False})
        layout.width = "100%"  # Config would append "px" to a number
        hover = len(view.nodes) <= HOVER_MAX_NODES
        # Edges carry ids: vis-network writes a generated id into each edge given without one,
        # so at every re-render the component saw all edges changed and diffed them all
        # against all (~1 s at 300 nodes' 500 edges) before replacing them.
        selected = agraph(
            nodes=[draw_node(n, hover) for n in view.nodes],
            edges=[Edge(source=e["source"], target=e["target"], color="#9e9e9e",
                        id=f"{e['kind']}:{e['source']}>{e['target']}",
                        label="" if e["kind"] == "DEPENDS_ON" else e["kind"].lower())
                   for e in view.edges],
            config=layout,
        )
        st.caption(LEGEND + ("Hover for a task's key and downstream count; click" if hover else "Click")
                   + " a task for details.")

with table_tab:
    rows = [{"kind": n["kind"], "name": n.get("key") or n["label"], "dag": n.get("dag_id"),
             "relation": n.get("direction"), "dag hops": n.get("hops"), "last state": n.get("state"),
             "downstream tasks": n.get("criticality"), "open anomalies": n["anomalies"]}
            for n in view.nodes]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

clicked = params.get("focus")  # a task's link in the drawing
if isinstance(selected, str) and selected.startswith("task:"):  # a click in the interactive graph
    clicked = selected[len("task:"):]
focus = clicked if any(n.get("key") == clicked and n["kind"] == "task" for n in view.nodes) else task_key
if focus:
    st.subheader(f"Task {md_text(focus)}")
    radius = cached_blast_radius(sync_key, focus)
    node = next((n for n in view.nodes if n.get("key") == focus), {})
    cols = st.columns(4)
    cols[0].metric("Upstream tasks", view.upstream_task_count(focus), help="Drawn above: within the DAG hops shown.")
    cols[1].metric("Downstream tasks", len(radius.tasks), help="Across DAGs, through assets.")
    cols[2].metric("DAGs hit", len(radius.dags))
    cols[3].metric("Assets / systems", f"{len(radius.assets)} / {len(radius.systems)}")
    # A DAG id may itself hold dots: take the ids from the graph's node, not from the key.
    dag_part, task_part = (node["dag_id"], node["label"]) if node else focus.split(".", 1)
    st.link_button("Open in Airflow ↗", airflow_task_page_url(config.airflow_links_url, dag_part, task_part))
    if radius.dags:
        st.markdown("**Blast radius** — DAGs hit if this task fails, most depended-on first")
        st.dataframe(pd.DataFrame(radius.dags), hide_index=True, width="stretch")
    if radius.systems:
        st.markdown("**External systems touched:** " + ", ".join(md_text(s) for s in radius.systems))
    runs = cached_recent_task_runs(sync_key, focus)
    st.markdown("**Last runs**")
    if runs:
        table = pd.DataFrame(runs)
        table["start_date"] = pd.to_datetime(table["start_date"], unit="ms", utc=True)
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.caption("No runs of this task in the graph yet.")
    if node.get("operator"):
        st.caption(f"Operator: {node['operator']}")
