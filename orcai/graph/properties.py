"""Writing property maps that may hold nulls, around a FalkorDB 4.16.3 bug.

FalkorDB 4.16.3 removes the wrong properties when one query removes two or more properties
of the same node, in any form (`SET n += {a: null, b: null}`, `SET n.a = null, n.b = null`,
`REMOVE n.a, n.b`): a property swapped into a removed one's slot is skipped or a neighbour
is lost (`tests/integration/test_property_nulls.py` shows it). One removal per node per
query is right. So maps are written without their nulls (`split_nulls`), and a property
that a null should remove is removed on its own (`remove_stale`): one query per property
name, only for the nodes that still hold it.
"""

from __future__ import annotations

import re
from collections import defaultdict

from orcai.graph.base import Graph, WriteCounts

PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_nulls(props: dict) -> tuple[dict, list[str]]:
    """The properties to set and the names of those a null should remove."""
    present, unset = {}, []
    for name, value in props.items():
        if value is None:
            unset.append(name)
        else:
            present[name] = value
    unset.sort()
    return present, unset


def remove_stale(graph: Graph, label: str, key: str, nodes: list[tuple[object, list[str]]]) -> WriteCounts:
    """Remove, from each node (`label` matched on `key` = its value), the properties named
    with it that it still holds: one property name per query. `nodes`: (key value, names)."""
    rows = [{"key": value, "unset": names} for value, names in nodes if names]
    if not rows:
        return WriteCounts()
    stale = graph.read(f"UNWIND $rows AS row MATCH (n:{label} {{{key}: row.key}}) "
                       f"WITH row, {STALE.format(node='n', names='row.unset')} AS stale WHERE size(stale) > 0 "
                       "RETURN row.key AS key, stale", {"rows": rows})
    return remove_properties(graph, label, key, stale)


# The names (a list expression) that `node` still holds: what remove_stale removes.
STALE = "[f IN {names} WHERE {node}[f] IS NOT NULL]"


def remove_properties(graph: Graph, label: str, key: str, stale: list[dict]) -> WriteCounts:
    """Remove the properties `stale` names: rows {"key": key value, "stale": [names]}, as
    remove_stale's read (or a write that asked the same) returns them."""
    by_name: dict[str, list] = defaultdict(list)
    for row in stale:
        for name in row["stale"]:
            by_name[name].append(row["key"])
    counts = WriteCounts()
    for name, values in sorted(by_name.items()):
        if not PROPERTY_NAME.fullmatch(name):  # names come from record fields, never from input
            raise ValueError(f"not a property name: {name!r}")
        counts += graph.write(f"UNWIND $keys AS k MATCH (n:{label} {{{key}: k}}) SET n.{name} = null",
                              {"keys": values})
    return counts
