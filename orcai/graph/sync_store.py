"""What the sync remembers between cycles: one SyncState node per shard (the global
watermark, the newest DAG version seen, a stream pass under way with its cursors) and,
per DAG, when its history (`synced_until`) and task list (`tasks_synced_at`) were read."""

from __future__ import annotations

from dataclasses import asdict

from orcai.graph.base import Graph
from orcai.graph.load import write_batched
from orcai.sync_plan import StreamPass, SyncState

_PASS_PREFIX = "pass_"


def state_name(shard: str) -> str:
    return f"airflow:{shard}"


def read_state(graph: Graph, shard: str) -> SyncState:
    rows = graph.read("MATCH (s:SyncState {name: $name}) RETURN properties(s) AS s", {"name": state_name(shard)})
    if not rows:
        return SyncState()
    props = rows[0]["s"]
    current = None
    if props.get("pass_since") is not None:
        fields = {name: props.get(_PASS_PREFIX + name) for name in StreamPass.__dataclass_fields__}
        current = StreamPass(**fields)
    return SyncState(watermark=props.get("watermark"), version_id=props.get("version_id"),
                     assets_at=props.get("assets_at"), current=current)


def write_state(graph: Graph, shard: str, state: SyncState) -> None:
    """Replace the shard's state (a property set to null is removed)."""
    props = {"watermark": state.watermark, "version_id": state.version_id, "assets_at": state.assets_at}
    stream = asdict(state.current) if state.current is not None else dict.fromkeys(StreamPass.__dataclass_fields__)
    props.update({_PASS_PREFIX + name: value for name, value in stream.items()})
    props = {"name": state_name(shard), **{k: v for k, v in props.items() if v is not None}}
    # `SET s = $props` replaces every property. Not `SET s += $props` with nulls to remove
    # some: FalkorDB 4.16 then removes the wrong ones ({a:1,b:2,c:3} += {a:null,b:5,c:null}
    # left {c:3}).
    graph.write("MERGE (s:SyncState {name: $name}) SET s = $props", {"name": state_name(shard), "props": props})


def dag_sync_marks(graph: Graph) -> dict[str, tuple[int | None, int | None]]:
    """Per Airflow DAG in the graph: (synced_until, tasks_synced_at)."""
    rows = graph.read("MATCH (d:Dag) WHERE d.source = 'airflow' "
                      "RETURN d.dag_id AS dag_id, d.synced_until AS history, d.tasks_synced_at AS tasks")
    return {row["dag_id"]: (row["history"], row["tasks"]) for row in rows}


def set_tasks_synced(graph: Graph, at_by_dag: dict[str, int]) -> None:
    rows = [{"dag_id": dag_id, "at": at} for dag_id, at in at_by_dag.items()]
    write_batched(graph, "UNWIND $rows AS row MATCH (d:Dag {dag_id: row.dag_id}) "
                         "SET d.tasks_synced_at = row.at", rows)
