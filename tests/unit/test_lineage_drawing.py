"""The Lineage page's HTML drawing: every node and edge drawn inside the picture, ids from
Airflow shown as text and never as markup, clicks that keep the page's view."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import parse_qs, unquote

import pytest

from orcai.lineage.view import place
from tests.hostile import HOSTILE_STRINGS
from ui.lineage_drawing import BOX_CHARS, BOX_W, Frame, fitted, lineage_html

SVG = "{http://www.w3.org/2000/svg}"


def task(dag: str, task_id: str, **extra) -> dict:
    return {"id": f"task:{dag}.{task_id}", "kind": "task", "label": task_id, "key": f"{dag}.{task_id}",
            "dag_id": dag, "state": "success", "criticality": 1, "direction": "down", "anomalies": 0, **extra}


def neighbourhood(dag: str = "A", task_ids=("a1", "a2", "a3")) -> tuple[list[dict], list[dict]]:
    """A chain of tasks, an asset they produce, the system it is stored in and a consumer DAG."""
    nodes = [task(dag, t, direction="start" if i == 0 else "down") for i, t in enumerate(task_ids)]
    nodes += [{"id": "asset:s3://b/k", "kind": "asset", "label": "k", "key": "s3://b/k", "anomalies": 0},
              {"id": "system:s3", "kind": "system", "label": "s3", "key": "s3", "anomalies": 0},
              {"id": "dag:C", "kind": "dag", "label": "C", "key": "C", "anomalies": 0}]
    edges = [{"source": a["id"], "target": b["id"], "kind": "DEPENDS_ON"} for a, b in zip(nodes, nodes[1:3])]
    edges += [{"source": nodes[2]["id"], "target": "asset:s3://b/k", "kind": "PRODUCES"},
              {"source": "asset:s3://b/k", "target": "system:s3", "kind": "STORED_IN"},
              {"source": "asset:s3://b/k", "target": "dag:C", "kind": "TRIGGERS"}]
    place(nodes, edges)
    return nodes, edges


class Parsed(HTMLParser):
    """The elements of the drawing: tags seen, node elements with their attributes and text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.nodes: dict[str, dict] = {}
        self.image: dict = {}
        self.map_style = ""
        self._open: dict | None = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if "data-node" in attrs:
            self._open = {"tag": tag, **attrs, "text": ""}
            self.nodes[attrs["data-node"]] = self._open
        elif tag == "img":
            self.image = attrs
        elif attrs.get("class") == "map":
            self.map_style = attrs["style"]

    def handle_endtag(self, tag):
        if self._open and tag == self._open["tag"]:
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data


def svg_of(parsed: Parsed) -> ET.Element:
    source = parsed.image["src"]
    assert source.startswith("data:image/svg+xml,")
    return ET.fromstring(unquote(source[len("data:image/svg+xml,"):]))


def px(style: str, name: str) -> float:
    return float(style.split(f"{name}:", 1)[1].split("px", 1)[0])


def test_every_node_and_edge_is_drawn_inside_the_picture():
    nodes, edges = neighbourhood()
    parsed = Parsed(lineage_html(nodes, edges, "A", {"dag": "A", "hops": "1"}))
    assert set(parsed.nodes) == {n["id"] for n in nodes}
    svg = svg_of(parsed)
    width, height = float(svg.get("width")), float(svg.get("height"))
    assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"
    assert (px(parsed.map_style, "width"), px(parsed.map_style, "height")) == (width, height)
    lines = svg.findall(f".//{SVG}line")
    assert len(lines) == len(edges)
    for line in lines:
        for axis, limit in (("x1", width), ("x2", width), ("y1", height), ("y2", height)):
            assert 0 <= float(line.get(axis)) <= limit
    assert sorted(t.text for t in svg.findall(f".//{SVG}text")) == ["produces", "stored_in", "triggers"]
    for node in parsed.nodes.values():
        assert 0 <= px(node["style"], "left") <= width - BOX_W * Frame(nodes, 900).scale + 0.2
        assert 0 <= px(node["style"], "top") <= height


