"""The Status page's numbers: what is failing, how healthy runs are, is the worker alive.

`load_status` reads the graph; everything else here is a pure function over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orcai.graph import Graph
from orcai.graph import queries

DAY_MS = 86_400_000
FINISHED_STATES = ("success", "failed")


@dataclass(frozen=True)
class WorkerHealth:
    status: str  # "ok" | "stale" | "error" | "missing"
    message: str
    last_sync_at: int | None = None
    lag_s: float | None = None


@dataclass(frozen=True)
class StatusOverview:
    kpis: dict
    dags: pd.DataFrame
    recently_failed: list[dict]
    worker: WorkerHealth
    generated_at: int = 0
    warnings: list[str] = field(default_factory=list)


def consecutive_failures(states_newest_first: list[str | None]) -> int:
    """Failed runs in a row, from the newest finished run back to the last success."""
    streak = 0
    for state in states_newest_first:
        if state == "failed":
            streak += 1
        elif state == "success":
            break
        # running / queued / None: not finished yet, neither breaks nor extends the streak
    return streak


def success_rate(states: list[str | None]) -> float | None:
    finished = [s for s in states if s in FINISHED_STATES]
    return None if not finished else sum(s == "success" for s in finished) / len(finished)


def dag_table(rows: list[dict]) -> pd.DataFrame:
    """One row per DAG: paused, schedule, last run, success rate, consecutive failures."""
    records = []
    for row in rows:
        runs = [r for r in row.get("runs") or [] if r and r.get("at") is not None]
        states = [r.get("state") for r in runs]
        last = runs[0] if runs else {}
        records.append({
            "dag_id": row["dag_id"],
            "paused": bool(row.get("is_paused")),
            "schedule": row.get("schedule") or "",
            "owners": ", ".join(row.get("owners") or []),
            "tags": ", ".join(row.get("tags") or []),
            "last_state": last.get("state"),
            "last_run_at": _timestamp(last.get("at")),
            "last_duration_s": last.get("duration_s"),
            "success_rate": success_rate(states),
            "consecutive_failures": consecutive_failures(states),
            "runs_considered": len(runs),
            "import_errors": bool(row.get("has_import_errors")),
            "criticality": int(row.get("criticality") or 0),
        })
    columns = ["dag_id", "paused", "schedule", "owners", "tags", "last_state", "last_run_at",
               "last_duration_s", "success_rate", "consecutive_failures", "runs_considered",
               "import_errors", "criticality"]
    table = pd.DataFrame.from_records(records, columns=columns)
    # What an operator looks at first: failing DAGs, then the most recently active.
    table["_failing"] = table["last_state"] == "failed"
    table = table.sort_values(["_failing", "last_run_at", "dag_id"], ascending=[False, False, True],
                              na_position="last", kind="stable")
    table = table.drop(columns="_failing").reset_index(drop=True)
    table["critical"] = table["criticality"] >= critical_threshold(table["criticality"])
    return table


def critical_threshold(criticality: pd.Series) -> int:
    """DAGs with at least this many DAGs downstream are critical: the top quarter of the
    DAGs that feed any other DAG (and never fewer than one downstream DAG)."""
    feeding = criticality[criticality > 0]
    return max(1, int(np.ceil(feeding.quantile(0.75)))) if len(feeding) else 1


def split_names(joined: str) -> list[str]:
    return [name.strip() for name in (joined or "").split(",") if name.strip()]


def names_in(table: pd.DataFrame, column: str) -> list[str]:
    """Every owner (or tag) named in the table, sorted."""
    return sorted({name for joined in table[column] for name in split_names(joined)})


def filter_dags(table: pd.DataFrame, owners: list[str], tags: list[str], critical_only: bool = False) -> pd.DataFrame:
    """DAGs owned by any of `owners` and tagged with any of `tags` (an empty list keeps all)."""
    keep = pd.Series(True, index=table.index)
    if owners:
        keep &= table["owners"].map(lambda joined: bool(set(split_names(joined)) & set(owners)))
    if tags:
        keep &= table["tags"].map(lambda joined: bool(set(split_names(joined)) & set(tags)))
    if critical_only:
        keep &= table["critical"]
    return table[keep]


def run_kpis(table: pd.DataFrame, states_24h: list[dict]) -> dict:
    runs_24h = sum(row["runs"] for row in states_24h)
    by_state = {row["state"]: row["runs"] for row in states_24h}
    finished = by_state.get("success", 0) + by_state.get("failed", 0)
    return {
        "dags": len(table),
        "paused": int(table["paused"].sum()) if len(table) else 0,
        "failing": int((table["last_state"] == "failed").sum()) if len(table) else 0,
        "runs_24h": runs_24h,
        "failed_24h": by_state.get("failed", 0),
        "running": by_state.get("running", 0) + by_state.get("queued", 0),
        "success_rate_24h": None if not finished else by_state.get("success", 0) / finished,
    }


def worker_health(heartbeats: list[dict], now_ms: int, sync_interval_s: int) -> WorkerHealth:
    """Judge the freshest worker: missing, erroring, stale (no sync for 3 intervals), or ok."""
    if not heartbeats:
        return WorkerHealth("missing", "No worker has written a heartbeat yet: is `python -m workers.worker` running?")
    beat = max(heartbeats, key=lambda b: b.get("last_sync_at") or 0)
    last_ok = beat.get("last_ok_at")
    lag_s = None if last_ok is None else max(0.0, (now_ms - last_ok) / 1000)
    seen_s = (now_ms - (beat.get("last_sync_at") or 0)) / 1000
    if seen_s > 3 * sync_interval_s:
        return WorkerHealth("stale", f"Worker '{beat.get('name')}' last reported {ago(seen_s)}: "
                            "it may be stopped.", beat.get("last_sync_at"), lag_s)
    if beat.get("last_error"):
        return WorkerHealth("error", f"Worker '{beat.get('name')}' cannot sync: {beat['last_error']}",
                            beat.get("last_sync_at"), lag_s)
    return WorkerHealth("ok", f"Last sync {ago(seen_s)}.", beat.get("last_sync_at"), lag_s)


def airflow_state(health: WorkerHealth) -> str:
    """Airflow's reachability as the worker last saw it (the app itself never calls Airflow)."""
    return {"ok": "synced", "error": "not syncing (see the worker line)",
            "stale": "unknown: the worker is not reporting", "missing": "unknown: no worker yet"}[health.status]


def load_status(graph: Graph, now_ms: int, sync_interval_s: int, last_n_runs: int = 20) -> StatusOverview:
    """Everything the Status page shows, read from the graph in four queries."""
    table = dag_table(queries.dag_overview(graph, last_n_runs))
    kpis = run_kpis(table, queries.run_states_since(graph, now_ms - DAY_MS))
    failed = queries.failed_dags_since(graph, now_ms - DAY_MS)
    worker = worker_health(queries.worker_heartbeats(graph), now_ms, sync_interval_s)
    return StatusOverview(kpis=kpis, dags=table, recently_failed=failed, worker=worker,
                          generated_at=now_ms)


def _timestamp(ms: int | None) -> pd.Timestamp | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"
