"""Policies and their actions in the graph.

    (Policy {name})-[:HAS_VERSION]->(PolicyVersion {key: name@vN, body, author, at, change})
    (Policy)-[:FIRED]->(Action {key})-[:TARGETS]->(Dag)
    (Action {kind: 'unpause', policy: 'undo'})-[:UNDOES]->(Action)

Every change to a policy (edit, enable, mode, automatic disable, delete) is a new version
with its author and time; a deleted policy keeps its history and its actions. Actions are
MERGEd on their deterministic key, so a retried or re-evaluated decision updates one node.
"""

from __future__ import annotations

import json
import logging

from orcai.errors import PolicyConflict, PolicyInvalid
from orcai.graph import anomaly_store, dag_store
from orcai.graph.base import Graph, Row
from orcai.model import DAY_MS
from orcai.policy.engine import STUCK_ACTIONS, Decision, PastAction
from orcai.policy.model import Policy, parse_policy

log = logging.getLogger(__name__)


# --- policies ---------------------------------------------------------------------------------

def load_policies(graph: Graph, include_disabled: bool = True) -> list[Policy]:
    rows = graph.read("MATCH (p:Policy) WHERE coalesce(p.deleted, false) = false "
                      "RETURN p.body AS body ORDER BY p.name")
    policies = []
    for row in rows:
        try:
            policies.append(parse_policy(json.loads(row["body"])))
        except PolicyInvalid as exc:  # stored by an older version with other facts: skip, say why
            log.warning("stored policy skipped, it no longer validates: %s", exc)
    return [p for p in policies if include_disabled or p.enabled]


def get_policy(graph: Graph, name: str) -> Policy | None:
    rows = graph.read("MATCH (p:Policy {name: $name}) WHERE coalesce(p.deleted, false) = false "
                      "RETURN p.body AS body", {"name": name})
    return parse_policy(json.loads(rows[0]["body"])) if rows else None


def save_policy(graph: Graph, policy: Policy, author: str, now_ms: int, change: str = "edit",
                expected_version: int | None = None, subject: str | None = None,
                page: str | None = None) -> Policy:
    """Store a new version of a policy (creating it if new); returns it with its version.

    `expected_version` guards an edit: if someone saved in between, PolicyConflict. The
    version records its author (a person's name, or the worker), their subject and page."""
    rows = graph.read("MATCH (p:Policy {name: $name}) RETURN p.version AS version, "
                      "coalesce(p.deleted, false) AS deleted", {"name": policy.name})
    current = rows[0]["version"] if rows else 0
    if expected_version is not None and rows and not rows[0]["deleted"] and current != expected_version:
        raise PolicyConflict(f"policy {policy.name} was changed meanwhile (now version {current}); reload it")
    saved = Policy(**{**policy.__dict__, "version": current + 1, "author": author, "updated_at": now_ms})
    body = json.dumps(saved.to_dict(), sort_keys=True)
    graph.write("""
        MERGE (p:Policy {name: $name})
        SET p.body = $body, p.version = $version, p.enabled = $enabled, p.mode = $mode,
            p.condition = $condition, p.author = $author, p.updated_at = $at, p.deleted = $deleted
        MERGE (v:PolicyVersion {key: $key})
        ON CREATE SET v.name = $name, v.version = $version, v.body = $body, v.author = $author,
                      v.at = $at, v.change = $change, v.author_subject = $subject, v.page = $page
        MERGE (p)-[:HAS_VERSION]->(v)
    """, {"name": saved.name, "body": body, "version": saved.version, "enabled": saved.enabled,
          "mode": saved.mode, "condition": saved.condition, "author": author, "at": now_ms,
          "deleted": change == "delete", "key": f"{saved.name}@v{saved.version}", "change": change,
          "subject": subject, "page": page})
    return saved


