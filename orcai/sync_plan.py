"""What one sync reads from Airflow, decided from what the graph remembers. Pure.

- **The stream.** Runs and task instances of every DAG come in one keyset-paginated stream
  each (`/dags/~/dagRuns`, `/dags/~/dagRuns/~/taskInstances`), updated since the global
  watermark minus an overlap. A *pass* reads both streams from `since` to the moment it
  began (`until`); it may span several cycles (a catch-up reads at most `stream_budget`
  pages per cycle) and resumes from its saved cursors. When a pass completes, `until`
  becomes the watermark. Every write is an idempotent merge, so a page read twice is harmless.
- **The structure.** A DAG's task list is re-read when it is new to the graph, when Airflow
  reports a new DAG version, or when its last read is older than ORCAI_TASK_REFRESH_MIN
  (Airflow updates a version in place while no task ran on it), a few DAGs per cycle.
- **Progress.** While a pass is under way: runs and task runs read, days covered, time left.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

from orcai.model import DAY_MS, MINUTE_MS

# Re-read this much before the watermark: covers clock skew between ORC AI and Airflow's
# database and transactions committed just after the previous pass looked.
WATERMARK_OVERLAP_MS = 120_000
MIN_STREAM_BUDGET = 20  # pages per cycle, whatever the rate


@dataclass(frozen=True)
class StreamPass:
    """One read of the run and task-instance streams from `since` to `until` (epoch ms)."""
    since: int
    until: int  # when the pass began: the next watermark
    began_at: int  # wall clock (ms), for the time-left estimate
    runs_cursor: str | None = ""  # "" = first page; None = this stream is done
    task_runs_cursor: str | None = ""
    runs_read: int = 0
    task_runs_read: int = 0
    task_runs_total: int | None = None  # Airflow's count, when exact
    covered_until: int | None = None  # newest run time among the task runs read
    # Tasks' last runs are written once a cycle, not after every batch: a cursor saved
    # before that carries the oldest of the newest task runs it loaded, from which the
    # next cycle re-derives them (orcai.sync, load.restore_last_runs); None: nothing owed.
    last_runs_from: int | None = None

    @property
    def done(self) -> bool:
        return self.runs_cursor is None and self.task_runs_cursor is None


@dataclass(frozen=True)
class SyncState:
    """What a shard's syncs remember between cycles (the graph's SyncState node)."""
    watermark: int | None = None  # every run/task instance updated before it is in the graph
    version_id: str | None = None  # the newest DAG version seen (time-ordered UUID)
    assets_at: int | None = None  # when assets were last read
    current: StreamPass | None = None  # a pass under way

    @property
    def has_begun(self) -> bool:
        return self.watermark is not None or self.current is not None


@dataclass(frozen=True)
class CatchUp:
    runs_read: int
    task_runs_read: int
    days_covered: float
    days_total: float
    eta_s: float | None  # None until there is something to extrapolate from

    @property
    def share(self) -> float:
        return 0.0 if self.days_total <= 0 else min(1.0, self.days_covered / self.days_total)

    def to_json(self) -> str:
        """For the Worker heartbeat (one string property: never null, see worker_store)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> "CatchUp | None":
        try:
            return cls(**json.loads(text)) if text else None
        except (TypeError, ValueError):
            return None

    def summary(self) -> str:
        left = "estimating the time left" if self.eta_s is None else f"about {_duration(self.eta_s)} left"
        return (f"catching up: {self.runs_read:,} runs and {self.task_runs_read:,} task runs read, "
                f"{self.days_covered:.1f} of {self.days_total:.1f} days covered, {left}")


def next_pass(state: SyncState, now_ms: int, lookback_days: int,
              dag_watermarks: dict[str, int] | None = None) -> StreamPass:
    """The pass to continue, or a new one from the watermark (minus the overlap). The very
    first pass reads the lookback window, or from the oldest per-DAG watermark left by an
    earlier version of ORC AI when every DAG has one."""
    if state.current is not None:
        return state.current
    floor = now_ms - lookback_days * DAY_MS
    if state.watermark is not None:
        since = max(floor, state.watermark - WATERMARK_OVERLAP_MS)
    elif dag_watermarks:
        since = max(floor, min(dag_watermarks.values()) - WATERMARK_OVERLAP_MS)
    else:
        since = floor
    return StreamPass(since=since, until=now_ms, began_at=now_ms)


def finish(state: SyncState, stream: StreamPass) -> SyncState:
    """After a cycle's reading: the watermark moves only when the pass is complete."""
    if stream.done:
        return replace(state, watermark=stream.until, current=None)
    return replace(state, current=stream)


def stream_budget(max_rps: float, sync_interval_s: float) -> int:
    """Stream pages one cycle may read: half an interval at the allowed rate, so a catch-up
    is spread over cycles and leaves the rest of the cycle (and of Airflow) to the others."""
    return max(MIN_STREAM_BUDGET, int(max_rps * sync_interval_s / 2))


def tasks_to_read(dag_ids: list[str], tasks_synced_at: dict[str, int | None], changed: set[str],
                  now_ms: int, refresh_min: int, sync_interval_s: float) -> list[str]:
    """DAGs whose task list this sync reads: new ones, those with a new version, and the
    stalest of those not read for `refresh_min` (at most their share of one cycle, so the
    slow refresh costs a few requests per cycle instead of a burst)."""
    needed = [d for d in dag_ids if tasks_synced_at.get(d) is None or d in changed]
    chosen = set(needed)
    stale = sorted((tasks_synced_at[d], d) for d in dag_ids
                   if d not in chosen and now_ms - tasks_synced_at[d] >= refresh_min * MINUTE_MS)
    per_cycle = max(1, math.ceil(len(dag_ids) * sync_interval_s / (refresh_min * 60)))
    return needed + [d for _, d in stale[:per_cycle]]


def progress(stream: StreamPass, now_ms: int) -> CatchUp:
    """How far a pass is: the span covered by the task runs read so far (they are the bulk;
    runs are read first and fast), and the time left at the pace since the pass began."""
    total_ms = max(1, stream.until - stream.since)
    covered_ms = 0 if stream.covered_until is None else max(0, min(total_ms, stream.covered_until - stream.since))
    if stream.task_runs_cursor is None:
        covered_ms = total_ms
    if stream.task_runs_total:  # exact counts beat the time span
        share = min(1.0, stream.task_runs_read / stream.task_runs_total)
    else:
        share = covered_ms / total_ms
    elapsed_s = max(0.0, (now_ms - stream.began_at) / 1000)
    eta = elapsed_s * (1 - share) / share if share > 0 and elapsed_s > 0 else None
    return CatchUp(stream.runs_read, stream.task_runs_read, covered_ms / DAY_MS, total_ms / DAY_MS,
                   None if eta is None else round(eta, 1))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
