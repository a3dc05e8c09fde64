"""Diagnostic: the catch-up's graph writes replayed without Airflow, each query timed.

    python -m tests.benchmarks.catch_up_replay [--dags 1000] [--days 20] [--batch 5000]

`airflow_catch_up` takes ten minutes and shares the machine with Airflow's scheduler and
parser; this replays only ORC AI's side of it in a minute: the tasks of `--dags` DAGs of 6
tasks, then daily task runs in the order Airflow's `~` stream serves them (by time, every
DAG in each day), handed to `load.load_task_runs` in batches of `--batch` as the sync's
stream reader does (`orcai.sync.LOAD_BATCH`). Prints the loader's rate, the time of each
graph query by its first words, the rest (building rows in Python), and the raw `UNWIND`
of `graph_load` on the same rows. No target: it says where the catch-up's time goes.

Wall time on the shared 2-core machine moves 2x between runs; the CPU seconds spent (this
process's, and FalkorDB's from its `INFO cpu`) move far less, so they are printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict

from orcai.graph import load
from orcai.graph.falkor import FalkorGraph
from orcai.model import DAY_MS, TaskRunRecord
from orcai.simulate import synthetic_deployment
from tests.benchmarks.graph_load import START_MS, raw_limit
from tests.benchmarks.harness import Stopwatch, empty_graph, falkordb, print_table

FALKOR_PORT = 6384


def stream_task_runs(dags, tasks, days: int) -> list[TaskRunRecord]:
    """Daily runs of every DAG, ordered as the stream serves them: by time across DAGs."""
    by_dag = defaultdict(list)
    for task in tasks:
        by_dag[task.dag_id].append(task)
    runs = []
    for day in range(days):
        at = START_MS + day * DAY_MS
        for dag in dags:
            for task in by_dag[dag.dag_id]:
                runs.append(TaskRunRecord(dag.dag_id, f"scheduled__{day:04d}", task.task_id, -1, "success", 1,
                                          at, at + 60_000, 60.0, 1.0, "default_pool", "bench", task.operator,
                                          queued_when=at - 1_000))
    return runs


def timed_queries(seconds: dict, calls: Counter):
    """Wrap FalkorGraph._query so every query's time is added up by its first words."""
    original = FalkorGraph._query

    def timed(self, cypher, params, read_only):
        name = " ".join(cypher.split())[:70]
        started = time.perf_counter()
        try:
            return original(self, cypher, params, read_only)
        finally:
            seconds[name] += time.perf_counter() - started
            calls[name] += 1
    FalkorGraph._query = timed
    return original


def cpu_seconds(graph: FalkorGraph) -> tuple[float, float]:
    """(this process's CPU seconds, the FalkorDB server's): what a write costs, whatever
    else the machine is doing."""
    info = graph._select().execute_command("INFO", "cpu")  # the redis-py connection under FalkorDB
    return time.process_time(), float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.catch_up_replay")
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args(argv)
    dags, tasks = synthetic_deployment(args.dags, 6)
    task_runs = stream_task_runs(dags, tasks, args.days)
    seconds, calls = defaultdict(float), Counter()
    with falkordb(FALKOR_PORT) as port:
        graph = empty_graph(port, "replay")
        load.load_dags(graph, dags)
        load.load_tasks(graph, [d.dag_id for d in dags], tasks)
        original = timed_queries(seconds, calls)
        try:
            before = cpu_seconds(graph)
            with Stopwatch() as watch:
                for start in range(0, len(task_runs), args.batch):
                    load.load_task_runs(graph, task_runs[start:start + args.batch])
            loader_cpu = [after - first for after, first in zip(cpu_seconds(graph), before)]
        finally:
            FalkorGraph._query = original
        raw_graph = empty_graph(port, "raw")
        load.load_tasks(raw_graph, [d.dag_id for d in dags], tasks)
        before = cpu_seconds(raw_graph)
        raw_s = raw_limit(raw_graph, task_runs)  # builds its rows before its clock starts: not its CPU
        raw_server_cpu = cpu_seconds(raw_graph)[1] - before[1]
    rate, raw = len(task_runs) / watch.seconds, len(task_runs) / raw_s
    print(f"Catch-up replay: {len(task_runs):,} task runs of {args.dags:,} DAGs x {args.days} days, "
          f"batches of {args.batch:,}: {rate:,.0f} task runs/s, raw UNWIND {raw:,.0f}/s ({rate / raw:.0%})")
    print(f"CPU seconds in FalkorDB: loader {loader_cpu[1]:.1f}, raw UNWIND {raw_server_cpu:.1f} "
          f"({loader_cpu[1] / raw_server_cpu:.2f}x); the loader's own Python {loader_cpu[0]:.1f}")
    rows = [{"part": name, "queries": calls[name], "seconds": s, "share": f"{s / watch.seconds:.0%}"}
            for name, s in sorted(seconds.items(), key=lambda item: -item[1])]
    rest = watch.seconds - sum(seconds.values())
    rows.append({"part": "outside the queries (rows, fingerprints, latest runs)", "queries": "",
                 "seconds": rest, "share": f"{rest / watch.seconds:.0%}"})
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