def change_policy(graph: Graph, name: str, author: str, now_ms: int, change: str,
                  subject: str | None = None, page: str | None = None, **fields) -> Policy:
    """Enable/disable, switch mode, or record an automatic disable, as a new version."""
    policy = get_policy(graph, name)
    if policy is None:
        raise PolicyConflict(f"policy {name} does not exist (deleted meanwhile?)")
    return save_policy(graph, Policy(**{**policy.__dict__, **fields}), author, now_ms, change,
                       subject=subject, page=page)


def delete_policy(graph: Graph, name: str, author: str, now_ms: int, subject: str | None = None,
                  page: str | None = None) -> None:
    """Hide a policy and disable it; its versions and actions stay for the audit log."""
    change_policy(graph, name, author, now_ms, "delete", subject=subject, page=page, enabled=False)


def policy_history(graph: Graph, name: str) -> list[Row]:
    return graph.read("MATCH (:Policy {name: $name})-[:HAS_VERSION]->(v:PolicyVersion) "
                      "RETURN v.version AS version, v.author AS author, v.author_subject AS subject, v.page AS page, "
                      "v.at AS at, v.change AS change, "
                      "v.body AS body ORDER BY v.version DESC", {"name": name})


def policy_names(graph: Graph) -> set[str]:
    """Every policy ever stored, deleted ones included (a deleted default stays deleted)."""
    return {r["name"] for r in graph.read("MATCH (p:Policy) RETURN p.name AS name")}


def last_fired(graph: Graph) -> dict[str, int]:
    rows = graph.read("MATCH (p:Policy)-[:FIRED]->(a:Action) WHERE a.status IN ['done', 'would_do'] "
                      "RETURN p.name AS name, max(a.at) AS at")
    return {r["name"]: r["at"] for r in rows}


# --- what a backtest replays -------------------------------------------------------------------

def backtest_inputs(graph: Graph, since_ms: int, context_ms: int = 7 * DAY_MS) -> tuple[list[Row], list[Row], dict]:
    """DAGs, their runs (from `context_ms` before `since_ms`, so streaks are known at the
    start) and every anomaly, for `backtest.backtest`."""
    return (dag_store.dag_scope_rows(graph), dag_store.dag_run_history(graph, since_ms - context_ms),
            anomaly_store.anomalies_by_run(graph, since_ms - context_ms, False))


def paused_by_policy(graph: Graph) -> dict[str, int]:
    """When a policy last paused each DAG (and nobody undid it)."""
    rows = graph.read("MATCH (a:Action) WHERE a.kind IN ['pause', 'pause_tag'] AND a.status = 'done' "
                      "RETURN a.dag_id AS dag_id, max(a.done_at) AS at")
    return {r["dag_id"]: r["at"] for r in rows}


# --- actions --------------------------------------------------------------------------------

def past_actions(graph: Graph, since_ms: int) -> list[PastAction]:
    """Actions recorded since `since_ms` plus every one still waiting to be retried."""
    rows = graph.read("MATCH (a:Action) WHERE a.at >= $since OR a.status IN ['pending', 'failed', 'deferred'] "
                      "RETURN a.key AS key, a.policy AS policy, a.dag_id AS dag_id, a.status AS status, "
                      "a.at AS at, a.dry_run AS dry_run, a.kind AS kind", {"since": since_ms})
    return [PastAction(r["key"], r["policy"], r["dag_id"], r["status"], r["at"], bool(r["dry_run"]), r["kind"])
            for r in rows]


def action_props(d: Decision, **extra) -> dict:
    """What every Action node carries from its decision; `extra` adds the target's own fields."""
    return {"kind": d.action.type, "policy": d.policy.name, "policy_version": d.policy.version,
            "mode": d.policy.mode, "dry_run": not d.policy.enforced, "reason": d.reason,
            "facts": json.dumps(d.facts, sort_keys=True),
            "status": "pending" if d.status == "execute" else d.status, **extra}


