"""Synthetic run history with known anomalies, written into the graph.

    python -m orcai.simulate --days 30            history for the DAGs already in the graph
    python -m orcai.simulate --days 30 --dags 50  history for 50 generated DAGs

Generation is pure and deterministic given `seed` and `now_ms`: runs sit on the DAG's
schedule grid and are keyed `synthetic__<ISO logical date>`, so a re-run merges onto the
same nodes. Every record is marked `source="synthetic"`; anomalies injected on purpose are
named in `injected_anomaly`, the ground truth detectors are scored against.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from orcai.config import load_settings
from orcai.errors import OrcaiError
from orcai.logs import configure_logging
from orcai.graph import Graph, WriteCounts, connect, dag_store, load, run_store
from orcai.model import DAY_MS, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord
from orcai.schedules import schedule_interval_s

log = logging.getLogger("orcai.simulate")  # same name under `python -m`

SOURCE = "synthetic"
ANOMALY_KINDS = ("slow", "failure_streak", "stuck")
# Further kinds Options(kinds=...) can inject; the detectors' benchmark corpus lives in
# tests/benchmarks/corpus.py.
# Labeled runs per episode (min, max). A level shift or drift persists after its labeled
# runs: those are the runs before which a detector should have noticed and then adapted.
EPISODE_RUNS = {"slow": (1, 1), "failure_streak": (3, 6), "stuck": (1, 1), "level_shift": (10, 10),
                "drift": (32, 32), "failure_rate": (24, 24), "missing": (2, 4), "late": (1, 1)}
DRIFT_RAMP_RUNS = 24              # drift: duration climbs over 24 runs, then holds (8 more labeled)
FAILURE_BURST_RATE = 0.4          # failure_rate: share of a burst's runs that fail
HOSTS = ("synthetic-worker-1", "synthetic-worker-2", "synthetic-worker-3")


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    upstream: tuple[str, ...] = ()
    operator: str | None = None
    pool: str | None = None


@dataclass(frozen=True)
class DagSpec:
    dag_id: str
    schedule: str | None
    tasks: tuple[TaskSpec, ...]


@dataclass(frozen=True)
class Options:
    failure_rate: float = 0.02        # share of ordinary runs where one task fails
    retry_rate: float = 0.03          # share of task runs that succeed on their second try
    anomalies_per_week: float = 1.5   # injected anomalies per DAG per week (0 = none)
    max_runs_per_dag: int = 2000      # a 3-minute DAG would otherwise make 14,400 runs a month
    kinds: tuple[str, ...] = ANOMALY_KINDS  # which anomalies to inject (any of EPISODE_RUNS)
    noisy_task_share: float = 0.0     # tasks whose normal durations vary ~±50% run to run
    seasonal_task_share: float = 0.0  # tasks 2.5x slower in a nightly batch window (00-04 UTC)
    baselines_s: tuple[tuple[str, float], ...] = ()  # (task key, seconds): observed typical durations
    spreads: tuple[tuple[str, float], ...] = ()  # (task key, sigma of log seconds): observed spread


@dataclass
class SyntheticHistory:
    dag_runs: list[DagRunRecord] = field(default_factory=list)
    task_runs: list[TaskRunRecord] = field(default_factory=list)

    def anomaly_counts(self) -> dict[str, int]:
        """Injected anomalies by kind, counted on task runs (a streak counts each run)."""
        return dict(Counter(tr.injected_anomaly for tr in self.task_runs if tr.injected_anomaly))


# --- schedules ---------------------------------------------------------------------

# --- structure ---------------------------------------------------------------------

def read_structure(graph: Graph) -> list[DagSpec]:
    """The live DAGs in the graph with their tasks and direct upstream tasks."""
    dags, rows = dag_store.dag_structure_rows(graph)
    tasks_by_dag: dict[str, list[dict]] = {}
    for row in rows:
        tasks_by_dag.setdefault(row["dag_id"], []).append(row)
    specs = []
    for dag in sorted(dags, key=lambda d: d["dag_id"]):
        rows = sorted(tasks_by_dag.get(dag["dag_id"], []), key=lambda r: r["task_id"])
        present = {r["task_id"] for r in rows}  # drop edges to deleted tasks
        tasks = tuple(TaskSpec(r["task_id"], tuple(sorted(set(r["upstream"]) & present)),
                               r["operator"], r["pool"]) for r in rows)
        if tasks:
            specs.append(DagSpec(dag["dag_id"], dag["schedule"], tasks))
        else:
            log.info("skipping DAG %s: it has no tasks in the graph", dag["dag_id"])
    return specs


def structure_from_records(dags: list[DagRecord], tasks: list[TaskRecord]) -> list[DagSpec]:
    """DagSpecs from records, turning Airflow's downstream lists into upstream tuples."""
    upstream: dict[tuple[str, str], list[str]] = {}
    specs: dict[str, list[TaskSpec]] = {dag.dag_id: [] for dag in dags}
    for task in tasks:
        for child in task.downstream_task_ids:
            upstream.setdefault((task.dag_id, child), []).append(task.task_id)
    for t in tasks:
        specs[t.dag_id].append(TaskSpec(t.task_id, tuple(sorted(upstream.get((t.dag_id, t.task_id), []))),
                                        t.operator, t.pool))
    return [DagSpec(dag.dag_id, dag.schedule, tuple(specs[dag.dag_id])) for dag in dags]


