"""Benchmark: the catch-up of a large deployment from a real Airflow 3.3, and the quiet sync
after it.

    python -m tests.benchmarks.airflow_catch_up [--dags 1000] [--days 30] [--every-h 24] [--page-limit 1000]
    python -m tests.benchmarks.airflow_catch_up --every-h 4   # 1.07M task instances: hours on SQLite, see below
    python -m tests.benchmarks.airflow_catch_up --no-history  # only 1.: the quiet and full sync of the DAGs
    python -m tests.benchmarks.airflow_catch_up --postgres --every-h 4  # 1.07M on a local PostgreSQL

Starts FalkorDB and `airflow standalone` with `--dags` generated DAGs of 6 tasks (paused,
ten files), then:

1. Without history: a full sync into an empty graph and a quiet sync after it, unthrottled
   (issue 14: quiet sync time <= 5% of a full sync at 1,000 DAGs).
2. History written straight into Airflow's metadata DB with Airflow's own models
   (tests/benchmarks/airflow_history.py, run by the Airflow venv's python: a run every
   `--every-h` hours over `--days` days; 1,000 x 30 x 6 = 180,000 task instances by
   default); the scheduler could not produce it in the time a benchmark has. At
   `--every-h 4` (1.07M task instances, written in ~3 min) this SQLite-backed Airflow
   serves a page of 1,000 task instances in 11-23 s (it counts the matching rows on every
   page), so reading them all takes hours: with `--postgres`, Airflow's metadata DB is a
   throwaway local PostgreSQL 15 instead (Debian's server binaries; its drivers,
   pinned below, installed beside the shared Airflow venv on first use).
3. The catch-up: a fresh worker process (spawned, so its memory is its own) runs the
   worker's sync until its stream pass is complete, unthrottled, at pages of
   `--page-limit` (Airflow's `[api] maximum_page_limit` is raised to it). Reports time,
   cycles, requests, the worker's peak RSS, and how fast the graph took the task runs.
4. The raw limit, in the same run and FalkorDB: a hand-written `UNWIND $rows MERGE` of
   what the loader writes for a task run, the node, HAS_TASK_RUN and INSTANCE_OF (until
   the eighth session INSTANCE_OF only; tests/benchmarks/graph_load.py), on as
   many task runs as the catch-up writes (or `--raw-rows`), of as many DAGs, its rows sent
   as lists of values as the loader's are: just before the catch-up (Airflow idle), during
   it (a batch of 5,000 beside every 4th write of the loader, by its writer thread, into a
   graph that holds 3/8 of the catch-up's task runs at the start and 5/8 at the end, half
   on average like the loader's; under the same load as the loader, which shares 2 cores
   with Airflow's API server and PostgreSQL serving the pages, never at the same moment as
   its writes), and just after it (Airflow stopped). Target: the catch-up's task-run write
   rate >= 50% of the faster of the raw during it and the mean of before and after (the raw
   batches between the loader's writes may meet an idle reading thread, after a hand-off,
   more often than the loader's writes do). Beside the rates, what each
   writer cost the FalkorDB server in CPU per row, its own and its forked children's
   (snapshots, and FalkorDB's own forks, which its log calls "<module> Fork": most of them
   here; its index garbage collection, by the look of it), which the machine's load does
   not change.
5. A quiet sync after the catch-up (same target as 1, against the catch-up).

Exit status 1 when a target is missed. The ports are shifted by TEST_PORT_OFFSET.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import redis

from orcai.airflow import AirflowClient
from orcai.graph.falkor import FalkorGraph
from orcai.graph.load import load_tasks
from orcai.localstack.airflow import airflow_env
from orcai.simulate import synthetic_deployment
from orcai.sync import sync_once
from tests.benchmarks.airflow_scale import settings_for, sync_cost
from tests.benchmarks.catch_up_replay import timed_queries
from tests.benchmarks.graph_load import (
    RAW_BATCH, RAW_ONE_EDGE, RAW_PARENTS, RAW_TASK_RUNS, RawRows, deployment_runs, raw_rows,
)
from tests.benchmarks.harness import (
    AIRFLOW_VENV, ServerCpu, Stopwatch, Target, airflow, empty_graph, falkordb, peak_rss_mb, postgres, postgres_driver,
    print_table, report_targets, server_cpu,
)

FALKOR_PORT, AIRFLOW_PORT, POSTGRES_PORT = 6388, 8288, 5488
RAW_SHARE = 0.5
DAG_FILES = 10
DAG_FILE = '''"""{count} generated DAGs of 6 tasks for the catch-up benchmark (tests/benchmarks/airflow_catch_up.py)."""
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

for i in range({first}, {first} + {count}):
    with DAG(f"bench_{{i:04d}}", schedule="0 */4 * * *", start_date=datetime(2026, 1, 1), catchup=False,
             tags=["bench"]) as dag:
        previous = None
        for t in range(6):
            task = EmptyOperator(task_id=f"t{{t}}")
            if previous is not None:
                previous >> task
            previous = task
    globals()[dag.dag_id] = dag
'''


def write_dag_files(folder: Path, n_dags: int) -> None:
    per_file = -(-n_dags // DAG_FILES)
    for index, first in enumerate(range(0, n_dags, per_file)):
        (folder / f"bench_dags_{index}.py").write_text(
            DAG_FILE.format(first=first, count=min(per_file, n_dags - first)))


def wait_for_dag_count(client: AirflowClient, count: int, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while len(client.list_dags()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Airflow did not list {count} DAGs in time")
        time.sleep(10)


def write_history(home: Path, dags_folder: Path, days: float, every_h: float, extra_env: dict[str, str]) -> dict:
    env = airflow_env(home, AIRFLOW_VENV / "bin", 0, dags_folder, extra_env)
    out = subprocess.run([str(AIRFLOW_VENV / "bin" / "python"), str(Path(__file__).with_name("airflow_history.py")),
                          "--days", str(days), "--every-h", str(every_h)],
                         env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"airflow_history.py failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


RAW_EVERY = 4  # a raw batch beside every 4th write of task runs


@dataclass(frozen=True)
class RawBeside:
    """Where the worker writes raw batches between its own writes: graph `name`, holding the
    tasks of `n_dags` DAGs and their runs before `first_run` (`RawWriter.prefill`)."""
    falkor_port: int
    name: str
    n_dags: int
    first_run: int

    def batches(self) -> Iterator[RawRows]:
        _, tasks = synthetic_deployment(self.n_dags, 6)
        runs = -(-RAW_BATCH // len(tasks))  # of each DAG, for a whole batch
        for n in itertools.count(self.first_run, runs):
            _, task_runs = deployment_runs(tasks, runs, first_run=n)
            yield raw_rows(task_runs[:RAW_BATCH])


def catch_up_worker(settings, raw: RawBeside, results) -> None:
    """In a spawned process: the worker's sync, cycle after cycle, until the pass is done;
    the time spent loading runs and task runs is taken around the loader's calls: the rows
    prepared in the reading thread plus their writes in the writer thread (orcai.sync), added
    up, so the writes get no credit for overlapping the reading.

    Beside every RAW_EVERY-th write of task runs (before it, then after the next, in turn),
    the writer thread also writes one raw batch, timed apart with what it cost the server:
    the raw rate under the loader's conditions (Airflow's API server and PostgreSQL serving
    the next pages on the same 2 cores, the reading thread, the snapshots), never at the same
    moment as the loader's own writes."""
    from orcai.graph import connect, load
    timed = {"load_dag_runs": 0.0, "load_task_runs": 0.0, "raw": 0.0, "raw rows": 0, "raw cpu": 0.0,
             "raw setup cpu": 0.0, "raw before s": 0.0, "raw before rows": 0, "raw after s": 0.0, "raw after rows": 0}
    parts = {"prepare_dag_runs": "load_dag_runs", "write_dag_runs": "load_dag_runs",
             "prepare_task_runs": "load_task_runs", "write_task_runs": "load_task_runs",
             "write_last_runs": "load_task_runs"}

    def timing(name, total):
        original = getattr(load, name)

        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timed[total] += time.perf_counter() - started
        setattr(load, name, timed_call)
    for name, total in parts.items():
        timing(name, total)
    raw_graph, raw_batches, writes = FalkorGraph("127.0.0.1", raw.falkor_port, raw.name), raw.batches(), itertools.count()
    loader_write = load.write_task_runs

    def write_raw(position: str) -> None:
        batch = next(raw_batches)  # built, and its DAG runs written, before the clock starts
        setup = server_cpu(raw.falkor_port)
        batch.add_parents(raw_graph)
        before = server_cpu(raw.falkor_port)
        with Stopwatch() as watch:
            batch.write(raw_graph)
        timed["raw"], timed["raw rows"] = timed["raw"] + watch.seconds, timed["raw rows"] + len(batch.rows)
        timed[f"raw {position} s"] += watch.seconds
        timed[f"raw {position} rows"] += len(batch.rows)
        timed["raw cpu"] += (server_cpu(raw.falkor_port) - before).own
        timed["raw setup cpu"] += (before - setup).own

    def write_beside_raw(*args, **kwargs):
        n = next(writes)
        if n % (2 * RAW_EVERY) == 0:
            write_raw("before")
        written = loader_write(*args, **kwargs)
        if n % (2 * RAW_EVERY) == RAW_EVERY:
            write_raw("after")
        return written
    load.write_task_runs = write_beside_raw
    query_s, query_calls = defaultdict(float), Counter()
    timed_queries(query_s, query_calls)  # the raw batches are among them: they are left out below
    client, graph = AirflowClient(settings), connect(settings)
    reports = []
    with Stopwatch() as watch:
        reports.append(sync_once(client, graph, settings))
        while reports[-1].catch_up is not None:
            if reports[-1].dag_errors:  # a page Airflow cannot serve would be retried forever
                raise RuntimeError(f"the catch-up failed: {reports[-1].dag_errors}")
            reports.append(sync_once(client, graph, settings))
    client.close()
    results.put({"cycles": len(reports), "seconds": watch.seconds, "requests": sum(r.requests for r in reports),
                 "runs": sum(r.dag_runs_seen for r in reports), "task runs": sum(r.task_runs_seen for r in reports),
                 "load runs s": timed["load_dag_runs"], "load task runs s": timed["load_task_runs"],
                 "raw s": timed["raw"], "raw rows": timed["raw rows"], "raw server cpu s": timed["raw cpu"],
                 "raw setup server cpu s": timed["raw setup cpu"],
                 **{f"raw {at} {what}": timed[f"raw {at} {what}"] for at in ("before", "after") for what in ("s", "rows")},
                 "peak RSS MB": peak_rss_mb(),
                 "queries": [{"query": name, "calls": query_calls[name], "seconds": seconds}
                             for name, seconds in sorted(query_s.items(), key=lambda item: -item[1])
                             if "MERGE (t:TaskRun {key: r[0]})" not in name and name != RAW_PARENTS][:10]})


