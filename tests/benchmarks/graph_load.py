"""Benchmark: graph load throughput, ORC AI's loader against the seed's pattern and the raw limit.

    python -m tests.benchmarks.graph_load [--dags 1000] [--tasks-per-dag 20] [--runs-per-dag 10]

A synthetic deployment of 1,000 DAGs / 20,000 tasks / 10,000 DAG runs / 200,000 task runs
is written into one real FalkorDB three ways, each into its own empty graph:

- ORC AI's loader (orcai.graph.load: records -> properties and fingerprints -> batched
  `UNWIND $rows MERGE`, with HAS_TASK_RUN and INSTANCE_OF edges and last-run bookkeeping);
- the seed's naive pattern, one query per node and one per relationship (here three round
  trips per task run: the node, HAS_TASK_RUN, INSTANCE_OF), sent through ORC AI's
  `Graph.write` on the same FalkorDB, on a 10% sample and extrapolated;
- the raw limit: one hand-written `UNWIND $rows MERGE` per 5,000 prepared rows writing what
  the loader writes (the node, HAS_TASK_RUN and INSTANCE_OF; no mapping, no fingerprints,
  no stubs), the rows as lists of values like the loader's. The raw limit of earlier
  sessions (node and INSTANCE_OF only) is printed beside it.

Rates are task runs (with their edges) per second, so all three count the same rows.
Targets (issue 8): the loader >= 20x the naive rate and >= 50% of the raw limit.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass

from orcai.graph.load import load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.model import DagRunRecord, TaskRunRecord
from orcai.simulate import synthetic_deployment
from tests.benchmarks.harness import Stopwatch, Target, empty_graph, falkordb, print_table, report_targets

FALKOR_PORT = 6386
HOUR_MS = 3_600_000
START_MS = 1_780_000_000_000
RAW_BATCH = 5_000
TARGET_VS_NAIVE, TARGET_VS_RAW = 20.0, 0.5

# The raw limit writes what the loader writes for a task run: the node with its properties,
# HAS_TASK_RUN from its DAG run and INSTANCE_OF to its task (the parents exist: `RawRows.
# add_parents`, untimed). Its rows travel as the loader's do (orcai/graph/row_shapes.py): a
# list of values per row, read by index, the properties no row has left out; rows as maps
# cost the server ~35% more per row, which would make the raw an easy mark.
# Its edges are CREATEd, as the loader's are for a new task run (the raw writes new ones only).
RAW_TASK_RUNS = """
UNWIND $rows AS r
MERGE (t:TaskRun {{key: r[0]}}) SET t += {{{props}}}
WITH t, r MATCH (run:DagRun {{key: r[1]}}), (task:Task {{key: r[2]}})
CREATE (run)-[:HAS_TASK_RUN]->(t), (t)-[:INSTANCE_OF]->(task)
"""
# The raw limit until the eighth session, unchanged: the node and INSTANCE_OF only, one of
# the task run's two edges, a smaller graph than the loader writes. Measured beside the
# other, and its target reported too.
RAW_ONE_EDGE = """
UNWIND $rows AS r
MERGE (t:TaskRun {{key: r[0]}}) SET t += {{{props}}}
WITH t, r MATCH (task:Task {{key: r[2]}})
MERGE (t)-[:INSTANCE_OF]->(task)
"""
RAW_PARENTS = "UNWIND $keys AS k MERGE (:DagRun {key: k})"


@dataclass(frozen=True)
class RawRows:
    """The raw `UNWIND`'s query and its rows: [key, DAG run key, task key, *the properties'
    values], and the DAG runs they hang from."""
    query: str
    rows: list[list]
    dag_run_keys: list[str]

    def add_parents(self, graph) -> None:
        """The rows' DAG runs, as a key-only node each (a sync writes them before their task
        runs; not part of the raw's time)."""
        for first in range(0, len(self.dag_run_keys), RAW_BATCH):
            graph.write(RAW_PARENTS, {"keys": self.dag_run_keys[first:first + RAW_BATCH]})

    def write(self, graph, start: int = 0, size: int = 0) -> None:
        """Rows `start` … `start + size` (all from `start` without `size`), a query per RAW_BATCH."""
        end = start + size if size else len(self.rows)
        for first in range(start, end, RAW_BATCH):
            graph.write(self.query, {"rows": self.rows[first:min(first + RAW_BATCH, end)]})


