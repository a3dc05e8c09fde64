"""The Lineage page's first view: a neighbourhood drawn as plain HTML, with no iframe.

A graph component lives in an iframe whose JavaScript the browser fetches and compiles again
on every visit (Streamlit serves component files without a cache lifetime): about 0.9 s of
the page's 2 s budget. `st.html` is drawn by Streamlit's own bundle, but it sanitises with
DOMPurify's HTML profile, which drops inline <svg>. So the edges and their arrowheads are one
SVG image (a `data:` URI, which it keeps on <img>) and the nodes are HTML boxes laid over it
at the positions `orcai.lineage.view` computed. A task's box links to the same page with
`focus=<task key>` (the page shows that task's details), a DAG's box to that DAG's lineage.
Every id comes from the customer's Airflow: all of it is escaped here.
"""

from __future__ import annotations

import html
import math
from urllib.parse import quote, urlencode

from ui.format import STATE_COLOURS

NO_RUNS_COLOUR = "#c7c7c7"
KIND_STYLE = {"asset": ("#7e57c2", "diamond"), "system": ("#455a64", "hexagon"),
              "dag": ("#00838f", "box")}
EDGE_COLOUR = "#9e9e9e"
ANOMALY_BORDER = "#b00020"
START_BORDER = "#000000"
FOCUS_OUTLINE = "#1a73e8"
BOX_W, BOX_H = 170, 28  # a task's or DAG's box in layout px: the layout's columns are 220 apart
MARK = 18  # an asset's diamond or a system's hexagon, layout px; its label sits below it
FONT_PX = 13
BOX_CHARS = 24  # about what a box holds at FONT_PX: longer labels lose their middle, not their end
MARGIN_X, MARGIN_Y = BOX_W / 2 + 10, BOX_H / 2 + 24  # half a box around, room for a label under a mark
HEXAGON = "polygon(25% 0,75% 0,100% 50%,75% 100%,25% 100%,0 50%)"
CSS = """
.orcai-lineage{{overflow:auto;max-height:1200px}}
.orcai-lineage .map{{position:relative}}
.orcai-lineage img{{position:absolute;left:0;top:0}}
.orcai-lineage .n{{position:absolute;box-sizing:border-box;width:{w}px;font-size:{font}px;
 white-space:nowrap;overflow:hidden;text-overflow:ellipsis;text-align:center;text-decoration:none}}
.orcai-lineage .box{{height:{h}px;line-height:{line}px;border-style:solid;border-radius:4px;
 color:#ffffff;padding:0 4px}}
.orcai-lineage .mark{{color:inherit;font-size:{small}px}}
.orcai-lineage .mark i{{display:block;width:{m}px;height:{m}px;margin:0 auto 2px}}
.orcai-lineage .diamond i{{transform:rotate(45deg) scale(0.75)}}
.orcai-lineage .hexagon i{{clip-path:{hexagon}}}
.orcai-lineage .focus{{outline:3px solid {focus};outline-offset:2px}}
"""


def node_label(node: dict, dag_id: str | None) -> str:
    """A task's id (with its DAG's when it is another DAG's) and its open anomalies; else the name."""
    if node["kind"] != "task":
        return node["label"]
    label = node["label"] if node["dag_id"] == dag_id else f"{node['dag_id']}.{node['label']}"
    return label + (f" ⚠ {node['anomalies']}" if node["anomalies"] else "")


def fitted(label: str, room: int = BOX_CHARS) -> str:
    """`label` shortened in the middle to `room` characters: another DAG's task keeps the
    start of its DAG id and its own task id (the hover text has the whole key)."""
    if len(label) <= room:
        return label
    tail = room - room // 2
    return label[:room - tail - 1] + "…" + label[-tail:]


def node_hover(node: dict) -> str:
    if node["kind"] != "task":
        return node["key"]
    return (f"{node['key']}\nlast state: {node['state'] or 'no runs'}\n"
            f"downstream tasks: {node['criticality']}")


def task_colours(node: dict) -> tuple[str, str, int]:
    """A task's fill (its last run's state), border colour and width: red with open anomalies,
    black on the tasks the view starts from."""
    colour = STATE_COLOURS.get(node["state"], NO_RUNS_COLOUR)
    if node["anomalies"]:
        return colour, ANOMALY_BORDER, 3
    return (colour, START_BORDER, 3) if node["direction"] == "start" else (colour, colour, 1)


def shape(node: dict) -> str:
    return "box" if node["kind"] == "task" else KIND_STYLE[node["kind"]][1]


def node_link(node: dict, page_params: dict[str, str]) -> str | None:
    """Where a click on the node goes: a task keeps the view and focuses on it; a DAG opens its lineage."""
    if node["kind"] == "task":
        return "?" + urlencode({**page_params, "focus": node["key"]})
    if node["kind"] == "dag":
        return "?" + urlencode({"dag": node["key"], "hops": page_params.get("hops", "1")})
    return None


