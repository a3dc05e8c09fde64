"""Is the worker alive and syncing? Judged from the heartbeats workers write. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from orcai.sync_plan import CatchUp


@dataclass(frozen=True)
class WorkerHealth:
    status: str  # "ok" | "stale" | "error" | "missing"
    message: str
    last_sync_at: int | None = None
    lag_s: float | None = None
    catching_up: tuple[tuple[str, CatchUp], ...] = ()  # (worker, progress) of workers still catching up


def catch_ups(heartbeats: list[dict]) -> tuple[tuple[str, CatchUp], ...]:
    """Workers whose last sync left a stream pass under way (a first sync, or after an outage)."""
    found = ((beat.get("name"), CatchUp.from_json(beat.get("catch_up"))) for beat in heartbeats)
    return tuple((name, catch_up) for name, catch_up in found if catch_up is not None)


def worker_health(heartbeats: list[dict], now_ms: int, sync_interval_s: int) -> WorkerHealth:
    """Judge the freshest worker: missing, erroring, stale (no sync for 3 intervals), or ok."""
    if not heartbeats:
        return WorkerHealth("missing", "No worker has written a heartbeat yet: is `python -m workers.worker` running?")
    beat = max(heartbeats, key=lambda b: b.get("last_sync_at") or 0)
    catching_up = catch_ups(heartbeats)
    last_ok = beat.get("last_ok_at")
    lag_s = None if last_ok is None else max(0.0, (now_ms - last_ok) / 1000)
    seen_s = (now_ms - (beat.get("last_sync_at") or 0)) / 1000
    if seen_s > 3 * sync_interval_s:
        return WorkerHealth("stale", f"Worker '{beat.get('name')}' last reported {ago(seen_s)}: "
                            "it may be stopped.", beat.get("last_sync_at"), lag_s, catching_up)
    if beat.get("last_error"):
        return WorkerHealth("error", f"Worker '{beat.get('name')}' cannot sync: {beat['last_error']}",
                            beat.get("last_sync_at"), lag_s, catching_up)
    return WorkerHealth("ok", f"Last sync {ago(seen_s)}.", beat.get("last_sync_at"), lag_s, catching_up)


def airflow_state(health: WorkerHealth) -> str:
    """Airflow's reachability as the worker last saw it (the app reads it from the graph)."""
    return {"ok": "synced", "error": "not syncing (see the worker line)",
            "stale": "unknown: the worker is not reporting", "missing": "unknown: no worker yet"}[health.status]


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"
