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


STUCK_STATES = ("queued", "running")
ACTIVE_RUN_STATES = ("queued", "running")


def clear_stuck_confirmed(airflow: AirflowClient, dag_id: str, run_id: str, task_id: str,
                          try_number: int) -> tuple[str, str | None]:
    """Clear (retry) a task instance still stuck on try `try_number`, and read it back:
    (done | skipped | failed, error). Done when Airflow shows it left that try's stuck state
    (a new try, or reset for the scheduler); skipped when it had moved on already."""
    try:
        before = airflow.get_task_instance(dag_id, run_id, task_id)
        state = _state(before)
        if state not in STUCK_STATES or (before.try_number or 0) != try_number:
            return "skipped", f"no longer stuck in Airflow: {task_id} is {state or 'none'} on try {before.try_number}"
        airflow.clear_task_instances(dag_id, run_id, [task_id], dry_run=False)
        after = airflow.get_task_instance(dag_id, run_id, task_id)
        if (after.try_number or 0) == try_number and _state(after) == state:
            return "failed", (f"Airflow accepted the clear but {task_id} still reads {state} on try {try_number}")
    except AirflowError as exc:
        return "failed", str(exc)
    return "done", None


def fail_run_confirmed(airflow: AirflowClient, dag_id: str, run_id: str) -> tuple[str, str | None]:
    """Mark a queued or running DAG run failed and read it back: (done | skipped | failed, error)."""
    try:
        state = _state(airflow.get_dag_run(dag_id, run_id))
        if state not in ACTIVE_RUN_STATES:
            return "skipped", f"run {run_id} is already {state} in Airflow"
        airflow.set_dag_run_state(dag_id, run_id, "failed")
        if _state(airflow.get_dag_run(dag_id, run_id)) != "failed":
            return "failed", "Airflow accepted the change but reading the run back does not show it failed"
    except AirflowError as exc:
        return "failed", str(exc)
    return "done", None


def _state(record) -> str:
    value = getattr(record, "state", None)
    return str(getattr(value, "value", value) or "")


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
