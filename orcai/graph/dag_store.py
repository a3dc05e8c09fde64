"""DAG-level reads and writes: each DAG with its recent runs, run counts, schedules,
structure, and the flags an action changes.
"""

from __future__ import annotations

from orcai.graph.base import Graph, Row, WriteCounts
from orcai.graph.cypher import live
from orcai.graph.properties import remove_stale, split_nulls
from orcai.shard import Shard

# When a run happened: when it was due (run_after), else when it started.
_RUN_AT = "coalesce(r.run_after, r.start_date)"
# What the overview (and a DAG's summary, orcai.graph.load) keeps of each run.
_RUN_FIELDS = (f"{{run_id: r.run_id, state: r.state, at: {_RUN_AT}, start: r.start_date, "
               f"end: r.end_date, duration_s: r.duration_s, run_type: r.run_type}}")


def dag_summaries(graph: Graph) -> list[Row]:
    """Every live DAG with its properties and the summary of its newest runs kept at load
    time (`orcai.dag_health.summarize`; DAGs that never ran have none): one row per DAG,
    whatever the history. The Status page and `/metrics` read this."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {live('d')}
        RETURN d.dag_id AS dag_id, d.is_paused AS is_paused, d.schedule AS schedule, d.owners AS owners,
               d.tags AS tags, d.has_import_errors AS has_import_errors, d.criticality AS criticality,
               d.last_run_state AS last_state, d.last_run_at AS last_run_at,
               d.last_run_duration_s AS last_duration_s, d.success_rate AS success_rate,
               d.failures_in_row AS consecutive_failures, d.runs_considered AS runs_considered
        ORDER BY dag_id
    """)


def kept_runs(graph: Graph, dag_ids: list[str]) -> list[Row]:
    """The newest runs each DAG's summary keeps (a JSON list; null before its first summary)."""
    return graph.read("UNWIND $ids AS id MATCH (d:Dag {dag_id: id}) "
                      "RETURN d.dag_id AS dag_id, d.recent_runs AS recent_runs", {"ids": dag_ids})


def newest_runs_in_history(graph: Graph, dag_ids: list[str], n: int) -> list[Row]:
    """The newest `n` runs of each of `dag_ids` read from its whole history (a DAG's first
    summary; later ones merge each batch into the runs it kept)."""
    return graph.read(f"""
        UNWIND $ids AS id MATCH (d:Dag {{dag_id: id}})-[:HAS_RUN]->(r:DagRun)
        WITH d, r ORDER BY {_RUN_AT} DESC
        RETURN d.dag_id AS dag_id, collect({_RUN_FIELDS})[0..$n] AS runs
    """, {"ids": dag_ids, "n": n})


def unsummarized_dag_ids(graph: Graph) -> list[str]:
    """DAGs with runs but no summary yet (a graph written before summaries were kept)."""
    return [row["dag_id"] for row in graph.read(
        "MATCH (d:Dag) WHERE d.recent_runs IS NULL AND (d)-[:HAS_RUN]->() RETURN d.dag_id AS dag_id")]


def write_summaries(graph: Graph, rows: list[dict]) -> WriteCounts:
    """Each DAG's summary (`rows`: dag_id, fp, and `summary`, its properties: recent_runs
    as JSON and `orcai.dag_health.summarize`'s fields), only where its fingerprint changed:
    a quiet sync writes nothing. Nulls are removed one property per query (see
    orcai/graph/properties.py)."""
    writes = [{"dag_id": row["dag_id"], "fp": row["fp"], "props": present, "unset": unset}
              for row in rows for present, unset in [split_nulls(row["summary"])]]
    counts = graph.write("UNWIND $rows AS row MATCH (d:Dag {dag_id: row.dag_id}) "
                         "WITH d, row WHERE d.summary_fp IS NULL OR d.summary_fp <> row.fp "
                         "SET d += row.props, d.summary_fp = row.fp", {"rows": writes})
    return counts + remove_stale(graph, "Dag", "dag_id", [(row["dag_id"], row["unset"]) for row in writes])


def dag_overview(graph: Graph, last_n_runs: int, since_ms: int | None = None) -> list[Row]:
    """Every live DAG with its properties and its newest runs, newest first: the last
    `last_n_runs`, plus every run since `since_ms` however many (when given). The policy
    facts read this (they need 50 runs and all of the last 24 h); it grows with history."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {live('d')}
        OPTIONAL MATCH (d)-[:HAS_RUN]->(r:DagRun)
        WITH d, r ORDER BY {_RUN_AT} DESC
        WITH d, collect({_RUN_FIELDS}) AS runs
        RETURN d.dag_id AS dag_id, d.is_paused AS is_paused, d.schedule AS schedule,
               d.owners AS owners, d.tags AS tags, d.description AS description,
               d.has_import_errors AS has_import_errors, d.next_run_at AS next_run_at,
               d.criticality AS criticality,
               runs[0..$n] + [r IN runs[$n..] WHERE $since IS NOT NULL AND r.at >= $since] AS runs
        ORDER BY dag_id
    """, {"n": last_n_runs, "since": since_ms})


def run_states_since(graph: Graph, since_ms: int) -> list[Row]:
    """How many DAG runs of live DAGs started (or were due) since `since_ms`, per state."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {live('d')} AND {_RUN_AT} >= $since
        RETURN r.state AS state, count(r) AS runs
    """, {"since": since_ms})


def run_states_by_dag_since(graph: Graph, since_ms: int) -> list[Row]:
    """`run_states_since`, per DAG: runs of each live DAG started (or due) since `since_ms`, per state."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {live('d')} AND {_RUN_AT} >= $since
        RETURN d.dag_id AS dag_id, r.state AS state, count(r) AS runs
    """, {"since": since_ms})


