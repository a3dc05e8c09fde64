"""The cycle lock in a real FalkorDB: one holder at a time, expiry frees it."""

import threading

import pytest

from orcai.graph.lock import GraphLock

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_one_holder_at_a_time(graph):
    clock = Clock()
    first, second = (GraphLock(graph, "cycle", holder, ttl_s=60, clock=clock) for holder in ("a", "b"))
    assert first.acquire()
    assert not second.acquire()
    assert first.acquire(), "the holder can extend its lock"
    assert second.current_holder() == "a"
    first.release()
    assert second.acquire() and first.current_holder() == "b"


def test_an_expired_lock_can_be_taken(graph):
    clock = Clock()
    dead = GraphLock(graph, "cycle", "crashed-worker", ttl_s=60, clock=clock)
    other = GraphLock(graph, "cycle", "other", ttl_s=60, clock=clock)
    assert dead.acquire()
    clock.now += 59
    assert not other.acquire()
    clock.now += 2
    assert other.acquire()
    dead.release()  # a late release by the old holder must not free the new holder's lock
    assert other.current_holder() == "other"


def test_locks_with_different_names_are_independent(graph):
    assert GraphLock(graph, "cycle:0/2", "a").acquire()
    assert GraphLock(graph, "cycle:1/2", "b").acquire()


def test_concurrent_claims_have_one_winner(graph_uri):
    from orcai.config import load_settings
    from orcai.graph import connect
    results = []

    def claim(holder):
        results.append((holder, GraphLock(connect(load_settings(graph_uri=graph_uri)), "race", holder).acquire()))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(won for _, won in results) == 1, results


def test_a_worker_skips_its_cycle_while_another_holds_the_lock(graph, graph_uri):
    from orcai.config import load_settings
    from workers.worker import EXIT_FAILED, EXIT_LOCKED, Worker, run_once
    # No Airflow listens on port 9: once the worker gets the lock, its sync fails fast.
    settings = load_settings(graph_uri=graph_uri, airflow_url="http://127.0.0.1:9")
    other = GraphLock(graph, "cycle", "other-worker")
    assert other.acquire()
    worker = Worker(settings)
    assert run_once(worker, None) == EXIT_LOCKED
    other.release()
    assert run_once(worker, None) == EXIT_FAILED
    assert other.current_holder() is None, "a failed cycle gives the lock back"
    assert Worker(load_settings(graph_uri=graph_uri, shard="1/2")).lock.name == "cycle:1/2"
