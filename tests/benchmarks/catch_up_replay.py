"""Diagnostic: the catch-up's graph writes replayed without Airflow, each query timed.

    python -m tests.benchmarks.catch_up_replay [--dags 1000] [--days 20] [--batch 5000] [--cycle 30000] [--loaders …]

`airflow_catch_up` takes ten minutes and shares the machine with Airflow's scheduler and
parser; this replays only ORC AI's side of it in a few minutes: the tasks of `--dags` DAGs of
6 tasks, then daily task runs in the order Airflow's `~` stream serves them (by time, every
DAG in each day), loaded in batches of `--batch` (`orcai.sync.LOAD_BATCH`) by each loader,
each into a graph of its own: as before the writer thread (`load.load_task_runs` batch after
batch), with the writer thread alone (rows prepared here while a `BackgroundWriter` writes
the batch before, last runs still per batch), and as the sync's stream does now
(`orcai.sync.StreamReader`: the writer thread, and the tasks' last runs once a cycle).
The task runs are cut into slices of `--cycle` (what one sync cycle
loads), and every writer, the raw `UNWIND` of `graph_load` too, writes each slice into its
graph of its own in turn, in rotating order: the machine's load moves by 2x within a minute
here, and the comparison is only fair when they all meet it alike. Prints each one's rate
and share of the raw rate (also per slice), the CPU seconds, the time of each graph query by
its first words and the wall time outside them (`--loaders`: a subset). No target: it says where the catch-up's time goes.

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
from orcai.graph.writer import BackgroundWriter
from orcai.simulate import synthetic_deployment
from orcai.sync import StreamReader, SyncReport
from tests.benchmarks.graph_load import START_MS, raw_limit, raw_rows
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


RAW = "raw UNWIND"
LOADERS = ("serial (load_task_runs per batch)", "writer thread, last runs per batch",
           "stream (StreamReader: writer thread, last runs once)")


def load_serially(graph, task_runs, batch: int) -> None:
    """The loader as the stream called it before the writer thread: batch after batch."""
    for start in range(0, len(task_runs), batch):
        load.load_task_runs(graph, task_runs[start:start + batch])


def load_as_the_stream(graph, task_runs, batch: int) -> None:
    """The sync's own stream loading (orcai.sync.StreamReader): rows prepared here while the
    writer thread writes the batch before; the tasks' last runs once, at the end (one cycle)."""
    reader = StreamReader(graph, set(), SyncReport(started_at=0))
    with BackgroundWriter() as writer:
        for start in range(0, len(task_runs), batch):
            reader.task_runs = task_runs[start:start + batch]
            reader.load(writer)
    reader.write_last_runs()  # once, as at the end of a cycle


def load_in_a_writer_thread(graph, task_runs, batch: int) -> None:
    """The writer thread alone: rows prepared here, each batch and its last runs written there."""
    with BackgroundWriter() as writer:
        for start in range(0, len(task_runs), batch):
            prepared = load.prepare_task_runs(task_runs[start:start + batch])
            writer.submit(lambda prepared=prepared: (load.write_task_runs(graph, prepared),
                                                     load.write_last_runs(graph, prepared.latest)))


def raw_unwind(graph, task_runs, batch: int) -> float:
    """The raw `UNWIND` (graph_load's), timed without building its rows; its graph holds the
    DAG runs already (`main`), so its CPU seconds are the writes' alone."""
    return raw_limit(graph, task_runs, parents=False)


def timed_slice(totals: dict, graph, loader, task_runs, batch: int) -> None:
    """Run `loader` on one slice, adding its time, each query's and its CPU seconds to `totals`."""
    original = timed_queries(totals["queries"], totals["calls"])
    try:
        before = cpu_seconds(graph)
        with Stopwatch() as watch:
            own_seconds = loader(graph, task_runs, batch)
        python_cpu, server_cpu = [after - first for after, first in zip(cpu_seconds(graph), before)]
    finally:
        FalkorGraph._query = original
    seconds = own_seconds if own_seconds is not None else watch.seconds
    totals["seconds"] += seconds
    totals["slices"].append(len(task_runs) / seconds)
    totals["python_cpu"] += python_cpu
    totals["server_cpu"] += server_cpu


def graph_with_tasks(port: int, name: str, dags, tasks) -> FalkorGraph:
    graph = empty_graph(port, name)
    load.load_dags(graph, dags)
    load.load_tasks(graph, [d.dag_id for d in dags], tasks)
    return graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.catch_up_replay")
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--cycle", type=int, default=30_000, help="task runs of one slice (one sync cycle)")
    parser.add_argument("--loaders", nargs="*", choices=LOADERS, help="a subset (default: all)")
    args = parser.parse_args(argv)
    dags, tasks = synthetic_deployment(args.dags, 6)
    task_runs = stream_task_runs(dags, tasks, args.days)
    writers = dict(zip(LOADERS, (load_serially, load_in_a_writer_thread, load_as_the_stream)))
    writers = {**{name: writers[name] for name in args.loaders or writers}, RAW: raw_unwind}
    names = list(writers)
    totals = {name: {"seconds": 0.0, "slices": [], "python_cpu": 0.0, "server_cpu": 0.0,
                     "queries": defaultdict(float), "calls": Counter()} for name in names}
    with falkordb(FALKOR_PORT) as port:
        graphs = {name: graph_with_tasks(port, f"replay{i}", dags, tasks) for i, name in enumerate(names)}
        parents = raw_rows(task_runs)
        for graph in graphs.values():  # untimed: the DAG runs, as a sync writes them before their task runs
            parents.add_parents(graph)
        for k, start in enumerate(range(0, len(task_runs), args.cycle)):
            for name in names[k % len(names):] + names[:k % len(names)]:  # the machine's load moves: rotate
                timed_slice(totals[name], graphs[name], writers[name], task_runs[start:start + args.cycle],
                            args.batch)
    raw = totals.pop(RAW)
    raw_rate = len(task_runs) / raw["seconds"]
    print(f"Catch-up replay: {len(task_runs):,} task runs of {args.dags:,} DAGs x {args.days} days, slices of "
          f"{args.cycle:,} (a cycle) in batches of {args.batch:,}, every writer on each slice in turn (rotating).\n"
          f"Raw UNWIND: {raw_rate:,.0f} task runs/s (slices " + ", ".join(f"{r:,.0f}" for r in raw["slices"])
          + f"); FalkorDB CPU {raw['server_cpu']:.1f} s")
    for name, run in totals.items():
        rate = len(task_runs) / run["seconds"]
        print(f"\n{name}: {rate:,.0f} task runs/s = {rate / raw_rate:.0%} of the raw (slices "
              + ", ".join(f"{r / raw_r:.0%}" for r, raw_r in zip(run["slices"], raw["slices"]))
              + f"); CPU seconds in FalkorDB {run['server_cpu']:.1f} ({run['server_cpu'] / raw['server_cpu']:.2f}x "
              f"the raw's), in this process {run['python_cpu']:.1f}")
        rows = [{"part": part, "queries": run["calls"][part], "seconds": s, "share": f"{s / run['seconds']:.0%}"}
                for part, s in sorted(run["queries"].items(), key=lambda item: -item[1])]
        rest = run["seconds"] - sum(run["queries"].values())
        rows.append({"part": "wall time outside the queries (rows built; hidden by the writer thread)", "queries": "",
                     "seconds": rest, "share": f"{rest / run['seconds']:.0%}"})
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
