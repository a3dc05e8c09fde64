"""The forecast stage of the worker: every queued and running DAG run gets an ETA band,
its deadline and breach risk, re-forecast each cycle and stored on the run."""

from __future__ import annotations

import json
import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from orcai.config import Settings
from orcai.forecast.branches import PastPatterns
from orcai.forecast.deadlines import deadline_at, deadline_spec
from orcai.forecast.load import PoolTimeline, lags_like_now
from orcai.forecast.replay import DONE_STATES, TaskState, forecast_run, held_risk
from orcai.graph import Graph
from orcai.graph import dag_store, forecast_store, lineage_store, run_store
from orcai.model import DAY_MS

log = logging.getLogger(__name__)

ETA_HISTORY = 120  # forecasts kept per run: two hours at one cycle a minute
RUNNING_STATES = ("running", "deferred", "up_for_reschedule", "restarting")
PENDING_STATES = ("scheduled", "queued", "up_for_retry")  # not started, but bound to run: not a skip
RISK_TO_REPORT = 0.5
POOL_LOAD_DAYS = 2  # the past lags paired with their pool's load (see _history)
POOL_SPAN_MARGIN_MS = 3_600_000  # task runs that began up to an hour before still count in the load


@dataclass
class ForecastReport:
    forecast: int = 0
    at_risk: int = 0  # runs more likely than not to miss their deadline


def task_states(rows: list[dict]) -> dict[str, TaskState]:
    """Task instances of one run -> one state per task (a mapped task: all its instances):
    failed if any failed, done when all are done (skipped when all were skipped or removed,
    one at least skipped), running from its first start; scheduled or queued (bound to run)
    before it starts."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["task_id"]].append(row)
    states = {}
    for task_id, instances in grouped.items():
        kinds = [i.get("state") for i in instances]
        starts = [i["start_date"] for i in instances if i.get("start_date") is not None]
        if "failed" in kinds:
            states[task_id] = TaskState("failed", min(starts, default=None), None)
        elif all(k in DONE_STATES for k in kinds):
            ends = [i["end_date"] for i in instances if i.get("end_date") is not None]
            # a mapped task's removed instances (its input shrank) neither ran nor skipped
            skipped = "skipped" in kinds and all(k in ("skipped", "removed") for k in kinds)
            done = "skipped" if skipped else "success"
            states[task_id] = TaskState(done, min(starts, default=None), max(ends, default=None))
        elif any(k in RUNNING_STATES for k in kinds) and starts:
            states[task_id] = TaskState("running", min(starts), None)
        else:
            bound = [k for k in kinds if k in PENDING_STATES + RUNNING_STATES]
            states[task_id] = TaskState(bound[0] if bound else None)
    return states


@dataclass
class History:
    """A DAG's tasks' past run times and start lags (seconds), each lag with its pool's load
    when the task became ready (NaN: unknown), and each task's pool."""
    durations: dict[str, dict[str, np.ndarray]]
    waits: dict[str, dict[str, np.ndarray]]
    loads: dict[str, dict[str, np.ndarray]]
    pool_of: dict[tuple[str, str], str]

    def waits_now(self, dag: str, instances: list[dict], load_now: dict[str, int]) -> dict[str, np.ndarray]:
        """Per task of one run, its past lags when its pool was about as busy as now. The load
        now counts the task's own instance while it is scheduled or queued; a past lag's load
        was counted as it became ready, before it was scheduled: it is left out here too."""
        own = {i["task_id"]: i for i in instances}
        near = {}
        for task, lags in self.waits[dag].items():
            instance = own.get(task) or {}
            pool = instance.get("pool") or self.pool_of.get((dag, task))
            if pool is None:
                continue
            load = load_now.get(pool, 0) - int(instance.get("state") in ("scheduled", "queued"))
            chosen = lags_like_now(lags, self.loads[dag].get(task), max(load, 0))
            if chosen is not None:
                near[task] = chosen
        return near


def _task_id(dag_id: str, key: str) -> str:
    return key[len(dag_id) + 1:]


