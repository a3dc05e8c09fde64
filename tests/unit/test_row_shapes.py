"""Upsert rows as value lists per shape, and the query compiled for a shape (row_shapes.py)."""

import pytest

from orcai.graph.load import fingerprint, prepare_task_runs
from orcai.graph.row_shapes import Shape, fingerprints, for_shape, shaped_params
from orcai.model import TaskRunRecord

ALL = tuple(TaskRunRecord("d", "r", "t", -1, "success").props())


def task_run(task, state, **fields):
    return TaskRunRecord("d", "r", task, -1, state, **fields)


def test_rows_of_one_shape_go_together_as_lists():
    runs = [task_run("a", "success", try_number=1), task_run("b", None, try_number=1), task_run("c", "failed", try_number=2)]
    rows = prepare_task_runs(runs).rows
    full = tuple(name for name in ALL if name in ("key", "dag_id", "run_id", "task_id", "map_index", "state",
                                                  "try_number", "source"))
    extras = ("dag_run_key", "task_key")
    with_state = Shape(full, tuple(sorted(set(ALL) - set(full))), extras)
    no_state = Shape(tuple(n for n in full if n != "state"), tuple(sorted(set(ALL) - set(full) | {"state"})), extras)
    assert rows == {
        with_state: [[fingerprint(runs[0].props()), "d/r", "d.a", "d/r/a/-1", "d", "r", "a", -1, "success", 1, "airflow"],
                     [fingerprint(runs[2].props()), "d/r", "d.c", "d/r/c/-1", "d", "r", "c", -1, "failed", 2, "airflow"]],
        no_state: [[fingerprint(runs[1].props()), "d/r", "d.b", "d/r/b/-1", "d", "r", "b", -1, 1, "airflow"]]}
    assert fingerprints(rows, "key") == {run.key: fingerprint(run.props()) for run in runs}


def test_only_the_last_row_of_a_node_is_written():
    """Otherwise writing shapes one after the other could write a node's older row last."""
    older, newer = task_run("a", "running", hostname="h"), task_run("a", "success")
    rows = prepare_task_runs([older, newer]).rows
    assert [values for values in rows.values()] == [[[fingerprint(newer.props()), "d/r", "d.a", "d/r/a/-1",
                                                      "d", "r", "a", -1, "success", "airflow"]]]


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
