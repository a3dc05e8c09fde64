"""Airflow pools: what occupies them (synced), and those a policy throttled.

    (Pool {name, slots, occupied_slots, running_slots, queued_slots, scheduled_slots,
           open_slots, seen_at, full_at, full_slots,
           original_slots, throttled_by, throttled_at, episode, held_off_by})
    (Action)-[:TARGETS]->(Pool)

The occupancy is read while task instances wait (orcai.sync); `full_at` is the last time the
pool was seen with no open slot and tasks waiting for one, `full_slots` its occupancy then
("1/1 slots used"), which the task runs waiting at that moment also carry (`pool_full`).

`original_slots` is written *before* the pool is changed in Airflow, so a worker that dies
between the two still knows what to restore. `episode` counts the throttles of the pool: a
throttle's action key carries it, so a retried throttle is the same action and the next
one is a new one. `held_off_by`: a person undid the throttle; that policy leaves the pool
alone until its condition clears.
"""

from __future__ import annotations

from orcai.graph.base import Graph
from orcai.graph.policy_store import action_props, merge_actions
from orcai.graph.properties import remove_stale


def pool_states(graph: Graph) -> dict[str, dict]:
    rows = graph.read("MATCH (p:Pool) RETURN p.name AS name, p.original_slots AS original_slots, "
                      "p.throttled_by AS throttled_by, p.episode AS episode, p.held_off_by AS held_off_by")
    return {r["name"]: dict(r) for r in rows}


def record_occupancy(graph: Graph, pools: list[dict], now_ms: int) -> None:
    """pools: {name, slots, occupied_slots, running_slots, queued_slots, scheduled_slots,
    open_slots, full (bool)}. A full pool keeps when and how full it was last seen."""
    graph.write("""
        UNWIND $pools AS row
        MERGE (p:Pool {name: row.name})
        SET p.slots = row.slots, p.occupied_slots = row.occupied_slots, p.running_slots = row.running_slots,
            p.queued_slots = row.queued_slots, p.scheduled_slots = row.scheduled_slots,
            p.open_slots = row.open_slots, p.seen_at = $now,
            p.full_at = CASE WHEN row.full THEN $now ELSE p.full_at END,
            p.full_slots = CASE WHEN row.full THEN toString(row.occupied_slots) + '/' + toString(row.slots)
                                + ' slots used' ELSE p.full_slots END
    """, {"pools": pools, "now": now_ms})


def someone_waits(graph: Graph) -> bool:
    """Whether the last read of the pools found task instances waiting in any of them."""
    rows = graph.read("MATCH (p:Pool) WHERE coalesce(p.scheduled_slots, 0) + coalesce(p.queued_slots, 0) > 0 "
                      "RETURN count(p) AS n")
    return bool(rows and rows[0]["n"])


def mark_waiting_in_full_pool(graph: Graph, task_run_keys: list[str], slots_text: str) -> None:
    """The task runs that were waiting for a slot while their pool was full."""
    graph.write("UNWIND $keys AS k MATCH (tr:TaskRun {key: k}) SET tr.pool_full = $text",
                {"keys": task_run_keys, "text": slots_text})


def remember_original(graph: Graph, pool: str, slots: int, policy: str, now_ms: int) -> None:
    """Before a throttle: the pool's slots as they are, unless a throttle is already remembered."""
    graph.write("MERGE (p:Pool {name: $name}) "
                "SET p.original_slots = CASE WHEN p.throttled_by IS NULL THEN $slots ELSE p.original_slots END, "
                "p.throttled_by = $policy, p.throttled_at = $now",
                {"name": pool, "slots": slots, "policy": policy, "now": now_ms})


def throttle_done(graph: Graph, pool: str) -> None:
    graph.write("MATCH (p:Pool {name: $name}) SET p.episode = coalesce(p.episode, 0) + 1", {"name": pool})


def forget_throttle(graph: Graph, pool: str, held_off_by: str | None = None) -> None:
    """After a restore (or an undo, which holds the policy off until its condition clears)."""
    gone = ["throttled_by", "throttled_at"] + ([] if held_off_by else ["held_off_by"])
    remove_stale(graph, "Pool", "name", [(pool, gone)])  # one removal per query (properties.py)
    if held_off_by:
        graph.write("MATCH (p:Pool {name: $name}) SET p.held_off_by = $held", {"name": pool, "held": held_off_by})


def clear_hold(graph: Graph, pool: str, policy: str) -> None:
    graph.write("MATCH (p:Pool {name: $name}) WHERE p.held_off_by = $policy SET p.held_off_by = null",
                {"name": pool, "policy": policy})


def record_cycle_actions(graph: Graph, decisions: list, now_ms: int) -> None:
    """Action nodes of pool and cycle-alert decisions (no DAG), linked to policy and pool."""
    rows = [{"key": d.key, "policy": d.policy.name, "pool": d.action.pool or None, "props": action_props(
        d, dag_id="", pool=d.action.pool, slots=d.action.slots, run_id="")} for d in decisions]
    merge_actions(graph, rows, now_ms, "WITH a, row WHERE row.pool IS NOT NULL "
                  "MERGE (pool:Pool {name: row.pool}) MERGE (a)-[:TARGETS]->(pool)")


def record_skip(graph: Graph, policy, reason: str, now_ms: int, hour: int) -> None:
    """A policy not judged this hour because a fact it needs has no value: one log entry per hour."""
    graph.write("""
        MERGE (a:Action {key: $key})
        ON CREATE SET a.at = $now, a.attempts = 0, a.kind = 'evaluate', a.policy = $policy,
                      a.policy_version = $version, a.dag_id = '', a.mode = $mode, a.dry_run = $dry, a.facts = '{}'
        SET a.status = 'skipped', a.reason = $reason
        WITH a
        MATCH (p:Policy {name: $policy})
        MERGE (p)-[:FIRED]->(a)
    """, {"key": f"{policy.name}@v{policy.version}:evaluate:-:{hour}", "now": now_ms, "policy": policy.name,
          "version": policy.version, "mode": policy.mode, "dry": not policy.enforced,
          "reason": f"skipped: {reason}"})
