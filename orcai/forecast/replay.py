"""When will a running DAG run finish, and will it make its deadline? Pure functions.

A forecast replays the rest of the run many times (Monte Carlo over the DAG): each task
that has not finished waits for its upstream tasks (a first task: for the run to start),
then for one of its usual start lags (the scheduler's latency, the executor's queue and
its pool: the time from ready to running in its earlier runs), then draws a duration from
its own history; a task running, or ready and waiting, draws only from the times longer
than it has already spent. A branching DAG's replay first draws which tasks it skips, from
the DAG's past runs that agree with this one (branches.py): a skipped task takes no time.
The run ends when its last task does, plus one of the DAG's
usual close lags (Airflow marks a run done a moment after its last task), and not before
now. The p50 and p80 of those endings are the ETA band; the share of endings after the
deadline is the breach risk; on the chain of tasks that decides the end, the one running
furthest past its usual time is the one to watch (along the median replay's branch, so
never a task it skips; each task's times, as its Gantt window, read from the replays that
run it).

Deadlines (a `deadline:` tag or param, or the `ORCAI_DEADLINES` setting) are read in
deadlines.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

import numpy as np

from orcai.detect.reasons import format_duration, format_ratio
from orcai.forecast.branches import NO_PATTERNS, SKIPPED_IF_ANY, PastPatterns, shown_by_run, skip_masks

SAMPLES = 400
DONE_STATES = ("success", "skipped", "upstream_failed", "removed")
FAILED_STATES = ("failed",)
MIN_HISTORY = 3  # a task with fewer finished runs borrows its DAG's typical task duration
SHRINK = 10  # a running task's own longer runs count fully once there are many more than this (_draw_longer)


@dataclass(frozen=True)
class TaskState:
    state: str | None
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass
class RunForecast:
    eta_p50: int | None  # epoch ms; None when the run cannot finish well (a task failed)
    eta_p80: int | None
    progress: float  # share of the run's tasks that are done, of those it has not skipped and will not skip
    deadline: int | None = None
    breach_risk: float | None = None  # share of replays ending after the deadline
    watch_task: str | None = None  # the task whose end most often decides the run's end
    watch_reason: str = ""
    samples: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    # Tasks not finished yet: (start, end) epoch ms in the median replay, for a Gantt chart.
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)


def typical_duration_s(durations: dict[str, np.ndarray]) -> float:
    """The median duration over the DAG's tasks with history (a new task's stand-in)."""
    medians = [float(np.median(d)) for d in durations.values() if len(d) >= MIN_HISTORY]
    return float(np.median(medians)) if medians else 60.0


def _draw(history: np.ndarray | None, fallback_s: float, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` durations (s) drawn from a task's history, or spread around the fallback."""
    if history is not None and len(history) >= MIN_HISTORY:
        return rng.choice(history, size=n)
    return fallback_s * rng.lognormal(0.0, 0.5, size=n)


