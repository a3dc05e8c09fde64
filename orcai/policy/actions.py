"""Acting on Airflow for a policy or a person, always confirmed by reading back.

The worker's policy stage and the Policies page's undo both come here: the page never
talks to Airflow itself, it asks this module, which talks through `orcai.airflow`.

    pause / unpause (one DAG, or every DAG with a tag)   PATCH /dags/{id}, read back
    throttle a pool (set_pool_slots)                      remember its slots in the graph,
                                                          PATCH /pools/{name}, read back
    release it (restore_pool_slots, or a person's undo)   PATCH back to the remembered slots
"""

from __future__ import annotations

from orcai.access import Person, require
from orcai.airflow import AirflowClient
from orcai.alerts.outbox import AlertRequest
from orcai.config import Settings
from orcai.errors import AirflowError
from orcai.graph import Graph
from orcai.graph import dag_store, policy_store, pool_store
from orcai.graph.alert_store import enqueue

UNDOABLE = ("pause", "pause_tag", "set_pool_slots")


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


def set_pool_slots_confirmed(airflow: AirflowClient, pool: str, slots: int) -> tuple[str, str | None]:
    """Set a pool's slots and read the pool back: (done | failed, error)."""
    try:
        airflow.set_pool_slots(pool, slots)
        now = airflow.get_pool(pool).slots
    except AirflowError as exc:
        return "failed", str(exc)
    if now != slots:
        return "failed", f"Airflow accepted the change but pool {pool} reads back {now} slots, not {slots}"
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


def throttle_pool(graph: Graph, airflow: AirflowClient, pool: str, slots: int, policy: str,
                  now_ms: int) -> tuple[str, str | None]:
    """Remember the pool's slots (before touching it), then set them; confirmed."""
    try:
        current = airflow.get_pool(pool).slots
    except AirflowError as exc:
        return "failed", str(exc)
    pool_store.remember_original(graph, pool, current, policy, now_ms)
    outcome, error = set_pool_slots_confirmed(airflow, pool, slots)
    if outcome == "done":
        pool_store.throttle_done(graph, pool)
    return outcome, error


def restore_pool(graph: Graph, airflow: AirflowClient, pool: str, held_off_by: str | None = None) -> tuple[str, str | None]:
    """Give a throttled pool its remembered slots back; confirmed. `held_off_by`: a person's
    undo, after which that policy leaves the pool alone until its condition clears."""
    state = pool_store.pool_states(graph).get(pool)
    if not state or state.get("throttled_by") is None:
        return "skipped", f"pool {pool} is not throttled by a policy"
    outcome, error = set_pool_slots_confirmed(airflow, pool, int(state["original_slots"]))
    if outcome == "done":
        pool_store.forget_throttle(graph, pool, held_off_by)
    return outcome, error


def is_undoable(action: dict | None) -> bool:
    """A pause (one DAG or by tag) or a pool throttle that was done, and not undone or released."""
    return action is not None and action.get("kind") in UNDOABLE and action.get("status") == "done"


def undo(graph: Graph, airflow: AirflowClient, action_key: str, by: Person, now_ms: int,
         page: str | None = None) -> tuple[str, str | None]:
    """Undo what a policy did (unpause the DAG, or give the pool its slots back), record who
    did it and from which page, and tell Slack; takes the operator role. (outcome, error)"""
    require(by, "undo_action")
    action = policy_store.get_action(graph, action_key)
    if not is_undoable(action):
        return "failed", "only a pause or a pool throttle that was done (and not undone yet) can be undone"
    if action["kind"] == "set_pool_slots":
        outcome, error = restore_pool(graph, airflow, action["pool"], held_off_by=action["policy"])
        kind = "restore_pool_slots"
    else:
        outcome, error = set_paused_confirmed(airflow, action["dag_id"], False)
        if outcome in ("done", "skipped"):
            dag_store.set_dag_flags(graph, action["dag_id"], is_paused=False)
        kind = "unpause"
    status = "done" if outcome != "failed" else "failed"
    undo_key = policy_store.record_undo(graph, action_key, by.name, now_ms, status, error, kind,
                                        subject=by.subject, page=page)
    enqueue(graph, [manual_action_notice(undo_key, action, by, kind, outcome, error, now_ms)])
    return outcome, error


undo_pause = undo  # the name the first undo had


def manual_action_notice(key: str, undone: dict, by: Person, kind: str, outcome: str, error: str | None,
                         now_ms: int) -> AlertRequest:
    """The Slack notice of a person's undo: names the person."""
    what = f"throttle of pool {undone.get('pool')}" if kind == "restore_pool_slots" else "pause"
    reason = f"{by.name} undid {undone.get('policy')}'s {what}" + (f" — failed: {error}" if error else "")
    return AlertRequest(
        key=f"manual_action:{key}:{outcome}", kind="policy_action", created_at=now_ms, dag_id=undone.get("dag_id"),
        payload={"policy": undone.get("policy"), "version": undone.get("policy_version"), "action": kind,
                 "mode": "enforce", "outcome": "failed" if outcome == "failed" else "done",
                 "dag_id": undone.get("dag_id"), "reason": reason, "facts": {}, "undo": None, "text": "",
                 "by": by.name})


def undo_for(settings: Settings, graph: Graph, action_key: str, by: Person, now_ms: int,
             page: str | None = None) -> tuple[str, str | None]:
    """`undo` with a client of its own (the app holds no Airflow client)."""
    require(by, "undo_action")  # before any connection is made
    airflow = AirflowClient(settings)
    try:
        return undo(graph, airflow, action_key, by, now_ms, page)
    finally:
        airflow.close()


undo_pause_for = undo_for
