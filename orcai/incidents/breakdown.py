"""Why a task run was late, stuck or slow: its time split into parts that add up, and a
sentence. Pure.

From when the run could have started (its DAG run's logical date, or when the DAG run was
queued) to when it ended (or now, if it has not):

- **upstream**: until its last upstream task finished (inherited delay);
- **scheduling**: from then until the scheduler scheduled it, on the first try;
- **retries**: the same gap when it is not the first try (earlier tries and retry delays);
- **queued**: from scheduled to started: waiting for a slot in its pool (scheduled ->
  queued), then for the executor (`queued_s` when Airflow did not say when it was scheduled);
- **running**: its usual run time (the baseline median), and **drift** above it.

The parts are clamped at zero and the largest one absorbs rounding, so they always add up to
the measured span. Lateness is the span minus what the run usually takes: the median span of the
task's earlier clean runs (could start -> end), when known. The median of a sum is not the
sum of the medians: adding the usual start to the usual run time instead (the fallback, when
no clean run ended yet) is off by the spread of both, seconds on a loaded scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTS = ("upstream", "scheduling", "retries", "queued", "running", "drift")
LABELS = {"upstream": "waiting for {upstream}", "scheduling": "waiting for the scheduler",
          "retries": "in earlier tries and retry delays", "queued": "queued in pool {pool}",
          "running": "running (its usual)", "drift": "running past its usual"}


@dataclass(frozen=True)
class RunTiming:
    """What the graph knows about one task run (epoch ms, seconds)."""
    could_start_ms: int  # the DAG run's queued_at, else its logical date
    start_ms: int | None  # the current try's start
    end_ms: int | None
    now_ms: int
    queued_s: float | None = None
    try_number: int = 1
    upstream_end_ms: int | None = None  # when its last upstream task finished (None: no upstream)
    upstream_task: str | None = None  # which one that was
    usual_run_s: float | None = None  # baseline median
    usual_start_s: float | None = None  # median time from when it could start to its start
    usual_end_s: float | None = None  # median time from when it could start to its end
    scheduled_ms: int | None = None  # when the scheduler scheduled the current try
    pool: str | None = None
    pool_slots: str | None = None  # "8/8 slots used", when known


@dataclass(frozen=True)
class Breakdown:
    parts: dict[str, float]  # seconds per part, in PARTS order
    total_s: float  # the span they add up to
    late_s: float  # total minus the usual queue and run
    sentence: str


def breakdown(t: RunTiming) -> Breakdown:
    end = t.end_ms if t.end_ms is not None else t.now_ms
    total = max(0.0, (end - t.could_start_ms) / 1000)
    started = t.start_ms if t.start_ms is not None else end
    waited = (started - t.scheduled_ms) / 1000 if t.scheduled_ms is not None else t.queued_s
    queued = min(max(0.0, waited or 0.0), total)
    queued_at = started - queued * 1000
    upstream_end = t.upstream_end_ms if t.upstream_end_ms is not None else t.could_start_ms
    upstream = _clamp((min(upstream_end, queued_at) - t.could_start_ms) / 1000, total)
    gap = _clamp((queued_at - max(upstream_end, t.could_start_ms)) / 1000, total - upstream)
    running_total = max(0.0, total - upstream - gap - queued)
    usual = t.usual_run_s if t.usual_run_s is not None else running_total
    running = min(running_total, max(0.0, usual))
    parts = {"upstream": upstream, "scheduling": gap if t.try_number <= 1 else 0.0,
             "retries": gap if t.try_number > 1 else 0.0, "queued": queued,
             "running": running, "drift": running_total - running}
    parts = {k: round(v, 1) for k, v in parts.items()}
    largest = max(parts, key=parts.get)  # takes the rounding: the parts add up exactly, none below zero
    parts[largest] = round(round(total, 1) - sum(v for k, v in parts.items() if k != largest), 1)
    expected = t.usual_end_s if t.usual_end_s is not None else (
        (t.usual_start_s or 0.0) + (t.usual_run_s if t.usual_run_s is not None else running_total))
    late = max(0.0, total - expected)
    return Breakdown(parts, round(total, 1), round(late, 1), sentence(parts, late, t))


def sentence(parts: dict[str, float], late_s: float, t: RunTiming) -> str:
    """"late 38 min: 31 min waiting for `warehouse.load_orders`, 7 min queued in pool `db` (8/8 slots used)"."""
    usual, beyond = t.usual_start_s or 0.0, dict(parts)
    # What it usually waits to start is not news; a retried run's earlier tries include it.
    for part in ("scheduling", "retries", "queued", "upstream"):
        taken = min(beyond[part], usual)
        beyond[part], usual = beyond[part] - taken, usual - taken
    notable = []
    for part in ("upstream", "scheduling", "retries", "queued", "drift"):
        seconds = beyond[part]
        if seconds >= 1:
            label = LABELS[part].format(upstream=t.upstream_task or "upstream tasks", pool=t.pool or "?")
            if part == "queued" and t.pool_slots:
                label += f" ({t.pool_slots})"
            notable.append((seconds, f"{_span(seconds)} {label}"))
    notable.sort(key=lambda n: -n[0])
    head = f"late {_span(late_s)}" if late_s >= 1 else "on time"
    return head + (": " + ", ".join(text for _, text in notable) if notable and late_s >= 1 else "")


def _clamp(value: float, upper: float) -> float:
    return min(max(0.0, value), max(0.0, upper))


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