class ForecastStage:
    def __init__(self, settings: Settings):
        self.settings = settings

    def run(self, graph: Graph, now_ms: int) -> ForecastReport:
        shard = self.settings.dag_shard
        owned = None if shard.is_whole else dag_store.owned_dag_ids(graph, shard)
        runs = forecast_store.active_runs(graph, owned)
        report = ForecastReport()
        if not runs:
            return report
        dags = sorted({run["dag_id"] for run in runs})
        tasks, upstream, rules = self._structure(graph, dags)
        history = self._history(graph, dags, now_ms)
        patterns, closes = self._past_runs(graph, dags, now_ms)
        durations, waits = history.durations, history.waits
        load_now = forecast_store.pool_load_now(graph)
        instances: dict[str, list[dict]] = defaultdict(list)
        for row in run_store.task_runs_of(graph, [run["key"] for run in runs]):
            instances[row["run_key"]].append(row)
        rows = []
        for run in runs:
            dag = run["dag_id"]
            states = {task: TaskState(None) for task in tasks[dag]}
            states.update(task_states(instances[run["key"]]))
            spec = deadline_spec(dag, run.get("tags") or [], self.settings.deadline_rules, run.get("deadline_param"),
                                 run.get("deadline_setting"))
            deadline = deadline_at(spec, run.get("logical_date"))
            waits_now = history.waits_now(dag, instances[run["key"]], load_now)
            forecast = forecast_run(now_ms, states, upstream[dag], durations[dag], waits[dag], deadline,
                                    seed=zlib.crc32(run["key"].encode()), run_start_ms=run.get("start_date"),
                                    close_s=closes.get(dag), waits_now=waits_now, patterns=patterns.get(dag),
                                    trigger_rules=rules[dag])
            rows.append({"key": run["key"], "at": now_ms, "p50": forecast.eta_p50, "p80": forecast.eta_p80,
                         "deadline": deadline, "risk": forecast.breach_risk,
                         "risk_held": held_risk(run.get("breach_risk") if run.get("deadline") == deadline else None,
                                                forecast.breach_risk),
                         "progress": round(forecast.progress, 3),
                         "watch_task": forecast.watch_task, "watch_reason": forecast.watch_reason,
                         "windows": json.dumps({t: list(w) for t, w in sorted(forecast.windows.items())})})
            report.at_risk += int((forecast.breach_risk or 0) >= RISK_TO_REPORT)
        forecast_store.write_forecasts(graph, rows, ETA_HISTORY)
        report.forecast = len(rows)
        return report

    @staticmethod
    def _structure(graph: Graph, dags: list[str]) -> tuple[dict[str, list[str]], dict[str, dict[str, set[str]]],
                                                            dict[str, dict[str, str | None]]]:
        """Per DAG: its task ids, each task's direct upstream tasks, each task's trigger rule."""
        tasks: dict[str, list[str]] = defaultdict(list)
        rules: dict[str, dict[str, str | None]] = defaultdict(dict)
        for row in lineage_store.tasks_of_dags(graph, dags):
            task = _task_id(row["dag_id"], row["key"])
            tasks[row["dag_id"]].append(task)
            rules[row["dag_id"]][task] = row.get("trigger_rule")
        dag_of = {f"{dag}.{task}": dag for dag, ids in tasks.items() for task in ids}
        upstream: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for edge in lineage_store.dependency_edges_of_dags(graph, dags):
            dag = dag_of.get(edge["task"])
            if dag is not None:
                upstream[dag][_task_id(dag, edge["task"])].add(_task_id(dag, edge["upstream"]))
        return tasks, upstream, rules

    def _past_runs(self, graph: Graph, dags: list[str], now_ms: int) -> tuple[dict[str, PastPatterns],
                                                                               dict[str, np.ndarray]]:
        """Per DAG, from its successful runs of the lookback (as for durations): which tasks
        each ran (False: it was skipped), built once for all its runs' forecasts, and its
        close lags (seconds from the last task's end to the run's)."""
        since = now_ms - self.settings.detect_lookback_days * DAY_MS
        patterns: dict[str, list[dict[str, bool]]] = defaultdict(list)
        closes: dict[str, list[float]] = defaultdict(list)
        # sorted, as the graph returns them in no set order, so that a run's replays draw
        # the same patterns and lags cycle after cycle
        for row in sorted(forecast_store.past_runs(graph, dags, since),
                          key=lambda r: (r["dag_id"], r["run_id"])):
            if row.get("close_s") is not None:
                closes[row["dag_id"]].append(max(0.0, float(row["close_s"])))
            if row.get("ran") or row.get("skipped"):
                # a mapped task with instances of both kinds ran
                patterns[row["dag_id"]].append({**{t: False for t in row.get("skipped") or ()},
                                                **{t: True for t in row.get("ran") or ()}})
        return ({dag: PastPatterns.of(runs) for dag, runs in patterns.items()},
                {dag: np.asarray(values) for dag, values in closes.items()})

    def _history(self, graph: Graph, dags: list[str], now_ms: int) -> "History":
        since = now_ms - self.settings.detect_lookback_days * DAY_MS
        rows = forecast_store.success_durations(graph, dags, since)
        pools = sorted({row["pool"] for row in rows if row.get("pool")})
        # a pool's load is counted over the last POOL_LOAD_DAYS only: default_pool holds most
        # task runs of an estate, and reading all of them each cycle would grow with history;
        # older lags keep an unknown load and are used unconditioned (load.lags_like_now)
        load_since = max(since, now_ms - POOL_LOAD_DAYS * DAY_MS)
        spans: dict[str, list[tuple]] = defaultdict(list)
        for span in forecast_store.pool_spans(graph, pools, load_since - POOL_SPAN_MARGIN_MS) if pools else ():
            if span["entered_ms"] is not None:
                spans[span["pool"]].append((span["entered_ms"], span["left_ms"]))
        timelines = {pool: PoolTimeline(spans[pool]) for pool in pools}
        runs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        waits: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        loads: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        pool_of: dict[tuple[str, str], str] = {}
        for row in rows:
            dag, task = row["dag_id"], row["task_id"]
            runs[dag][task].append(float(row["duration_s"]))
            if row.get("lag_s") is not None:  # clocks of Airflow's parts may disagree by a little
                waits[dag][task].append(max(0.0, float(row["lag_s"])))
                timeline, ready = timelines.get(row.get("pool")), row.get("ready_ms")
                known = timeline is not None and ready is not None and ready >= load_since
                loads[dag][task].append(float(timeline.load_at([ready])[0]) if known else np.nan)
            if row.get("pool"):
                pool_of[(dag, task)] = row["pool"]
        as_arrays = lambda by_dag: defaultdict(dict, {dag: {t: np.asarray(v, dtype=float) for t, v in per_task.items()}
                                                      for dag, per_task in by_dag.items()})
        return History(as_arrays(runs), as_arrays(waits), as_arrays(loads), pool_of)