class Frame:
    """Layout px to drawn px: the drawing scaled down to `width_px` at most, with a margin."""

    def __init__(self, nodes: list[dict], width_px: int) -> None:
        xs, ys = [n["x"] for n in nodes], [n["y"] for n in nodes]
        self.left, self.top = min(xs) - MARGIN_X, min(ys) - MARGIN_Y
        wide, tall = max(xs) - self.left + MARGIN_X, max(ys) - self.top + MARGIN_Y
        self.scale = min(1.0, width_px / wide)
        self.width, self.height = math.ceil(wide * self.scale), math.ceil(tall * self.scale)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return round((x - self.left) * self.scale, 1), round((y - self.top) * self.scale, 1)


def border_point(node: dict, towards: dict) -> tuple[float, float]:
    """Where the straight line from `node`'s centre to `towards`' centre leaves `node`'s shape."""
    dx, dy = towards["x"] - node["x"], towards["y"] - node["y"]
    if not dx and not dy:
        return node["x"], node["y"]
    if shape(node) == "box":
        t = min(BOX_W / 2 / abs(dx) if dx else math.inf, BOX_H / 2 / abs(dy) if dy else math.inf)
    else:
        t = (MARK / 2 + 2) / math.hypot(dx, dy)
    t = min(t, 1.0)
    return node["x"] + dx * t, node["y"] + dy * t


def edges_svg(nodes: list[dict], edges: list[dict], frame: Frame) -> str:
    """The edges between drawn nodes as one SVG document: straight, with an arrowhead at the
    target's border, and the kind written at the middle of each edge that is not a task dependency."""
    by_id = {n["id"]: n for n in nodes}
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{frame.width}' height='{frame.height}' "
             f"viewBox='0 0 {frame.width} {frame.height}' font-family='sans-serif' font-size='10'>"
             "<defs><marker id='a' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' "
             f"orient='auto'><path d='M0,0L10,5L0,10z' fill='{EDGE_COLOUR}'/></marker></defs>"
             f"<g stroke='{EDGE_COLOUR}' stroke-width='1.2' fill='{EDGE_COLOUR}'>"]
    for edge in edges:
        source, target = by_id.get(edge["source"]), by_id.get(edge["target"])
        if source is None or target is None or source is target:
            continue
        (x1, y1), (x2, y2) = (frame.point(*border_point(source, target)),
                              frame.point(*border_point(target, source)))
        parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' marker-end='url(#a)'/>")
        if edge["kind"] != "DEPENDS_ON":
            parts.append(f"<text x='{(x1 + x2) / 2}' y='{(y1 + y2) / 2 - 3}' stroke='none' text-anchor='middle'>"
                         f"{html.escape(edge['kind'].lower())}</text>")
    parts.append("</g></svg>")
    return "".join(parts)


def node_html(node: dict, dag_id: str | None, frame: Frame, page_params: dict[str, str], focus: str | None) -> str:
    x, y = frame.point(node["x"], node["y"])
    half_w, half_h = BOX_W * frame.scale / 2, (BOX_H if shape(node) == "box" else MARK) * frame.scale / 2
    style = f"left:{x - half_w:.1f}px;top:{y - half_h:.1f}px;"
    if node["kind"] == "task":
        fill, border, width = task_colours(node)
        style += f"background:{fill};border-color:{border};border-width:{width}px"
    elif shape(node) == "box":
        style += f"background:{KIND_STYLE[node['kind']][0]};border-color:{KIND_STYLE[node['kind']][0]};border-width:1px"
    classes = f"n {shape(node)}" + ("" if shape(node) == "box" else " mark") + (
        " focus" if focus and node.get("key") == focus and node["kind"] == "task" else "")
    label = html.escape(fitted(node_label(node, dag_id)))
    if shape(node) != "box":
        label = f"<i style=\"background:{KIND_STYLE[node['kind']][0]}\"></i>{label}"
    link = node_link(node, page_params)
    tag, href = ("a", f' href="{html.escape(link)}"') if link else ("div", "")
    return (f'<{tag} class="{classes}"{href} title="{html.escape(node_hover(node))}" '
            f'data-node="{html.escape(node["id"])}" style="{style}">{label}</{tag}>')


def lineage_html(nodes: list[dict], edges: list[dict], dag_id: str | None, page_params: dict[str, str],
                 focus: str | None = None, width_px: int = 900) -> str:
    """The whole drawing for `st.html`: nodes at their computed positions over an image of the
    edges, scaled to `width_px` at most. `page_params` are the page's query parameters, which
    a task's link keeps (adding `focus`)."""
    if not nodes:
        return ""
    frame = Frame(nodes, width_px)
    scale = frame.scale
    css = CSS.format(w=round(BOX_W * scale, 1), h=round(BOX_H * scale, 1), line=round(BOX_H * scale - 2, 1),
                     font=round(FONT_PX * scale, 1), small=round((FONT_PX - 2) * scale, 1),
                     m=round(MARK * scale, 1), hexagon=HEXAGON, focus=FOCUS_OUTLINE)
    image = "data:image/svg+xml," + quote(edges_svg(nodes, edges, frame), safe="/=:,.-()")
    return (f"<style>{css}</style><div class=\"orcai-lineage\"><div class=\"map\" "
            f"style=\"width:{frame.width}px;height:{frame.height}px\">"
            f"<img src=\"{image}\" width=\"{frame.width}\" height=\"{frame.height}\" alt=\"lineage edges\">"
            + "".join(node_html(n, dag_id, frame, page_params, focus) for n in nodes)
            + "</div></div>")