def synthetic_deployment(n_dags: int, tasks_per_dag: int = 6,
                         seed: int = 7) -> tuple[list[DagRecord], list[TaskRecord]]:
    """`n_dags` generated DAGs, alternating chains and fan-out/fan-in shapes."""
    rng = random.Random(f"{seed}:deployment")
    schedules = ("@hourly", "0:30:00", "*/15 * * * *", "@daily", "0:10:00")
    dags, tasks = [], []
    for index in range(n_dags):
        dag_id = f"synthetic_dag_{index:04d}"
        dags.append(DagRecord(dag_id=dag_id, is_paused=False, schedule=rng.choice(schedules),
                              owners=("orcai",), tags=("synthetic",), source=SOURCE))
        edges = _fan_edges(tasks_per_dag) if index % 2 and tasks_per_dag >= 3 else _chain_edges(tasks_per_dag)
        for task_id, downstream in edges.items():
            tasks.append(TaskRecord(dag_id=dag_id, task_id=task_id, operator="PythonOperator",
                                    pool="default_pool", retries=1,
                                    downstream_task_ids=tuple(sorted(downstream))))
    return dags, tasks


def _chain_edges(n: int) -> dict[str, list[str]]:
    ids = [f"step_{i:02d}" for i in range(max(1, n))]
    return {task: ids[i + 1:i + 2] for i, task in enumerate(ids)}


def _fan_edges(n: int) -> dict[str, list[str]]:
    middle = [f"transform_{i:02d}" for i in range(n - 2)]
    return {"extract": middle, **{task: ["load"] for task in middle}, "load": []}


def topological_order(tasks: tuple[TaskSpec, ...]) -> list[TaskSpec]:
    """Tasks with every upstream before its downstream; raises ValueError on a cycle."""
    remaining = {t.task_id: set(t.upstream) for t in tasks}
    by_id, order = {t.task_id: t for t in tasks}, []
    while remaining:
        ready = sorted(task_id for task_id, ups in remaining.items() if not ups)
        if not ready:
            raise ValueError(f"dependency cycle among tasks {sorted(remaining)}")
        for task_id in ready:
            order.append(by_id[task_id])
            del remaining[task_id]
        for ups in remaining.values():
            ups.difference_update(ready)
    return order


# --- history -----------------------------------------------------------------------

def synthetic_history(structure: list[DagSpec], days: float, now_ms: int, seed: int = 7,
                      options: Options = Options()) -> SyntheticHistory:
    """Scheduled runs of every DAG over the last `days` before `now_ms`, none after it."""
    history = SyntheticHistory()
    for dag in structure:
        dag_runs, task_runs = _dag_history(dag, days, now_ms, seed, options)
        history.dag_runs += dag_runs
        history.task_runs += task_runs
    log.info("generated %d runs and %d task runs for %d DAGs", len(history.dag_runs),
             len(history.task_runs), len(structure))
    return history