def failed_dags_since(graph: Graph, since_ms: int) -> list[Row]:
    """Live DAGs with at least one failed run since `since_ms`, most failures first."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {live('d')} AND r.state = 'failed'
          AND coalesce(r.end_date, r.run_after, r.start_date) >= $since
        RETURN d.dag_id AS dag_id, count(r) AS failures,
               max(coalesce(r.end_date, r.run_after, r.start_date)) AS last_failed_at
        ORDER BY failures DESC, dag_id
    """, {"since": since_ms})


def dag_run_history(graph: Graph, since_ms: int) -> list[Row]:
    """Every run of live DAGs since `since_ms`, oldest first (the policy backtest replays it)."""
    return graph.read(f"""
        MATCH (d:Dag)-[:HAS_RUN]->(r:DagRun)
        WHERE {live('d')} AND {_RUN_AT} >= $since
        RETURN d.dag_id AS dag_id, r.run_id AS run_id, r.state AS state,
               {_RUN_AT} AS at, r.end_date AS end,
               r.duration_s AS duration_s, r.run_type AS run_type
        ORDER BY at
    """, {"since": since_ms})


def dag_scope_rows(graph: Graph) -> list[Row]:
    """Every live DAG's id, tags, owners and criticality (what a policy's scope matches)."""
    return graph.read(f"MATCH (d:Dag) WHERE {live('d')} RETURN d.dag_id AS dag_id, d.tags AS tags, "
                      "d.owners AS owners, d.criticality AS criticality")


def dag_schedules(graph: Graph) -> list[Row]:
    return graph.read(f"MATCH (d:Dag) WHERE {live('d')} RETURN d.dag_id AS dag_id, d.schedule AS schedule")


def live_dag_ids(graph: Graph) -> list[str]:
    return [r["dag_id"] for r in graph.read(
        f"MATCH (d:Dag) WHERE {live('d')} RETURN d.dag_id AS dag_id ORDER BY dag_id")]


def owned_dag_ids(graph: Graph, shard: Shard) -> list[str]:
    """Every DAG id in the graph that `shard` owns, deleted ones included."""
    return [row["dag_id"] for row in graph.read("MATCH (d:Dag) RETURN d.dag_id AS dag_id")
            if shard.owns(row["dag_id"])]


def dag_task_ids(graph: Graph, dag_id: str) -> list[str]:
    """The DAG's live task ids (rows of the grid, including tasks that never ran)."""
    rows = graph.read(f"MATCH (t:Task) WHERE t.dag_id = $dag AND {live('t')} "
                      "RETURN t.task_id AS task_id ORDER BY task_id", {"dag": dag_id})
    return [row["task_id"] for row in rows]


def most_recently_run_dag(graph: Graph) -> str | None:
    """The live DAG whose last run is the newest (the Runs page's default choice)."""
    rows = graph.read(f"MATCH (d:Dag) WHERE {live('d')} AND d.last_run_at IS NOT NULL "
                      "RETURN d.dag_id AS dag_id ORDER BY d.last_run_at DESC, dag_id LIMIT 1")
    return rows[0]["dag_id"] if rows else None


def dag_structure_rows(graph: Graph) -> tuple[list[Row], list[Row]]:
    """Live DAGs (id, schedule) and their live tasks with their upstream task ids."""
    dags = graph.read(f"MATCH (d:Dag) WHERE {live('d')} "
                      "RETURN d.dag_id AS dag_id, d.schedule AS schedule ORDER BY dag_id")
    tasks = graph.read(f"""
        MATCH (d:Dag)-[:HAS_TASK]->(t:Task) WHERE {live('d')} AND {live('t')}
        OPTIONAL MATCH (t)-[:DEPENDS_ON]->(u:Task)
        RETURN d.dag_id AS dag_id, t.task_id AS task_id, t.operator AS operator, t.pool AS pool,
               collect(u.task_id) AS upstream""")
    return dags, tasks


def set_dag_flags(graph: Graph, dag_id: str, **flags) -> None:
    """What an action changed, shown at once instead of after the next sync."""
    allowed = {k: v for k, v in flags.items() if k in ("is_paused", "marked_critical")}
    graph.write("MATCH (d:Dag {dag_id: $dag_id}) SET d += $flags", {"dag_id": dag_id, "flags": allowed})


def set_dag_deadline(graph: Graph, dag_id: str, spec: str | None, by: str, subject: str, at_ms: int,
                     page: str | None) -> bool:
    """An admin's deadline for a DAG (None clears it), with who set it, when and where;
    False when there is no such DAG."""
    if not graph.read("MATCH (d:Dag {dag_id: $dag_id}) RETURN d.dag_id AS dag_id", {"dag_id": dag_id}):
        return False
    props, gone = split_nulls({"deadline_setting": spec, "deadline_set_by": by, "deadline_set_by_subject": subject,
                               "deadline_set_at": at_ms, "deadline_set_page": page})
    graph.write("MATCH (d:Dag {dag_id: $dag_id}) SET d += $props", {"dag_id": dag_id, "props": props})
    remove_stale(graph, "Dag", "dag_id", [(dag_id, gone)])  # one removal per query: properties.py
    return True


def dag_deadline_setting(graph: Graph, dag_id: str) -> Row | None:
    """The admin's deadline for a DAG and who set it when, or None when none was ever set."""
    rows = graph.read("""
        MATCH (d:Dag {dag_id: $dag_id}) WHERE d.deadline_set_at IS NOT NULL
        RETURN d.deadline_setting AS spec, d.deadline_set_by AS by, d.deadline_set_at AS at""", {"dag_id": dag_id})
    return rows[0] if rows else None
