"""Lineage logic over plain data: reachability and criticality. No I/O."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Hashable, Iterable, Mapping


def adjacency(edges: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, set]:
    graph: dict[Hashable, set] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    return graph


def inverted(mapping: Mapping[Hashable, Iterable]) -> dict[Hashable, set]:
    """{a: {b, c}} -> {b: {a}, c: {a}}: the same edges, pointing the other way."""
    return adjacency((target, source) for source, targets in mapping.items() for target in targets)


def reachable(graph: Mapping[Hashable, set], start: Hashable) -> set:
    """Every node reachable from `start` (excluding it), cycles tolerated."""
    seen, queue = set(), deque([start])
    while queue:
        for nxt in graph.get(queue.popleft(), ()):
            if nxt not in seen and nxt != start:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def downstream_counts(edges: Iterable[tuple[Hashable, Hashable]], nodes: Iterable[Hashable]) -> dict:
    """For each node, how many nodes are transitively downstream of it (its criticality)."""
    graph = adjacency(edges)
    return {node: len(reachable(graph, node)) for node in nodes}


def task_criticality(task_dag: Mapping[str, str], flows: Iterable[tuple[str, str]],
                     feeds: Iterable[tuple[str, str]]) -> dict[str, int]:
    """How many tasks are downstream of each task, across DAGs.

    `flows`: (upstream task, downstream task) inside DAGs; `feeds`: (producer task,
    consumer DAG) through assets. Every task of a consumer DAG, and of every DAG downstream
    of it, is downstream of the producer; each task is counted once.
    """
    feeds = list(feeds)
    tasks_per_dag: dict[str, int] = defaultdict(int)
    for dag_id in task_dag.values():
        tasks_per_dag[dag_id] += 1
    dag_graph = adjacency((task_dag[t], dag) for t, dag in feeds if t in task_dag)
    dags_from: dict[str, set] = {}
    task_graph, feeds_of = adjacency(flows), adjacency(feeds)
    scores = {}
    for key, own_dag in task_dag.items():
        inside = reachable(task_graph, key)
        hit: set = set()
        for task in inside | {key}:
            for consumer in feeds_of.get(task, ()):
                if consumer not in dags_from:
                    dags_from[consumer] = reachable(dag_graph, consumer) | {consumer}
                hit |= dags_from[consumer]
        hit.discard(own_dag)
        scores[key] = len(inside) + sum(tasks_per_dag[dag] for dag in hit)
    return scores