def merge_actions(graph: Graph, rows: list[dict], now_ms: int, link_target: str) -> None:
    """MERGE one Action per row (`key`, `policy`, `props`), linked to its policy, then to its
    target by `link_target` (Cypher over `a` and `row`). A retried decision updates its node:
    only the reason and the status change after creation."""
    if not rows:
        return
    graph.write(f"""
        UNWIND $rows AS row
        MERGE (a:Action {{key: row.key}})
        ON CREATE SET a += row.props, a.at = $now, a.attempts = 0
        ON MATCH SET a.reason = row.props.reason, a.status = row.props.status
        WITH a, row
        MATCH (p:Policy {{name: row.policy}})
        MERGE (p)-[:FIRED]->(a)
        WITH a, row
        {link_target}
    """, {"rows": rows, "now": now_ms})


def record_decisions(graph: Graph, decisions: list[Decision], now_ms: int) -> None:
    """One Action node per decision on a DAG, linked to its policy and DAG."""
    rows = [{"key": d.key, "policy": d.policy.name, "dag_id": d.dag_id, "props": action_props(
        d, dag_id=d.dag_id, tag=d.action.tag,
        run_id=d.facts["run"]["stuck_run"] if d.action.type in STUCK_ACTIONS else d.facts["run"]["id"])}
        for d in decisions]
    merge_actions(graph, rows, now_ms, "MATCH (d:Dag {dag_id: row.dag_id}) MERGE (a)-[:TARGETS]->(d)")


def mark_released(graph: Graph, policy: str, pool: str, now_ms: int) -> None:
    """The throttles of a pool by a policy, once it is restored: no longer undoable."""
    graph.write("MATCH (a:Action) WHERE a.kind = 'set_pool_slots' AND a.policy = $policy AND a.pool = $pool "
                "AND a.status = 'done' SET a.status = 'released', a.released_at = $now",
                {"policy": policy, "pool": pool, "now": now_ms})


def set_action_outcome(graph: Graph, key: str, status: str, now_ms: int, error: str | None = None) -> None:
    graph.write("MATCH (a:Action {key: $key}) SET a.status = $status, a.last_error = $error, "
                "a.attempts = coalesce(a.attempts, 0) + 1, "
                "a.done_at = CASE WHEN $status = 'done' THEN $now ELSE a.done_at END",
                {"key": key, "status": status, "error": error, "now": now_ms})


def record_undo(graph: Graph, original_key: str, by: str, now_ms: int, status: str, error: str | None,
                kind: str = "unpause", subject: str | None = None, page: str | None = None) -> str:
    """The unpause (or pool restore) that undoes a policy's action, linked to it, with who
    (name and subject) and from which page; the original action is marked undone."""
    key = f"undo:{original_key}"
    graph.write("""
        MATCH (o:Action {key: $original})
        MERGE (u:Action {key: $key})
        ON CREATE SET u.at = $now, u.attempts = 0
        SET u.kind = $kind, u.policy = 'undo', u.dag_id = o.dag_id, u.pool = o.pool, u.mode = 'enforce',
            u.dry_run = false, u.status = $status, u.by = $by, u.by_subject = $subject, u.page = $page,
            u.last_error = $error,
            u.reason = 'undo of ' + o.key + ' by ' + $by, u.facts = o.facts, u.done_at = $now
        MERGE (u)-[:UNDOES]->(o)
        WITH o, u
        MATCH (o)-[:TARGETS]->(t)
        MERGE (u)-[:TARGETS]->(t)
    """, {"original": original_key, "key": key, "now": now_ms, "status": status, "by": by, "error": error,
          "kind": kind, "subject": subject, "page": page})
    if status == "done":
        graph.write("MATCH (o:Action {key: $key}) SET o.status = 'undone', o.undone_at = $now, o.undone_by = $by",
                    {"key": original_key, "now": now_ms, "by": by})
    return key


def action_log(graph: Graph, since_ms: int, limit: int = 1000) -> list[Row]:
    return graph.read("MATCH (a:Action) WHERE a.at >= $since RETURN properties(a) AS action "
                      "ORDER BY a.at DESC, a.key LIMIT $limit", {"since": since_ms, "limit": limit})


def get_action(graph: Graph, key: str) -> Row | None:
    rows = graph.read("MATCH (a:Action {key: $key}) RETURN properties(a) AS action", {"key": key})
    return rows[0]["action"] if rows else None
