"""Upsert rows as value lists per shape, and the query compiled for a shape (row_shapes.py)."""

import pytest

from orcai.graph.row_shapes import Shape, by_shape, for_shape, shaped_params


def row(key, fp="f", unset=(), **props):
    return {"props": {"key": key, **props}, "unset": list(unset), "fp": fp, "task_key": f"t.{key}"}


def test_rows_of_one_shape_go_together_in_order():
    rows = [row("a", state="ok"), row("b", unset=["state"]), row("c", state="failed")]
    shapes = by_shape(rows, "key")
    assert shapes == {Shape(("key", "state"), (), ("task_key",)): [["f", "t.a", "a", "ok"], ["f", "t.c", "c", "failed"]],
                      Shape(("key",), ("state",), ("task_key",)): [["f", "t.b", "b"]]}


def test_only_the_last_row_of_a_node_is_written():
    """Otherwise grouping by shape could write a node's older row after its newer one."""
    rows = [row("a", fp="old", state="running"), row("a", fp="new", unset=["state"])]
    assert by_shape(rows, "key") == {Shape(("key",), ("state",), ("task_key",)): [["new", "t.a", "a"]]}


def test_a_query_reads_the_shape_by_index():
    shape = Shape(("key", "state"), ("end",), ("task_key",))
    cypher = ("UNWIND $rows AS row MERGE (n:X {key: row.props.key}) SET n += row.props, n.fp = row.fp "
              "WITH n, row WHERE size([f IN row.unset WHERE n[f] IS NOT NULL]) > 0 "
              "MERGE (t:T {key: row.task_key}) SET t.dag = row.props.dag_id RETURN row.props.key AS key")
    assert for_shape(cypher, shape) == (
        "UNWIND $rows AS row MERGE (n:X {key: row[2]}) SET n += {key: row[2], state: row[3]}, n.fp = row[0] "
        "WITH n, row WHERE size([f IN $unset WHERE n[f] IS NOT NULL]) > 0 "
        "MERGE (t:T {key: row[1]}) SET t.dag = null RETURN row[2] AS key")
    assert shaped_params(shape, [["f", "t.a", "a", "ok"]]) == {"rows": [["f", "t.a", "a", "ok"]], "unset": ["end"]}


def test_a_field_the_rows_lack_or_a_strange_name_is_refused():
    with pytest.raises(ValueError, match="no field"):
        for_shape("RETURN row.dag_run_key", Shape(("key",), (), ()))
    with pytest.raises(ValueError, match="not a property name"):
        for_shape("RETURN row.props", Shape(("key", "a b"), (), ()))
