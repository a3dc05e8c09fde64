"""Upsert rows sent as lists of values, one query per shape, instead of a list of maps.

An upsert's rows (`load._rows`: a record's properties without nulls, the names of its null
ones, its fingerprint `fp`, and extras such as a task run's `dag_run_key`) used to travel as
a list of maps. The falkordb client inlines parameters as Cypher literals, so every row
repeated every property name, and the query then read the values through map accesses (`row.props.dag_id`, `row.props`), which
FalkorDB pays per access. Rows with the same property names (their *shape*: in a catch-up
nearly all rows of a batch share one) go instead as one list of value lists, and the query
written against a row map is compiled for that shape: `row.props.dag_id` becomes `row[4]`,
`row.props` a map literal of those indexes, `row.unset` the shape's `$unset`.
Timed on 30,000 new task runs (one-off; docs/performance.md, sixth session): FalkorDB's
CPU for the task-run upsert ~49 → ~36 µs a row, the client's encoding 10.7 → 5.9 µs.
Parallel lists (one per property, read as `$col[i]`) were far slower: ~640 µs a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orcai.graph.properties import PROPERTY_NAME

# `row.props.name`, `row.props`, `row.name`: the row map accesses a query template may use.
_ACCESS = re.compile(r"\brow\.props\.([A-Za-z_]\w*)|\brow\.props\b|\brow\.([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Shape:
    props: tuple[str, ...]  # the property names present, in the rows' order
    unset: tuple[str, ...]  # the names a null should remove
    extras: tuple[str, ...]  # the row's other fields (besides props, unset and fp)

    def index(self) -> dict[str, int]:
        """Where each field is in a row's list: fp first, then the extras, then the props."""
        fields = ["fp", *self.extras, *(f"props.{name}" for name in self.props)]
        return {field: i for i, field in enumerate(fields)}


# Upsert rows: per shape, one list per row (`Shape.index`).
Rows = dict[Shape, list[list]]


def shaped(by_nulls: dict[tuple, list[list]], extras: tuple[str, ...]) -> Rows:
    """Rows collected per (all property names, which of them are null): cheaper to key by,
    row after row, than a `Shape`, whose `props` are the names not null and `unset` the rest."""
    rows = {}
    for (names, nulls), values in by_nulls.items():
        present = tuple(name for name, null in zip(names, nulls) if not null)
        rows[Shape(present, tuple(sorted(name for name, null in zip(names, nulls) if null)), extras)] = values
    return rows


def fingerprints(rows: Rows, key: str) -> dict:
    """Each row's fingerprint by its `key` property."""
    found = {}
    for shape, values in rows.items():
        at = shape.index()[f"props.{key}"]
        found.update((row[at], row[0]) for row in values)
    return found


def for_shape(cypher: str, shape: Shape) -> str:
    """`cypher`, written against a row map (`UNWIND $rows AS row`, `row.props.key`, …),
    reading the same values from a row list of `shape`; a property the shape lacks is null."""
    index = shape.index()
    for name in (*shape.props, *shape.extras):
        if not PROPERTY_NAME.fullmatch(name):  # names come from record fields, never from input
            raise ValueError(f"not a property name: {name!r}")

    def access(match: re.Match) -> str:
        prop, field = match.group(1), match.group(2)
        if prop is not None:
            return f"row[{index[f'props.{prop}']}]" if f"props.{prop}" in index else "null"
        if field is None:
            return "{" + ", ".join(f"{name}: row[{index[f'props.{name}']}]" for name in shape.props) + "}"
        if field == "unset":
            return "$unset"
        if field not in index:
            raise ValueError(f"the rows have no field {field!r}")
        return f"row[{index[field]}]"
    return _ACCESS.sub(access, cypher)


def shaped_params(shape: Shape, values: list[list]) -> dict:
    return {"rows": values, "unset": list(shape.unset)}
