"""The deployment at a glance (the Status page): DAG health, runs of the last 24 h, what
failed recently, and whether the worker is alive. `load_status` reads; the rest is pure."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from orcai.dag_health import dag_table
from orcai.graph import Graph
from orcai.graph import alert_store, dag_store, worker_store
from orcai.model import DAY_MS
from orcai.worker_health import WorkerHealth, worker_health


@dataclass(frozen=True)
class StatusOverview:
    kpis: dict
    dags: pd.DataFrame
    recently_failed: list[dict]
    worker: WorkerHealth
    generated_at: int = 0
    warnings: list[str] = field(default_factory=list)


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


def load_status(graph: Graph, now_ms: int, sync_interval_s: int) -> StatusOverview:
    """Everything the Status page shows, read from the graph in five queries (each DAG's
    health from the summary kept at load time, over its newest `SUMMARY_RUNS` runs)."""
    table = dag_table(dag_store.dag_summaries(graph))
    kpis = run_kpis(table, dag_store.run_states_since(graph, now_ms - DAY_MS))
    kpis["alerts_24h"] = alert_store.alerts_sent_since(graph, now_ms - DAY_MS)
    failed = dag_store.failed_dags_since(graph, now_ms - DAY_MS)
    worker = worker_health(worker_store.worker_heartbeats(graph), now_ms, sync_interval_s)
    return StatusOverview(kpis=kpis, dags=table, recently_failed=failed, worker=worker,
                          generated_at=now_ms)


def running_now_table(rows: list[dict]) -> pd.DataFrame:
    """Queued and running runs with their forecast (forecast_store.running_now rows), most at
    risk first: progress, the ETA band, the deadline and the chance of missing it (progress
    and risk in whole percents, 0-100)."""
    columns = ["dag_id", "run_id", "state", "progress", "eta_p50", "eta_p80", "deadline", "breach_risk",
               "watch_task", "watch_reason", "start_date"]
    table = pd.DataFrame(rows, columns=columns)
    for column in ("eta_p50", "eta_p80", "deadline", "start_date"):
        table[column] = pd.to_datetime(pd.to_numeric(table[column], errors="coerce"), unit="ms", utc=True)
    for column in ("progress", "breach_risk"):  # whole percents: "90 %" reads better than "90.25%"
        table[column] = (100 * pd.to_numeric(table[column], errors="coerce").astype(float)).round()
    return table