NAIVE_NODE = "MERGE (t:TaskRun {key: $key}) SET t += $props"
NAIVE_HAS_TASK_RUN = "MATCH (r:DagRun {key: $run}), (t:TaskRun {key: $key}) MERGE (r)-[:HAS_TASK_RUN]->(t)"
NAIVE_INSTANCE_OF = "MATCH (t:TaskRun {key: $key}), (task:Task {key: $task}) MERGE (t)-[:INSTANCE_OF]->(task)"


def deployment_runs(tasks, runs_per_dag: int, first_run: int = 0) -> tuple[list[DagRunRecord], list[TaskRunRecord]]:
    """Hourly runs of every DAG, each task 30-300 s, one task run in 50 failed (runs
    `first_run` … `first_run + runs_per_dag - 1` of each DAG)."""
    rng = random.Random(8 + first_run)
    tasks_by_dag: dict[str, list] = {}
    for task in tasks:
        tasks_by_dag.setdefault(task.dag_id, []).append(task)
    dag_runs, task_runs = [], []
    for dag_id, dag_tasks in tasks_by_dag.items():
        for n in range(first_run, first_run + runs_per_dag):
            run_id, start = f"scheduled__{n:04d}", START_MS + n * HOUR_MS
            at = start
            for task in dag_tasks:
                duration_s = round(rng.uniform(30, 300), 3)
                state = "failed" if rng.random() < 0.02 else "success"
                task_runs.append(TaskRunRecord(dag_id, run_id, task.task_id, map_index=-1, state=state,
                                               try_number=1, start_date=at, end_date=at + int(duration_s * 1000),
                                               duration_s=duration_s, queued_s=1.0, pool="default_pool",
                                               hostname="bench", operator=task.operator))
                at += int(duration_s * 1000)
            dag_runs.append(DagRunRecord(dag_id, run_id, "success", run_type="scheduled", logical_date=start,
                                         run_after=start, queued_at=start, start_date=start, end_date=at,
                                         duration_s=(at - start) / 1000))
    return dag_runs, task_runs


def orcai_loader(graph, dags, tasks, dag_runs, task_runs) -> dict[str, float]:
    seconds = {}
    with Stopwatch() as watch:
        load_dags(graph, dags)
        load_tasks(graph, [d.dag_id for d in dags], tasks)
    seconds["structure"] = watch.seconds
    with Stopwatch() as watch:
        load_dag_runs(graph, dag_runs)
    seconds["dag runs"] = watch.seconds
    with Stopwatch() as watch:
        load_task_runs(graph, task_runs)
    seconds["task runs"] = watch.seconds
    return seconds


def raw_rows(task_runs, query: str = RAW_TASK_RUNS) -> RawRows:
    props = [tr.props() for tr in task_runs]
    names = [name for name in props[0] if any(p[name] is not None for p in props)] if props else []
    query = query.format(props=", ".join(f"{name}: r[{i + 3}]" for i, name in enumerate(names)))
    return RawRows(query, [[tr.key, tr.dag_run_key, tr.task_key, *(p[name] for name in names)]
                           for tr, p in zip(task_runs, props)],
                   sorted({tr.dag_run_key for tr in task_runs}))


def raw_limit(graph, task_runs, query: str = RAW_TASK_RUNS, parents: bool = True) -> float:
    """Seconds the raw `UNWIND` takes to write `task_runs` into `graph` (which holds their
    tasks), their rows built and (unless `parents` is False: the caller did) their DAG runs
    added before the clock starts."""
    rows = raw_rows(task_runs, query)
    if parents:
        rows.add_parents(graph)
    with Stopwatch() as watch:
        rows.write(graph)
    return watch.seconds


def graph_of_tasks(port: int, name: str, dags, tasks):
    """An empty graph `name` holding the tasks (INSTANCE_OF's targets)."""
    graph = empty_graph(port, name)
    load_tasks(graph, [d.dag_id for d in dags], tasks)
    return graph