def _dag_history(dag: DagSpec, days: float, now_ms: int, seed: int, options: Options):
    rng = random.Random(f"{seed}:{dag.dag_id}")
    order = topological_order(dag.tasks)
    # Baselines depend only on seed and task, not on `now`: re-runs keep each task's character.
    observed = dict(options.baselines_s)
    baselines = {t.task_id: observed.get(f"{dag.dag_id}.{t.task_id}") or _baseline_s(seed, dag.dag_id, t.task_id)
                 for t in order}
    # Fast schedules skip grid points (every 3 min -> every 24 min) so the whole period
    # fits the run cap while runs stay on the DAG's own grid.
    interval_s = schedule_interval_s(dag.schedule)
    interval_ms = 1000 * interval_s * math.ceil(days * 86_400 / options.max_runs_per_dag / interval_s)
    first = -(-(now_ms - int(days * DAY_MS)) // interval_ms) * interval_ms
    logical_dates = range(first, now_ms - interval_ms + 1, interval_ms)  # run_after <= now
    plan = _plan_anomalies(order, len(logical_dates), days, options, rng)
    profiles = {t.task_id: _task_profile(seed, dag.dag_id, t.task_id, plan, options) for t in order}
    spreads = dict(options.spreads)
    for t in order:  # a task with real runs varies as they do, without invented load factors
        if f"{dag.dag_id}.{t.task_id}" in spreads:
            profiles[t.task_id] = replace(profiles[t.task_id], sigma=spreads[f"{dag.dag_id}.{t.task_id}"],
                                          seasonal=False, real=True)
    dag_runs, task_runs = [], []
    for index, logical_ms in enumerate(logical_dates):
        anomaly = plan.get(index)
        if anomaly and anomaly[0] == "skip":  # a scheduled run that never happened
            continue
        dag_run, runs = _simulate_run(dag.dag_id, order, baselines, logical_ms, interval_ms,
                                      anomaly, options, rng, (profiles, index))
        if dag_run.end_date <= now_ms:  # a run still going at `now` has no history yet
            dag_runs.append(dag_run)
            task_runs += runs
    return dag_runs, task_runs


def _baseline_s(seed: int, dag_id: str, task_id: str) -> float:
    """A task's typical duration: lognormal around a minute, kept within 5 s to 20 min."""
    rng = random.Random(f"{seed}:{dag_id}.{task_id}:baseline")
    return min(1200.0, max(5.0, rng.lognormvariate(math.log(60), 1.2)))


def _plan_anomalies(order: list[TaskSpec], n_runs: int, days: float, options: Options,
                    rng: random.Random) -> dict[int, tuple[str, str]]:
    """Run index -> (kind, task_id). One anomaly per equal slot of the middle 80% of runs,
    so there is clean history before the first and each is separate from the next."""
    if options.anomalies_per_week <= 0 or n_runs < 30:
        return {}
    wanted = max(len(options.kinds), round(options.anomalies_per_week * days / 7))
    start, stop = n_runs // 10, n_runs - n_runs // 10
    longest = max(EPISODE_RUNS[kind][1] for kind in options.kinds)  # 6 with the defaults
    count = min(wanted, (stop - start) // (longest + 4))  # a slot must hold the longest episode
    kinds = [options.kinds[i % len(options.kinds)] for i in range(count)]
    rng.shuffle(kinds)
    slot, plan = (stop - start) // max(1, count), {}
    for i, kind in enumerate(kinds):
        index, task_id = start + i * slot + rng.randrange(slot - longest), rng.choice(order).task_id
        plan.update(_episode(kind, index, task_id, rng))
    return plan


def _episode(kind: str, index: int, task_id: str, rng: random.Random) -> dict[int, tuple]:
    """Run index -> (kind, task_id, extra) for one injected anomaly."""
    low, high = EPISODE_RUNS[kind]
    length = rng.randint(low, high) if low < high else low
    if kind == "missing":  # `length - 1` runs skipped; the next run (every task) is labeled
        return {**{index + k: ("skip", task_id) for k in range(length - 1)},
                index + length - 1: ("missing", "*")}
    if kind == "late":
        return {index: ("late", "*", rng.uniform(0.5, 0.9))}
    if kind in ("level_shift", "drift"):  # the factor stays after the labeled runs
        factor = rng.uniform(2.0, 3.5) if kind == "level_shift" else rng.uniform(3.0, 4.0)
        return {index + k: (kind, task_id, factor, index) for k in range(length)}
    return {index + k: (kind, task_id) for k in range(length)}


@dataclass(frozen=True)
class _TaskProfile:
    """A task's character: how noisy it is, whether it is seasonal, and lasting shifts."""
    sigma: float = 0.15
    seasonal: bool = False
    shifts: tuple[tuple[str, int, float], ...] = ()  # (kind, first run index, factor)
    real: bool = False  # fitted to real runs: no business-hours factor

    def factor(self, index: int, at_ms: int) -> float:
        value = _nightly_factor(at_ms) if self.seasonal else 1.0
        for kind, first, final in (shift for shift in self.shifts if shift[1] <= index):
            ramp = 1.0 if kind == "level_shift" else min(1.0, (index - first + 1) / DRIFT_RAMP_RUNS)
            value *= 1.0 + (final - 1.0) * ramp
        return value


def _task_profile(seed: int, dag_id: str, task_id: str, plan: dict, options: Options) -> _TaskProfile:
    """Drawn from its own generator so the default history does not change with it."""
    shifts = tuple((entry[0], index, entry[2]) for index, entry in sorted(plan.items())
                   if len(entry) == 4 and entry[1] == task_id and entry[3] == index)
    draw = random.Random(f"{seed}:{dag_id}.{task_id}:profile").random()
    if draw < options.noisy_task_share:
        return _TaskProfile(sigma=0.5, shifts=shifts)
    seasonal = draw < options.noisy_task_share + options.seasonal_task_share
    return _TaskProfile(seasonal=seasonal, shifts=shifts)


def _nightly_factor(at_ms: int) -> float:
    """Seasonal tasks share a nightly batch window (00-04 UTC) and run 2.5x longer then."""
    return 2.5 if datetime.fromtimestamp(at_ms / 1000, timezone.utc).hour < 4 else 1.0


def _simulate_run(dag_id: str, order: list[TaskSpec], baselines: dict[str, float],
                  logical_ms: int, interval_ms: int, anomaly: tuple | None,
                  options: Options, rng: random.Random,
                  profiles: tuple[dict[str, _TaskProfile], int] = ({}, 0),
                  ) -> tuple[DagRunRecord, list[TaskRunRecord]]:
    """One scheduled run: tasks in dependency order, each starting after its upstreams end."""
    run_id = "synthetic__" + datetime.fromtimestamp(logical_ms / 1000, timezone.utc).isoformat()
    run_after = logical_ms + interval_ms  # Airflow runs a data interval once it has ended
    queued_at = run_after + int(rng.uniform(200, 3000))
    if anomaly and anomaly[0] == "late":  # the scheduler was backed up
        queued_at += int(max(900_000, anomaly[2] * interval_ms))
    start_ms = queued_at + int(rng.uniform(200, 2000))
    failing = None
    if anomaly is None and rng.random() < options.failure_rate:
        failing = rng.choice(order).task_id
    ends, states, runs = {}, {}, []
    for task in order:
        ready_ms = max((ends[u] for u in task.upstream), default=start_ms)
        if any(states[u] in ("failed", "upstream_failed") for u in task.upstream):
            states[task.task_id], ends[task.task_id] = "upstream_failed", ready_ms
            runs.append(TaskRunRecord(  # Airflow stamps start = end when it marks them
                dag_id, run_id, task.task_id, map_index=-1, state="upstream_failed", try_number=0,
                start_date=ready_ms, end_date=ready_ms, duration_s=0.0,
                pool=task.pool or "default_pool", operator=task.operator, source=SOURCE))
            continue
        kind = anomaly[0] if anomaly and anomaly[1] in (task.task_id, "*") else None
        profile, index = profiles[0].get(task.task_id, _TaskProfile()), profiles[1]
        run = _task_run(dag_id, run_id, task, baselines[task.task_id], ready_ms, kind,
                        task.task_id == failing, options, rng, profile, index)
        states[task.task_id], ends[task.task_id] = run.state, run.end_date
        runs.append(run)
    end_ms = max(ends.values())
    state = "failed" if any(s != "success" for s in states.values()) else "success"
    dag_run = DagRunRecord(
        dag_id, run_id, state, run_type="scheduled", logical_date=logical_ms, run_after=run_after,
        queued_at=queued_at, start_date=start_ms, end_date=end_ms,
        duration_s=(end_ms - start_ms) / 1000, triggered_by="timetable", source=SOURCE,
        injected_anomaly=anomaly[0] if anomaly else None)
    return dag_run, runs


def _task_run(dag_id: str, run_id: str, task: TaskSpec, baseline_s: float, ready_ms: int,
              kind: str | None, fails: bool, options: Options, rng: random.Random,
              profile: _TaskProfile = _TaskProfile(), index: int = 0) -> TaskRunRecord:
    queued_s = rng.uniform(0.5, 5.0) if rng.random() < 0.95 else rng.uniform(5.0, 60.0)
    try_number, state = 1, "success"
    if kind is None and not fails and rng.random() < options.retry_rate:
        # The first try died part-way; Airflow's default retry_delay is 5 minutes. Demo
        # DAGs set retries=0, but a cleared task bumps try_number the same way.
        try_number, ready_ms = 2, ready_ms + int(1000 * (rng.uniform(0.1, 1.0) * baseline_s + 300))
    start_ms = ready_ms + int(queued_s * 1000)
    load = 1.0 if profile.real else _business_hours_factor(start_ms)
    usual_s = baseline_s * load * profile.factor(index, start_ms)
    duration_s = usual_s * rng.lognormvariate(0, profile.sigma)
    if kind == "slow":
        duration_s = usual_s * rng.uniform(3.5, 10.0)
    elif kind == "stuck":  # hung until execution_timeout killed it
        duration_s, state = min(6 * 3600.0, max(1800.0, baseline_s * rng.uniform(20, 40))), "failed"
    elif kind == "failure_streak" or fails or (kind == "failure_rate" and rng.random() < FAILURE_BURST_RATE):
        duration_s, state = duration_s * rng.uniform(0.05, 1.0), "failed"
    duration_s = round(duration_s, 3)
    end_ms = start_ms + int(duration_s * 1000)
    return TaskRunRecord(
        dag_id, run_id, task.task_id, map_index=-1, state=state, try_number=try_number,
        start_date=start_ms, end_date=end_ms, duration_s=duration_s, queued_s=round(queued_s, 3),
        pool=task.pool or "default_pool", hostname=rng.choice(HOSTS), operator=task.operator,
        source=SOURCE, injected_anomaly=kind)


def _business_hours_factor(at_ms: int) -> float:
    """Shared warehouses are busier 09-18 UTC on weekdays: tasks run ~30% slower then."""
    moment = datetime.fromtimestamp(at_ms / 1000, timezone.utc)
    return 1.3 if moment.weekday() < 5 and 9 <= moment.hour < 18 else 1.0


# --- labeled frames for detectors ----------------------------------------------------

def runs_frame(history: SyntheticHistory) -> pd.DataFrame:
    """Task runs as the DataFrame `orcai.detect.detect` takes, plus `injected_anomaly`."""

    dag_runs = {r.key: r for r in history.dag_runs}
    rows = [(tr.dag_id, tr.task_id, tr.run_id, tr.start_date, tr.duration_s, tr.state,
             tr.queued_s, tr.try_number, dag_runs[tr.dag_run_key].run_type,
             dag_runs[tr.dag_run_key].logical_date, tr.injected_anomaly or "")
            for tr in history.task_runs]
    frame = pd.DataFrame(rows, columns=["dag_id", "task_id", "run_id", "start_date", "duration_s",
                                        "state", "queued_s", "try_number", "run_type",
                                        "logical_date", "injected_anomaly"])
    for column in ("start_date", "logical_date"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def run_intervals_s(structure: list[DagSpec], days: float, options: Options = Options()) -> dict[str, int]:
    """DAG id -> seconds between the generated runs (the schedule, widened by the run cap)."""
    intervals = {}
    for dag in structure:
        interval_s = schedule_interval_s(dag.schedule)
        intervals[dag.dag_id] = interval_s * math.ceil(days * 86_400 / options.max_runs_per_dag / interval_s)
    return intervals


def true_cadence(structure: list[DagSpec], days: float, observed_s: dict[str, float] | None = None,
                 spreads: dict[str, float] | None = None) -> Options:
    """Options for history that looks like the real deployment: every DAG on its real
    schedule (no thinning: the worker judges missing runs against the stored schedule),
    and tasks distributed like their real runs (median and log spread), where there are any."""
    fastest = min((schedule_interval_s(dag.schedule) for dag in structure), default=3600)
    return Options(max_runs_per_dag=max(Options().max_runs_per_dag, math.ceil(days * 86_400 / fastest)),
                   baselines_s=tuple(sorted((observed_s or {}).items())),
                   spreads=tuple(sorted((spreads or {}).items())))


MIN_SPREAD_RUNS, SPREAD_FLOOR = 5, 0.02
IQR_OF_NORMAL = 1.349


def lognormal_fits(durations: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Per task, a lognormal fitted robustly to its real successful durations: (median s,
    sigma of log s from the interquartile range; NaN with fewer than MIN_SPREAD_RUNS runs)."""
    fits = {}
    for task, values in durations.items():
        logs = np.log(np.clip(np.asarray(values, dtype=float), 1e-3, None))
        q25, q75 = np.quantile(logs, [0.25, 0.75]) if len(logs) else (np.nan, np.nan)
        sigma = max(SPREAD_FLOOR, (q75 - q25) / IQR_OF_NORMAL) if len(logs) >= MIN_SPREAD_RUNS else np.nan
        fits[task] = (float(statistics.median(values)), float(sigma))
    return fits


def observed_durations(graph: Graph) -> dict[str, float]:
    """Median duration of each task's successful real (Airflow-synced) runs."""
    return {task: median for task, (median, _) in observed_distributions(graph).items()}


def observed_distributions(graph: Graph) -> dict[str, tuple[float, float]]:
    """(median s, log sigma) of each task's successful real runs: see `lognormal_fits`."""
    rows = run_store.real_success_durations(graph)
    durations: dict[str, list[float]] = {}
    for row in rows:
        durations.setdefault(row["task"], []).append(row["duration_s"])
    return lognormal_fits(durations)


# --- graph and CLI -----------------------------------------------------------------

def write_history(graph: Graph, history: SyntheticHistory) -> WriteCounts:
    """Write the runs with the ordinary idempotent loaders (merged on their keys)."""
    return load.load_dag_runs(graph, history.dag_runs) + load.load_task_runs(graph, history.task_runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orcai.simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30, help="days of history before now (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--dags", type=int, help="generate N synthetic DAGs instead of using the graph's")
    parser.add_argument("--tasks-per-dag", type=int, default=6, help="tasks per generated DAG (default 6)")
    args = parser.parse_args(argv)
    configure_logging(fmt="%(levelname)s %(name)s: %(message)s")
    started, graph = time.monotonic(), None
    try:
        graph = connect(load_settings())
        load.ensure_schema(graph)
        if args.dags:
            dags, tasks = synthetic_deployment(args.dags, args.tasks_per_dag, args.seed)
            load.load_dags(graph, dags)
            load.load_tasks(graph, [d.dag_id for d in dags], tasks)
            structure = structure_from_records(dags, tasks)
        else:
            structure = read_structure(graph)
        if not structure:
            print("no DAGs in the graph: let the worker sync from Airflow first, or pass --dags N",
                  file=sys.stderr)
            return 2
        real = observed_distributions(graph)
        spreads = {task: sigma for task, (_, sigma) in real.items() if math.isfinite(sigma)}
        history = synthetic_history(structure, args.days, int(time.time() * 1000), args.seed,
                                    true_cadence(structure, args.days, {t: m for t, (m, _) in real.items()}, spreads))
        write_history(graph, history)
    except OrcaiError as exc:
        print(f"simulate failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if graph is not None:
            graph.close()
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(history.anomaly_counts().items())) or "none"
    print(f"wrote {len(history.dag_runs)} runs and {len(history.task_runs)} task runs for "
          f"{len(structure)} DAGs; injected anomalies (task runs): {kinds}; "
          f"{time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
