"""Benchmark: lineage queries on a large synthetic deployment in a real FalkorDB.

    python -m tests.benchmarks.lineage_queries [--dags 2000] [--tasks-per-dag 20]

Builds 2,000 DAGs / 40,000 tasks (chains and fan-out/fan-in shapes from orcai.simulate),
links them across DAGs through assets (each DAG's last task produces an asset; each DAG
is scheduled on the assets of 0–3 earlier DAGs: fan-in and fan-out), loads it through
ORC AI's loader, then times downstream, upstream and blast-radius queries from random
tasks. Target (issue 3): median under 50 ms each. Prints a table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from orcai.lineage.blast_radius import blast_radius
from orcai.lineage.criticality import refresh_criticality
from orcai.lineage.view import neighbourhood
from orcai.lineage.walks import downstream_tasks, upstream_tasks
from orcai.graph.load import load_assets, load_dags, load_tasks
from orcai.model import AssetRecord
from orcai.simulate import synthetic_deployment
from tests.benchmarks.harness import empty_graph, falkordb

PORT = 6385
TARGET_MS = 50.0


def cross_dag_assets(dags, tasks, seed: int = 7) -> list[AssetRecord]:
    """One asset per DAG, produced by its last task; each DAG waits on 0–3 earlier ones."""
    rng = random.Random(seed)
    last_task = {}
    for task in tasks:
        if not task.downstream_task_ids:
            last_task[task.dag_id] = task.task_id
    consumers: dict[int, list[str]] = {i: [] for i in range(len(dags))}
    for index in range(1, len(dags)):
        for producer in rng.sample(range(max(0, index - 50), index), k=min(index, rng.choice((0, 1, 1, 2, 3)))):
            consumers[producer].append(dags[index].dag_id)
    return [AssetRecord(uri=f"s3://lake/{dag.dag_id}", producers=((dag.dag_id, last_task[dag.dag_id]),),
                        scheduled_dags=tuple(consumers[i])) for i, dag in enumerate(dags)]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=2000)
    parser.add_argument("--tasks-per-dag", type=int, default=20)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)

    with falkordb(PORT) as port:
        graph = empty_graph(port, "bench_lineage")
        dags, tasks = synthetic_deployment(args.dags, args.tasks_per_dag)
        assets = cross_dag_assets(dags, tasks)
        started = time.perf_counter()
        load_dags(graph, dags)
        load_tasks(graph, [d.dag_id for d in dags], tasks)
        load_assets(graph, assets)
        refresh_criticality(graph)
        load_s = time.perf_counter() - started
        rng = random.Random(1)
        sample = [t.key for t in rng.sample(tasks, args.samples)]
        results = {
            "downstream (10 DAG hops)": [timed(lambda k=k: downstream_tasks(graph, [k])) for k in sample],
            "upstream (10 DAG hops)": [timed(lambda k=k: upstream_tasks(graph, [k])) for k in sample],
            "blast radius of a task": [timed(lambda k=k: blast_radius(graph, task_key=k)) for k in sample],
            "neighbourhood (1 hop, ≤300)": [timed(lambda k=k: neighbourhood(graph, task_key=k)) for k in sample],
        }
        reach = [len(downstream_tasks(graph, [k]).hops) for k in sample[:20]]

    print(f"Lineage queries on FalkorDB: {len(dags)} DAGs, {len(tasks)} tasks, {len(assets)} assets "
          f"(loaded + criticality in {load_s:.1f} s); {args.samples} random start tasks; "
          f"downstream sets of {min(reach)}–{max(reach)} tasks")
    print(f"{'query':32} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  target")
    failed = False
    for name, times in results.items():
        median, p95 = statistics.median(times), sorted(times)[int(0.95 * len(times)) - 1]
        ok = median < TARGET_MS or name.startswith("neighbourhood")
        failed |= not ok
        print(f"{name:32} {median:10.1f} {p95:8.1f} {max(times):8.1f}  "
              f"{'<50 ms ' + ('met' if ok else 'MISSED') if not name.startswith('neighbourhood') else '(page)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