def _draw_beyond(history: np.ndarray, elapsed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per replay, a value of `history` larger than that replay's `elapsed`; NaN where
    fewer than MIN_HISTORY values are larger (too little evidence to draw from)."""
    return _beyond(history, elapsed, rng)[0]


def _beyond(history: np.ndarray, elapsed: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`_draw_beyond`, and how many values of `history` are larger than each `elapsed`."""
    ordered = np.sort(history)
    first = np.searchsorted(ordered, elapsed, side="right")
    larger = len(ordered) - first
    pick = np.minimum(first + (rng.random(len(elapsed)) * np.maximum(larger, 1)).astype(int), len(ordered) - 1)
    return np.where(larger >= MIN_HISTORY, ordered[pick], np.nan), larger


def _stretch(elapsed: np.ndarray, history: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Past all the evidence: the elapsed time stretched by up to the history's usual spread."""
    spread = 1.5
    if history is not None and len(history) >= MIN_HISTORY:
        spread = float(np.quantile(history, 0.9) / max(np.median(history), 1e-9))
    return elapsed * (1.0 + (max(spread, 1.05) - 1.0) * rng.random(len(elapsed)))


def _draw_longer(history: np.ndarray | None, elapsed_s: float, ratios: np.ndarray,
                 rng: np.random.Generator, n: int) -> np.ndarray:
    """Durations of a task that has already run `elapsed_s`: P(D | D > elapsed). Its own
    runs longer than that say it best when there are many; a task past most of its history
    has only a handful left (the few slow runs it had), too few to tell how much longer a
    run this slow goes. The DAG's tasks together (`ratios`: each run's duration over its
    task's median, as a multiple of this task's median) have seen several times as many:
    each replay draws from its own longer runs with weight n / (n + SHRINK), n the number
    of them, else from the DAG's; past both, the elapsed time stretched by its usual spread."""
    elapsed = np.full(n, elapsed_s)
    if history is None or len(history) < MIN_HISTORY:
        return _stretch(elapsed, history, rng)
    drawn, larger = _beyond(history, elapsed, rng)
    median = max(float(np.median(history)), 1e-9)
    if len(ratios) >= MIN_HISTORY:
        shared = median * _draw_beyond(ratios, elapsed / median, rng)
        own = ~np.isnan(drawn) & (rng.random(n) < larger / (larger + SHRINK))
        drawn = np.where(own | np.isnan(shared), drawn, shared)
    return np.where(np.isnan(drawn), _stretch(elapsed, history, rng), drawn)


def _draw_lag(waits: np.ndarray | None, waited: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Start lags of a task that has been ready for `waited` seconds (0 while its upstream
    tasks still run): from its history longer than that. Past its history (a busy
    scheduler, a full pool), one more of its usual lags from now: lags have long tails
    (mostly a second, now and then a minute), so a multiple of the wait so far, as for a
    task's run time, would forecast minutes for a task about to start."""
    if waits is None or len(waits) < MIN_HISTORY:
        return waited
    drawn = _draw_beyond(waits, waited, rng)
    return np.where(np.isnan(drawn), waited + rng.choice(waits, size=len(waited)), drawn)


def slow_ratios(durations: dict[str, np.ndarray]) -> np.ndarray:
    """Each run's duration over its task's median, for the tasks with history: the shape
    of the DAG's slow runs, shared by a task running past its own history."""
    ratios = [d / max(float(np.median(d)), 1e-9) for d in durations.values() if len(d) >= MIN_HISTORY]
    return np.concatenate(ratios) if ratios else np.empty(0)


def forecast_run(now_ms: int, tasks: dict[str, TaskState], upstream: dict[str, set[str]],
                 durations: dict[str, np.ndarray], waits: dict[str, np.ndarray] | None = None,
                 deadline_ms: int | None = None, samples: int = SAMPLES, seed: int = 0,
                 run_start_ms: int | None = None, close_s: np.ndarray | None = None,
                 waits_now: dict[str, np.ndarray] | None = None, patterns: PastPatterns | list[dict[str, bool]] | None = None,
                 trigger_rules: dict[str, str | None] | None = None) -> RunForecast:
    """Forecast one run. `tasks`: every task id of the DAG with its state in this run (no
    state: not started); `upstream`: task id -> direct upstream task ids; `durations` /
    `waits`: task id -> seconds of its earlier successful runs (run time / start lag: from
    ready to running); `run_start_ms`: when the run started (None while it is queued);
    `close_s`: seconds from the last task's end to the run's end in the DAG's earlier runs;
    `waits_now`: task id -> its past start lags when its pool was about as busy as now
    (load.lags_like_now), used for the tasks to start next: those whose upstream tasks are
    all done or running (the load now says little about a task due hours from now);
    `patterns`: the DAG's earlier runs, each task id -> whether it ran (False: skipped), or
    those built once for all the DAG's runs (branches.PastPatterns), and
    `trigger_rules`: task id -> its trigger rule, which decide the tasks each replay skips
    (branches.py): a skipped task takes no time."""
    if samples < 1:
        raise ValueError(f"a forecast needs at least one replay, not {samples}")
    rng = np.random.default_rng(seed)
    context = _Replay(now_ms, run_start_ms or now_ms, upstream, durations, _lags(tasks, upstream, waits, waits_now),
                      slow_ratios(durations), typical_duration_s(durations), rng, samples, trigger_rules or {})
    skipped_already = {t for t, ran in shown_by_run(tasks).items() if not ran}
    if any(t.state in FAILED_STATES for t in tasks.values()):
        return RunForecast(None, None, _progress(tasks, skipped_already), deadline_ms, watch_reason="a task failed")
    try:
        order = list(TopologicalSorter({t: upstream.get(t, set()) & tasks.keys() for t in tasks}).static_order())
    except CycleError:
        order = sorted(tasks)
    # its own generator: a DAG that never skips draws its durations exactly as before
    if isinstance(patterns, list):
        patterns = PastPatterns.of(patterns)
    skips = skip_masks(order, tasks, upstream, patterns or NO_PATTERNS, trigger_rules or {},
                       np.random.default_rng((seed, 1)), samples)
    begins: dict[str, np.ndarray] = {}
    finish: dict[str, np.ndarray] = {}
    for task in order:
        begins[task], finish[task] = _span(task, tasks[task], finish, context, skips)
    if not finish:
        return RunForecast(now_ms, now_ms, 1.0, deadline_ms)
    end = np.column_stack([finish[t] for t in order]).max(axis=1)
    if close_s is not None and len(close_s) >= MIN_HISTORY:
        end = end + 1000 * rng.choice(close_s, size=samples)
    end = np.maximum(end, now_ms)  # a run still going ends no earlier than now
    skipped = _median_skips(end, skips, order)
    progress = _progress(tasks, skipped | skipped_already)
    windows, watch = _median_branch(tasks, upstream, durations, now_ms, begins, finish, skips, skipped)
    p50, p80 = (int(v) for v in np.quantile(end, [0.5, 0.8]))
    risk = None if deadline_ms is None else float((end > deadline_ms).mean())
    reason = _watch_reason(watch, tasks[watch], now_ms, durations.get(watch)) if watch else ""
    return RunForecast(p50, p80, progress, deadline_ms, risk, watch, reason, end, windows)


def _lags(tasks: dict[str, TaskState], upstream: dict[str, set[str]], waits: dict[str, np.ndarray] | None,
          waits_now: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Each task's past start lags; for the tasks to start next (their upstream tasks all
    done or running), those of when their pool was about as busy as now."""
    next_up = {t for t, state in tasks.items() if state.start_ms is None and state.state not in DONE_STATES
               and all(tasks[u].state in DONE_STATES or tasks[u].start_ms is not None
                       for u in upstream.get(t, ()) if u in tasks)}
    near = {t: w for t, w in (waits_now or {}).items() if t in next_up and w is not None and len(w) >= MIN_HISTORY}
    return {**(waits or {}), **near}


def _median_branch(tasks: dict[str, TaskState], upstream: dict[str, set[str]], durations: dict[str, np.ndarray],
                   now_ms: int, begins: dict[str, np.ndarray], finish: dict[str, np.ndarray],
                   skips: dict[str, np.ndarray], skipped: set[str]) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Along the median replay's branch (the tasks not in `skipped`): the Gantt windows of
    the tasks not done yet and the task to watch. Each task's times are read from the
    replays that run it: with several independent skips (short-circuits) few replays skip
    exactly what the median replay skips."""
    ran = {t: ~skips[t] for t in finish if t not in skipped}
    windows = {t: (int(np.median(begins[t][ran[t]])), int(np.median(finish[t][ran[t]]))) for t in ran
               if tasks[t].state not in DONE_STATES}
    watch = watch_task(critical_path({t: finish[t][ran[t]] for t in ran}, upstream, skipped),
                       tasks, now_ms, durations)
    return windows, watch


def _progress(tasks: dict[str, TaskState], skipped: set[str]) -> float:
    """The share of the run's tasks that are done, of those it does not skip: a skipped
    task is no work, done or to do (a run down its short branch with only its join to go is
    nearly done, not halfway); a run with no work left is done."""
    counted = [state for task, state in tasks.items() if task not in skipped]
    return sum(state.state in DONE_STATES for state in counted) / len(counted) if counted else 1.0


@dataclass(frozen=True)
class _Replay:
    """What every task's replay reads."""
    now_ms: int
    run_start_ms: int
    upstream: dict[str, set[str]]
    durations: dict[str, np.ndarray]
    waits: dict[str, np.ndarray]
    ratios: np.ndarray
    fallback_s: float
    rng: np.random.Generator
    n: int
    trigger_rules: dict[str, str | None]


def _median_skips(end: np.ndarray, skips: dict[str, np.ndarray], order: list[str]) -> set[str]:
    """The tasks the median replay (by end) skips: its branch, which the Gantt and the task
    to watch are read from, so neither is ever a task it skips."""
    median = int(np.argsort(end, kind="stable")[len(end) // 2])
    return {t for t in order if skips[t][median]}


def _span(task: str, state: TaskState, finish: dict[str, np.ndarray], r: _Replay,
          skips: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """When `task` starts running and when it ends in each replay (epoch ms); in the replays
    that skip it (`skips`: task -> per replay), it takes no time (_skipped_at)."""
    if state.state in DONE_STATES:
        return np.full(r.n, float(state.start_ms or r.now_ms)), np.full(r.n, float(state.end_ms or r.now_ms))
    history = r.durations.get(task)
    if state.start_ms is not None and state.end_ms is None:  # running now
        elapsed = max(0.0, (r.now_ms - state.start_ms) / 1000)
        return (np.full(r.n, float(state.start_ms)),
                state.start_ms + 1000 * _draw_longer(history, elapsed, r.ratios, r.rng, r.n))
    parents = [finish[p] for p in r.upstream.get(task, ()) if p in finish]
    ready = np.max(parents, axis=0) if parents else np.full(r.n, float(r.run_start_ms))
    waited = np.maximum(0.0, (r.now_ms - ready) / 1000)
    begin = np.maximum(ready + 1000 * _draw_lag(r.waits.get(task), waited, r.rng), r.now_ms)
    end = begin + 1000 * _draw(history, r.fallback_s, r.rng, r.n)  # drawn for every replay: the same draws as without skips
    skipped_at = _skipped_at(task, ready, finish, r, skips)
    return np.where(skips[task], skipped_at, begin), np.where(skips[task], skipped_at, end)


def _skipped_at(task: str, ready: np.ndarray, finish: dict[str, np.ndarray], r: _Replay,
                skips: dict[str, np.ndarray]) -> np.ndarray:
    """When a task a replay skips is skipped: as it becomes ready (a branch not taken, as
    its branch operator ends), but a task skipped as soon as one upstream task is (all_success,
    none_skipped, all_done_min_one_success) when the first of its skipped upstream tasks
    ends, without waiting for the others; not before now (not decided yet: Airflow skips it
    from now on)."""
    at = ready
    if (r.trigger_rules.get(task) or "all_success") in SKIPPED_IF_ANY:
        ends = [np.where(skips[p], finish[p], np.inf) for p in r.upstream.get(task, ()) if p in finish]
        first = np.min(ends, axis=0) if ends else np.full(r.n, np.inf)
        at = np.where(np.isfinite(first), first, ready)
    return np.maximum(at, r.now_ms)


def held_risk(previous: float | None, now: float | None) -> float | None:
    """The breach risk that has held over the run's last two forecasts: the lower of the
    two (0.0 on a first forecast). What an alert reads, so that a single replay's spike, as
    a task ends a moment late or a lag is drawn long, does not page anyone on its own."""
    return None if now is None else min(now, previous or 0.0)


def critical_path(finish: dict[str, np.ndarray], upstream: dict[str, set[str]],
                  skipped: set[str] = frozenset()) -> list[str]:
    """The chain of tasks that decides the run's end in the median replay, last task first:
    from the task ending last, step to the upstream task that released it. `skipped` tasks
    are never on it: a step looks through them to their own upstream tasks."""
    median = {task: float(np.median(ends)) for task, ends in finish.items() if task not in skipped}
    if not median:
        return []
    current, path = max(median, key=median.get), []
    while current is not None and current not in path:
        path.append(current)
        parents = [u for u in _upstream_through(current, upstream, skipped) if u in median]
        current = max(parents, key=median.get) if parents else None
    return path


def _upstream_through(task: str, upstream: dict[str, set[str]], skipped: set[str]) -> set[str]:
    """The direct upstream tasks of `task`, a skipped one replaced by its own, recursively."""
    found, todo, seen = set(), list(upstream.get(task, ())), set()
    while todo:
        parent = todo.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if parent in skipped:
            todo.extend(upstream.get(parent, ()))
        else:
            found.add(parent)
    return found


def watch_task(path: list[str], tasks: dict[str, TaskState], now_ms: int,
               durations: dict[str, np.ndarray]) -> str | None:
    """The task on the critical path to watch: the running one furthest past its usual
    duration, else the first one not finished (the next to decide the end)."""
    behind = {}
    for task in path:
        state, history = tasks[task], durations.get(task)
        if state.start_ms is not None and state.end_ms is None and history is not None and len(history) >= MIN_HISTORY:
            behind[task] = (now_ms - state.start_ms) / 1000 / max(float(np.median(history)), 1e-9)
    if behind and max(behind.values()) > 1.0:
        return max(behind, key=behind.get)
    unfinished = [t for t in reversed(path) if tasks[t].state not in DONE_STATES]
    return unfinished[0] if unfinished else (path[0] if path else None)


def _watch_reason(task: str, state: TaskState, now_ms: int, history: np.ndarray | None) -> str:
    if state.start_ms is not None and state.end_ms is None and history is not None and len(history) >= MIN_HISTORY:
        elapsed = (now_ms - state.start_ms) / 1000
        usual = float(np.median(history))
        if elapsed > float(np.quantile(history, 0.8)):
            return (f"running for {format_duration(elapsed)}, {format_ratio(elapsed / max(usual, 1e-9))} "
                    f"its usual {format_duration(usual)}")
        return f"running, usually takes {format_duration(usual)}"
    if state.start_ms is None:
        return "not started yet, on the critical path"
    return ""
