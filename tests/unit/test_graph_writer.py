"""The background writer of the stream's batches: order, one failure raised once in the
caller's thread, nothing run after a failed job, every submitted job done on close; and the
merge of per-batch newest runs that lets the tasks' last runs be written once a cycle."""

import threading

import pytest

from orcai.graph.load import latest_by, newest_of
from orcai.graph.writer import BackgroundWriter
from orcai.model import TaskRunRecord


def test_jobs_run_in_order_in_another_thread_and_close_waits_for_them():
    done, threads = [], set()

    def job(i):
        def run():
            threads.add(threading.current_thread().name)
            done.append(i)
        return run

    with BackgroundWriter() as writer:
        for i in range(20):
            writer.submit(job(i))
    assert done == list(range(20))
    assert threads == {"graph-writer"}


def test_a_failure_stops_the_jobs_after_it_and_is_raised_once_by_the_next_submit():
    done, release = [], threading.Event()

    def fail():
        release.wait(5)
        raise ConnectionError("graph gone")

    writer = BackgroundWriter()
    writer.submit(lambda: done.append("batch 1"))
    writer.submit(fail)
    writer.submit(lambda: done.append("checkpoint after the failed batch"))  # queued behind it
    release.set()
    with pytest.raises(ConnectionError, match="graph gone"):
        while True:  # raised by a submit once the writer has failed
            writer.submit(lambda: done.append("later"))
    writer.close()  # already raised: not again
    assert done == ["batch 1"]


def test_close_raises_a_failure_no_submit_saw_and_the_callers_own_error_still_waits_for_the_jobs():
    writer = BackgroundWriter()
    writer.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.close()

    done = []
    with pytest.raises(KeyError):
        with BackgroundWriter() as writer:
            writer.submit(lambda: done.append("written"))
            raise KeyError("the reader failed")
    assert done == ["written"]
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lambda: None)


def test_newest_runs_merged_over_batches_equal_those_of_all_the_records_at_once():
    def run(task, at, state):
        return TaskRunRecord("d", f"r{at}", task, -1, state, start_date=at)
    batches = [[run("a", 1, "success"), run("b", 5, "running")],
               [run("a", 3, "failed"), run("b", 5, "success"), run("c", None, "queued")],
               [run("a", 2, "success"), run("c", 4, "running")]]
    key, at = (lambda tr: tr.task_key), (lambda tr: tr.start_date)
    merged = newest_of(*(latest_by(batch, key, at) for batch in batches))
    assert merged == latest_by([tr for batch in batches for tr in batch], key, at)
    assert merged == {"d.a": (3, "failed"), "d.b": (5, "success"), "d.c": (4, "running")}