def test_an_arrow_ends_at_the_border_of_the_box_it_points_to():
    nodes, edges = neighbourhood(task_ids=("a1", "a2"))
    frame = Frame(nodes, 900)
    line = svg_of(Parsed(lineage_html(nodes, edges[:1], "A", {}))).find(f".//{SVG}line")
    target_x, _ = frame.point(nodes[1]["x"], nodes[1]["y"])
    assert float(line.get("x2")) == pytest.approx(target_x - BOX_W / 2 * frame.scale, abs=0.2)
    assert float(line.get("y1")) == float(line.get("y2"))


def test_a_wide_drawing_is_scaled_to_the_width_given():
    names = [f"t{i}" for i in range(12)]  # 12 layers: two bands of six
    nodes = [task("A", t) for t in names]
    edges = [{"source": a["id"], "target": b["id"], "kind": "DEPENDS_ON"} for a, b in zip(nodes, nodes[1:])]
    place(nodes, edges)
    svg = svg_of(Parsed(lineage_html(nodes, edges, "A", {}, width_px=600)))
    assert float(svg.get("width")) <= 600


def test_edges_to_nodes_left_out_by_the_cap_are_not_drawn():
    nodes, edges = neighbourhood()
    edges.append({"source": "asset:s3://b/k", "target": "task:Z.outside", "kind": "TRIGGERS"})
    svg = svg_of(Parsed(lineage_html(nodes, edges, "A", {})))
    assert len(svg.findall(f".//{SVG}line")) == len(edges) - 1


def test_a_click_on_a_task_keeps_the_view_and_focuses_on_it_a_dag_opens_its_lineage():
    nodes, edges = neighbourhood()
    parsed = Parsed(lineage_html(nodes, edges, "A", {"dag": "A", "hops": "2", "task": "A.a1"}, focus="A.a2"))
    clicked = parse_qs(parsed.nodes["task:A.a2"]["href"].lstrip("?"))
    assert clicked == {"dag": ["A"], "hops": ["2"], "task": ["A.a1"], "focus": ["A.a2"]}
    assert parse_qs(parsed.nodes["dag:C"]["href"].lstrip("?")) == {"dag": ["C"], "hops": ["2"]}
    assert "href" not in parsed.nodes["asset:s3://b/k"]
    assert "focus" in parsed.nodes["task:A.a2"]["class"].split()
    assert "focus" not in parsed.nodes["task:A.a1"]["class"].split()
    assert parsed.nodes["task:A.a2"]["title"].startswith("A.a2\nlast state: success")


def test_another_dags_task_is_named_with_its_dag_and_anomalies_are_counted():
    nodes, edges = neighbourhood()
    nodes[1].update(dag_id="B", anomalies=2)
    parsed = Parsed(lineage_html(nodes, edges, "A", {}))
    assert parsed.nodes[nodes[1]["id"]]["text"] == "B.a2 ⚠ 2"
    assert "#b00020" in parsed.nodes[nodes[1]["id"]]["style"]


def test_a_long_label_loses_its_middle_and_keeps_the_task_id():
    nodes, edges = neighbourhood()
    nodes[1].update(dag_id="synthetic_dag_with_a_long_name_0151", label="transform_03")
    text = Parsed(lineage_html(nodes, edges, "A", {})).nodes[nodes[1]["id"]]["text"]
    assert len(text) == BOX_CHARS and text.startswith("synthetic_") and text.endswith("transform_03")
    assert "…" in text
    assert fitted("short") == "short"


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_ids_from_airflow_are_shown_as_text_never_as_markup(hostile):
    nodes, edges = neighbourhood(dag=hostile, task_ids=(hostile, "a2"))
    nodes[3].update(label=hostile, key=hostile)  # the asset
    markup = lineage_html(nodes, edges, "other", {"dag": hostile, "hops": "1"}, focus=f"{hostile}.{hostile}")
    parsed = Parsed(markup)
    assert parsed.tags <= {"style", "div", "img", "a", "i"}
    assert set(parsed.nodes) == {n["id"] for n in nodes}
    first = parsed.nodes[nodes[0]["id"]]
    assert first["text"] == fitted(f"{hostile}.{hostile}")
    assert parse_qs(first["href"].lstrip("?"))["focus"] == [f"{hostile}.{hostile}"]
    assert first["title"].startswith(f"{hostile}.{hostile}\n")
    assert parsed.nodes[nodes[3]["id"]]["text"] == fitted(hostile)
    svg_of(parsed)  # the edges image stays well-formed


def test_nothing_to_draw_is_an_empty_drawing():
    assert lineage_html([], [], "A", {}) == ""
