"""An admin's deadline for a DAG, set on the Runs page and stored on the DAG in the graph.

It wins over the DAG's own tag or param and over `ORCAI_DEADLINES` (see deadlines.py):
it is the latest word, and it needs no change to the DAG's code.
"""

from __future__ import annotations

from orcai.access import Person, require
from orcai.forecast.deadlines import spec_of
from orcai.graph import Graph, dag_store


def set_dag_deadline(graph: Graph, dag_id: str, text: str, by: Person, at_ms: int,
                     page: str | None = None) -> str | None:
    """Set ("07:00", "+2h") or clear ("") a DAG's deadline; the deadline stored, or None.

    Takes the admin role (PermissionDenied otherwise); a wrong value is a ValueError saying
    what is expected. Who set it, their subject, when and from which page are kept with it."""
    require(by, "set_deadline")
    spec = spec_of(text) if str(text or "").strip() else None
    if not dag_store.set_dag_deadline(graph, dag_id, spec, by.name, by.subject, at_ms, page):
        raise ValueError(f"no DAG {dag_id!r} in the graph")
    return spec
