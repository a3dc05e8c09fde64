"""What a failure of a task (or of a whole DAG) hits downstream, most critical first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from orcai.graph import Graph, Row, forecast_store, incident_store
from orcai.graph import lineage_store as store
from orcai.incidents.topology import topology_from_rows
from orcai.lineage.walks import downstream_tasks


@dataclass
class BlastRadius:
    """What a failure of `start` hits: tasks, DAGs, assets, external systems, ranked."""

    start: str
    tasks: list[Row]
    dags: list[Row]
    assets: list[str]
    systems: list[str]


def blast_radius(graph: Graph, task_key: str | None = None, dag_id: str | None = None,
                 max_dag_hops: int = 10) -> BlastRadius:
    """Downstream of a task (or of every task of a DAG), with last states and criticality."""
    if (task_key is None) == (dag_id is None):
        raise ValueError("give exactly one of task_key or dag_id")
    start = [task_key] if task_key else store.dag_task_keys(graph, dag_id)
    walk = downstream_tasks(graph, start, max_dag_hops)
    tasks = store.task_details(graph, walk.keys)
    own = store.task_details(graph, start)
    for row in tasks:
        row["hops"], row["via"] = walk.hops[row["key"]], walk.via.get(row["key"])
    tasks.sort(key=lambda r: (-r["criticality"], r["hops"], r["key"]))
    dag_ids = sorted({row["dag_id"] for row in tasks} - ({dag_id} if dag_id else set()))
    dags = store.dag_details(graph, dag_ids)
    assets = sorted({uri for row in own + tasks for uri in row["assets"]})
    systems = sorted({name for row in own + tasks for name in row["systems"] if name})
    return BlastRadius(start=task_key or dag_id, tasks=tasks, dags=dags, assets=assets, systems=systems)


# --- what an alert hits ----------------------------------------------------------------------

AT_RISK = 0.5  # a downstream deadline is named when its run is at least this likely to miss it


@dataclass(frozen=True)
class Reach:
    """What a flagged task (or DAG) hits downstream: DAGs critical first, assets, and the
    deadlines of downstream runs likely to be missed."""

    dags: tuple[str, ...]
    assets: tuple[str, ...]
    deadlines: tuple[str, ...]

    @property
    def sentence(self) -> str:
        if not self.dags and not self.assets:
            return "nothing downstream"
        shown = ", ".join(self.dags[:5]) + (f" and {len(self.dags) - 5} more" if len(self.dags) > 5 else "")
        text = f"{len(self.dags)} DAG{'s' * (len(self.dags) != 1)} downstream" + (f" ({shown})" if self.dags else "")
        if self.assets:
            text += f"; assets {', '.join(self.assets[:3])}" + (" …" if len(self.assets) > 3 else "")
        if self.deadlines:
            text += f"; deadlines at risk: {', '.join(self.deadlines)}"
        return text


def reach_of(graph: Graph, nodes: list[str]) -> dict[str, Reach]:
    """For each node (a task key, or `dag:<id>` for a DAG's run as a whole): what it hits.
    One read of the estate and of the forecasts, whatever the number of nodes."""
    if not nodes:
        return {}
    topo = topology_from_rows(incident_store.estate(graph))
    risky = forecast_store.riskiest_forecast_by_dag(graph)
    out = {}
    for node, (dags, assets) in topo.blast_each(set(nodes)).items():
        own = topo.dag_of(node)
        downstream = [d for d in dags if d != own]
        late = [f"{d} ({_deadline(risky[d])})" for d in downstream
                if (risky.get(d) or {}).get("breach_risk") is not None and risky[d]["breach_risk"] >= AT_RISK]
        out[node] = Reach(tuple(downstream), tuple(assets), tuple(late))
    return out


def _deadline(row: Row) -> str:
    at = datetime.fromtimestamp(row["deadline"] / 1000, tz=timezone.utc).strftime("%H:%M UTC") if row.get("deadline") else "?"
    return f"due {at}, {row['breach_risk']:.0%} likely late"
