"""Acting on Airflow for a policy or a person, always confirmed by reading back.

The worker's policy stage and the Policies page's undo both come here: the page never
talks to Airflow itself, it asks this module, which talks through `orcai.airflow`.
"""

from __future__ import annotations

from orcai.access import Person, require
from orcai.airflow import AirflowClient
from orcai.alerts.outbox import AlertRequest
from orcai.config import Settings
from orcai.errors import AirflowError
from orcai.graph import Graph
from orcai.graph import dag_store, policy_store
from orcai.graph.alert_store import enqueue


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


def undo_pause(graph: Graph, airflow: AirflowClient, action_key: str, by: Person, now_ms: int,
               page: str | None = None) -> tuple[str, str | None]:
    """Unpause the DAG a policy paused, record the undo with who did it and from where, and
    tell Slack who it was; takes the operator role. (done | skipped | failed, error)."""
    require(by, "undo_action")
    action = policy_store.get_action(graph, action_key)
    if not is_undoable(action):
        return "failed", "only a pause that was done (and not undone yet) can be undone"
    outcome, error = set_paused_confirmed(airflow, action["dag_id"], False)
    if outcome in ("done", "skipped"):
        dag_store.set_dag_flags(graph, action["dag_id"], is_paused=False)
    status = "done" if outcome != "failed" else "failed"
    undo_key = policy_store.record_undo(graph, action_key, by.name, now_ms, status, error,
                                        subject=by.subject, page=page)
    enqueue(graph, [manual_action_notice(undo_key, action, by, outcome, error, now_ms)])
    return outcome, error


def manual_action_notice(key: str, undone: dict, by: Person, outcome: str, error: str | None,
                         now_ms: int) -> AlertRequest:
    """The Slack notice of a person's undo: names the person."""
    reason = f"{by.name} undid {undone.get('policy')}'s pause" + (f" — failed: {error}" if error else "")
    return AlertRequest(
        key=f"manual_action:{key}:{outcome}", kind="policy_action", created_at=now_ms, dag_id=undone["dag_id"],
        payload={"policy": undone.get("policy"), "version": undone.get("policy_version"), "action": "unpause",
                 "mode": "enforce", "outcome": "failed" if outcome == "failed" else "done",
                 "dag_id": undone["dag_id"], "reason": reason, "facts": {}, "undo": None, "text": "",
                 "by": by.name})


def undo_pause_for(settings: Settings, graph: Graph, action_key: str, by: Person, now_ms: int,
                   page: str | None = None) -> tuple[str, str | None]:
    """`undo_pause` with a client of its own (the app holds no Airflow client)."""
    require(by, "undo_action")  # before any connection is made
    airflow = AirflowClient(settings)
    try:
        return undo_pause(graph, airflow, action_key, by, now_ms, page)
    finally:
        airflow.close()