def catch_up_process(settings, raw: RawBeside, results) -> None:
    try:
        catch_up_worker(settings, raw, results)
    except Exception as exc:  # the parent waits on the queue: tell it
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def catch_up(settings, raw: RawBeside) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=catch_up_process, args=(settings, raw, results))
    worker.start()
    outcome = results.get(timeout=7200)
    worker.join(timeout=60)
    if "error" in outcome:
        raise RuntimeError(outcome["error"])
    return outcome


class RawWriter:
    """The hand-written UNWIND (graph_load's raw limit) at the catch-up's scale: as many task
    runs of as many 6-task DAGs, into a graph holding the tasks (a MERGE's lookups and the
    snapshots of a graph cost more as it grows, so a small graph would flatter the raw)."""

    def __init__(self, falkor_port: int, n_dags: int, n_task_runs: int):
        self.port = falkor_port
        self.dags, self.tasks = synthetic_deployment(n_dags, 6)
        self.runs_per_dag = max(1, -(-n_task_runs // (n_dags * 6)))

    def rate(self, name: str, query: str = RAW_TASK_RUNS) -> tuple[int, float, ServerCpu]:
        """Rows, task runs per second, and what they cost the server, into a fresh graph `name`
        holding the tasks and the DAG runs (`query`: graph_load's raw, or its former one)."""
        _, task_runs = deployment_runs(self.tasks, self.runs_per_dag)
        rows = raw_rows(task_runs, query)
        graph = self._graph_for(name, rows)
        before = server_cpu(self.port)
        with Stopwatch() as watch:
            rows.write(graph)
        return len(task_runs), len(task_runs) / watch.seconds, server_cpu(self.port) - before

    def prefill(self, name: str, n_task_runs: int) -> RawBeside:
        """A fresh graph `name` with the tasks and about `n_task_runs` task runs (untimed), for
        the raw batches written during the catch-up."""
        runs = max(1, n_task_runs // (len(self.dags) * 6))
        _, task_runs = deployment_runs(self.tasks, runs)
        rows = raw_rows(task_runs)
        rows.write(self._graph_for(name, rows))
        return RawBeside(self.port, name, len(self.dags), runs)

    def _graph_for(self, name: str, rows: RawRows) -> FalkorGraph:
        """A fresh graph `name` holding the tasks and the DAG runs `rows` hang from."""
        graph = empty_graph(self.port, name)
        load_tasks(graph, [d.dag_id for d in self.dags], self.tasks)
        rows.add_parents(graph)
        return graph

    def drop(self, name: str) -> None:
        """Delete graph `name` (its snapshots would weigh on what comes next), before returning:
        FalkorDB deletes in a thread of its own by default, which ran into the next raw."""
        with redis.Redis("127.0.0.1", self.port) as connection:
            connection.execute_command("GRAPH.CONFIG", "SET", "ASYNC_DELETE", "no")
            try:
                connection.execute_command("GRAPH.DELETE", name)
            finally:
                connection.execute_command("GRAPH.CONFIG", "SET", "ASYNC_DELETE", "yes")


def progress(message: str) -> None:
    """`message` on stderr, with the machine's load (1-minute average): the rates follow it."""
    print(f"[airflow_catch_up] {message} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.airflow_catch_up")
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--every-h", type=float, default=24, help="hours between runs of each DAG")
    parser.add_argument("--page-limit", type=int, default=1000, help="Airflow's maximum_page_limit and ORCAI_PAGE_SIZE")
    parser.add_argument("--raw-rows", type=int, default=0,
                        help="rows of each raw measurement (default: as many as the task instances written)")
    parser.add_argument("--no-history", action="store_true", help="stop after the syncs without history")
    parser.add_argument("--postgres", action="store_true",
                        help="Airflow's metadata DB on a throwaway local PostgreSQL instead of SQLite")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        falkor_port = stack.enter_context(falkordb(FALKOR_PORT))
        dags_folder = Path(folder)
        write_dag_files(dags_folder, args.dags)
        env = {"AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
               "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(args.page_limit),
               "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
               "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "900", "ORCAI_CYCLE_SCHEDULE": ""}
        database = "SQLite"
        if args.postgres:
            env.update({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack.enter_context(postgres(POSTGRES_PORT)),
                        "PYTHONPATH": str(postgres_driver())})
            database = "PostgreSQL 15"
        with airflow(AIRFLOW_PORT, env) as (url, home):
            settings = settings_for(url, home, f"falkor://127.0.0.1:{falkor_port}/no_history",
                                    page_size=args.page_limit, airflow_max_rps=1000.0)
            progress(f"waiting for Airflow to parse {args.dags} DAGs")
            wait_for_dag_count(AirflowClient(settings), args.dags)
            progress("full and quiet sync without history")
            no_history_rows, targets = sync_cost(settings, f" ({args.dags} DAGs, no history, max 1000 rps)")
            print(f"Full and quiet sync of {args.dags:,} DAGs without history, from Airflow 3.3, unthrottled")
            print_table(no_history_rows)
            sys.stdout.flush()
            if args.no_history:
                return report_targets(targets)
            progress("writing history into Airflow's metadata DB")
            written = write_history(home, dags_folder, args.days, args.every_h, env)
            progress(f"written: {written}; the raw UNWIND rate before the catch-up")
            raw = RawWriter(falkor_port, args.dags, args.raw_rows or written["task_instances"])
            # The two raws in turn, the former first here and second after the catch-up, so
            # neither always meets what the one before it left (a drop's cleanup, until drops
            # were made synchronous; the allocator's state).
            _, one_edge_before, one_edge_before_cpu = raw.rate("raw_before", RAW_ONE_EDGE)
            raw.drop("raw_before")
            n_raw, raw_before, raw_before_cpu = raw.rate("raw_before")
            raw.drop("raw_before")
            # The batches during the catch-up add about a quarter of its task runs to a graph
            # holding 3/8 of them: on average it holds half, as the loader's graph does.
            beside = raw.prefill("raw_during", 3 * n_raw // 8)
            progress("catching up")
            history = settings.model_copy(update={"graph_uri": f"falkor://127.0.0.1:{falkor_port}/catch_up"})
            empty_graph(falkor_port, "catch_up")
            before = server_cpu(falkor_port)
            caught = catch_up(history, beside)
            caught_cpu = server_cpu(falkor_port) - before
            caught_cpu = ServerCpu(caught_cpu.own - caught["raw server cpu s"] - caught["raw setup server cpu s"],
                                   caught_cpu.snapshots, caught_cpu.forks)
            raw.drop("raw_during")
            progress("quiet sync after the catch-up")
            client = AirflowClient(history)
            quiets = [sync_once(client, FalkorGraph("127.0.0.1", falkor_port, "catch_up"), history) for _ in range(3)]
            quiet = next((q for q in quiets if q.written.total == 0), quiets[-1])
            client.close()
        progress("the raw UNWIND rate after the catch-up")
        _, raw_after, raw_after_cpu = raw.rate("raw_after")
        raw.drop("raw_after")
        _, one_edge_after, one_edge_after_cpu = raw.rate("raw_after", RAW_ONE_EDGE)
        raw.drop("raw_after")

    task_rate = caught["task runs"] / caught["load task runs s"]
    during = caught["raw rows"] / caught["raw s"] if caught["raw s"] else float("nan")
    # The raw batches just before a loader write and just after one: whether the reading
    # thread's state at each (handing off, or decoding the next page) favours one of them.
    position_rates = {at: caught[f"raw {at} rows"] / caught[f"raw {at} s"] if caught[f"raw {at} s"] else float("nan")
                      for at in ("before", "after")}
    load_rate = caught["task runs"] / (caught["load task runs s"] + caught["load runs s"])
    print(f"Catch-up from Airflow 3.3 ({database}, standalone): {written['dags']:,} DAGs, {written['runs']:,} runs, "
          f"{written['task_instances']:,} task instances over {args.days:g} days, written into Airflow in "
          f"{written['seconds']:.0f} s; pages of {args.page_limit} (maximum_page_limit raised), unthrottled")
    loading_s = caught["load task runs s"] + caught["load runs s"]
    print_table([{"what": "catch-up", "cycles": caught["cycles"], "requests": caught["requests"],
                  "seconds": caught["seconds"], "of which loading": loading_s,
                  "runs": caught["runs"], "task runs": caught["task runs"],
                  "worker peak RSS MB": caught["peak RSS MB"]},
                 {"what": "quiet sync after it", "cycles": 1, "requests": quiet.requests, "seconds": quiet.duration_s,
                  "of which loading": "", "runs": quiet.dag_runs_seen, "task runs": quiet.task_runs_seen, "worker peak RSS MB": ""}])

    def cpu(cost: ServerCpu, rows: int) -> dict:
        return {"server CPU µs/row": 1e6 * cost.own / rows, "forked CPU µs/row": 1e6 * cost.snapshots / rows,
                "forks": cost.forks}
    print_table([{"writer": "catch-up: task runs (loader)", "rows": caught["task runs"],
                  "seconds": caught["load task runs s"], "task runs/s": task_rate,
                  **dict.fromkeys(cpu(caught_cpu, 1), "")},
                 {"writer": "catch-up (all its queries): runs + task runs (loader)", "rows": caught["task runs"],
                  "seconds": loading_s, "task runs/s": load_rate, **cpu(caught_cpu, caught["task runs"])},
                 {"writer": "raw UNWIND MERGE node, CREATE 2 edges, before the catch-up", "rows": n_raw,
                  "seconds": n_raw / raw_before, "task runs/s": raw_before, **cpu(raw_before_cpu, n_raw)},
                 {"writer": f"raw UNWIND during it: a batch beside every {RAW_EVERY}th write",
                  "rows": caught["raw rows"], "seconds": caught["raw s"], "task runs/s": during,
                  **dict.fromkeys(cpu(caught_cpu, 1), "")},
                 *({"writer": f"  of which those {at} a loader write", "rows": caught[f"raw {at} rows"],
                    "seconds": caught[f"raw {at} s"], "task runs/s": rate, **dict.fromkeys(cpu(caught_cpu, 1), "")}
                   for at, rate in position_rates.items()),
                 {"writer": "raw UNWIND MERGE node, CREATE 2 edges, after it", "rows": n_raw,
                  "seconds": n_raw / raw_after, "task runs/s": raw_after, **cpu(raw_after_cpu, n_raw)},
                 *({"writer": f"former raw (MERGE node + INSTANCE_OF only), {when}", "rows": n_raw,
                    "seconds": n_raw / rate, "task runs/s": rate, **cpu(cost, n_raw)}
                   for when, rate, cost in (("before the catch-up", one_edge_before, one_edge_before_cpu),
                                            ("after it", one_edge_after, one_edge_after_cpu)))])
    quiet_mean, one_edge_mean = (raw_before + raw_after) / 2, (one_edge_before + one_edge_after) / 2
    faster = max(rate for rate in (during, quiet_mean) if rate == rate)  # a NaN: no raw batch ran
    print("Server CPU: the catch-up's own without the raw batches' (measured around each); its forked children's "
          "include those of the raw graph beside it.")
    print("The catch-up's graph queries by time (wall, each in the thread that sent it), the ten slowest kinds:")
    print_table(caught["queries"])
    targets += [
        # Against the faster of the two: the raw between the loader's writes runs when the reading
        # thread may be idle (after a hand-off), the idle-machine mean without Airflow's load.
        Target(f"catch-up task-run writes >= {RAW_SHARE:.0%} of the raw UNWIND rate (the faster of during it and "
               "the idle mean)", task_rate >= RAW_SHARE * faster,
               f"{task_rate:,.0f} task runs/s: {task_rate / during:.0%} of the raw during it ({during:,.0f}/s), "
               f"{task_rate / quiet_mean:.0%} of the mean before and after ({quiet_mean:,.0f}/s); with the runs' "
               f"loads {load_rate / faster:.0%}"),
        Target("the same against the former raw (node + INSTANCE_OF only, one of the two edges; idle mean, as "
               "it was not run during the catch-up)", task_rate >= RAW_SHARE * one_edge_mean,
               f"{task_rate / one_edge_mean:.0%} of {one_edge_mean:,.0f}/s"),
        Target("quiet sync after the catch-up writes nothing", quiet.written.total == 0,
               f"{quiet.written.total} writes"),
        Target("quiet sync < 5% of the catch-up", quiet.duration_s < 0.05 * caught["seconds"],
               f"{quiet.duration_s:.2f} s vs {caught['seconds']:.0f} s"),
        Target("catch-up time, requests, peak RSS (reported; no target)", True,
               f"{caught['seconds']:.0f} s, {caught['requests']:,} requests, {caught['peak RSS MB']:.0f} MB"),
    ]
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
