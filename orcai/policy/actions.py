"""Acting on Airflow for a policy or a person, always confirmed by reading back.

The worker's policy stage and the Policies page's undo both come here: the page never
talks to Airflow itself, it asks this module, which talks through `orcai.airflow`.
"""

from __future__ import annotations

from orcai.airflow import AirflowClient
from orcai.config import Settings
from orcai.errors import AirflowError
from orcai.graph import Graph
from orcai.graph import dag_store, policy_store


def set_paused_confirmed(airflow: AirflowClient, dag_id: str, paused: bool) -> tuple[str, str | None]:
    """Pause or unpause a DAG and read it back: (done | skipped | failed, error)."""
    try:
        if airflow.get_dag(dag_id).is_paused == paused:
            return "skipped", f"already {'paused' if paused else 'unpaused'} in Airflow"
        airflow.set_paused(dag_id, paused)
        if airflow.get_dag(dag_id).is_paused != paused:
            return "failed", "Airflow accepted the change but reading the DAG back does not show it"
    except AirflowError as exc:
        return "failed", str(exc)
    return "done", None


def is_undoable(action: dict | None) -> bool:
    """Only a pause that was done (and not undone yet) can be undone."""
    return action is not None and action.get("kind") == "pause" and action.get("status") == "done"


def undo_pause(graph: Graph, airflow: AirflowClient, action_key: str, by: str, now_ms: int) -> tuple[str, str | None]:
    """Unpause the DAG a policy paused, record the undo; (done | skipped | failed, error)."""
    action = policy_store.get_action(graph, action_key)
    if not is_undoable(action):
        return "failed", "only a pause that was done (and not undone yet) can be undone"
    outcome, error = set_paused_confirmed(airflow, action["dag_id"], False)
    if outcome in ("done", "skipped"):
        dag_store.set_dag_flags(graph, action["dag_id"], is_paused=False)
    policy_store.record_undo(graph, action_key, by, now_ms, "done" if outcome != "failed" else "failed", error)
    return outcome, error


def undo_pause_for(settings: Settings, graph: Graph, action_key: str, by: str,
                   now_ms: int) -> tuple[str, str | None]:
    """`undo_pause` with a client of its own (the app holds no Airflow client)."""
    airflow = AirflowClient(settings)
    try:
        return undo_pause(graph, airflow, action_key, by, now_ms)
    finally:
        airflow.close()