def naive_pattern(graph, task_runs) -> float:
    with Stopwatch() as watch:
        for tr in task_runs:
            graph.write(NAIVE_NODE, {"key": tr.key, "props": tr.props()})
            graph.write(NAIVE_HAS_TASK_RUN, {"run": tr.dag_run_key, "key": tr.key})
            graph.write(NAIVE_INSTANCE_OF, {"key": tr.key, "task": tr.task_key})
    return watch.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.graph_load")
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--tasks-per-dag", type=int, default=20)
    parser.add_argument("--runs-per-dag", type=int, default=10)
    parser.add_argument("--naive-share", type=float, default=0.1)
    args = parser.parse_args(argv)

    dags, tasks = synthetic_deployment(args.dags, args.tasks_per_dag)
    dag_runs, task_runs = deployment_runs(tasks, args.runs_per_dag)
    sample = random.Random(3).sample(task_runs, int(len(task_runs) * args.naive_share))
    with falkordb(FALKOR_PORT) as port:
        loader_s = orcai_loader(empty_graph(port, "loader"), dags, tasks, dag_runs, task_runs)
        raw_s, one_edge_s = (raw_limit(graph_of_tasks(port, name, dags, tasks), task_runs, query)
                             for name, query in (("raw", RAW_TASK_RUNS), ("raw_one_edge", RAW_ONE_EDGE)))
        naive_graph = empty_graph(port, "naive")
        load_tasks(naive_graph, [d.dag_id for d in dags], tasks)
        load_dag_runs(naive_graph, dag_runs)
        naive_s = naive_pattern(naive_graph, sample)

    loader_rate = len(task_runs) / loader_s["task runs"]
    raw_rate, naive_rate, one_edge_rate = len(task_runs) / raw_s, len(sample) / naive_s, len(task_runs) / one_edge_s
    print(f"Graph load on FalkorDB: {len(dags):,} DAGs, {len(tasks):,} tasks, {len(dag_runs):,} DAG runs, "
          f"{len(task_runs):,} task runs; naive pattern on a {args.naive_share:.0%} sample, extrapolated")
    print_table([
        {"writer": "ORC AI loader: task runs (+2 edges, stubs, last state)", "rows": len(task_runs),
         "seconds": loader_s["task runs"], "task runs/s": loader_rate},
        {"writer": "ORC AI loader: DAGs + tasks + dependencies", "rows": len(dags) + len(tasks),
         "seconds": loader_s["structure"], "task runs/s": ""},
        {"writer": "ORC AI loader: DAG runs", "rows": len(dag_runs), "seconds": loader_s["dag runs"],
         "task runs/s": ""},
        {"writer": "raw limit: UNWIND MERGE node, CREATE HAS_TASK_RUN + INSTANCE_OF", "rows": len(task_runs),
         "seconds": raw_s, "task runs/s": raw_rate},
        {"writer": f"(former raw: MERGE node + INSTANCE_OF only, the limit until the eighth session: loader at "
                   f"{loader_rate / one_edge_rate:.0%} of it)", "rows": len(task_runs), "seconds": one_edge_s,
         "task runs/s": one_edge_rate},
        {"writer": f"naive: 3 queries per task run ({3 * naive_rate:,.0f} queries/s)",
         "rows": len(task_runs), "seconds": naive_s / args.naive_share, "task runs/s": naive_rate},
    ])
    return report_targets([
        Target(f"loader >= {TARGET_VS_NAIVE:g}x the naive pattern", loader_rate >= TARGET_VS_NAIVE * naive_rate,
               f"{loader_rate / naive_rate:.1f}x ({loader_rate:,.0f} vs {naive_rate:,.0f} task runs/s)"),
        Target(f"loader >= {TARGET_VS_RAW:.0%} of the raw limit", loader_rate >= TARGET_VS_RAW * raw_rate,
               f"{loader_rate / raw_rate:.0%} ({loader_rate:,.0f} vs {raw_rate:,.0f} task runs/s)"),
    ])


if __name__ == "__main__":
    sys.exit(main())
