"""Pure pieces of the sync: where a stream pass starts, which task lists a sync reads, the
page budget, the catch-up's progress, and change fingerprints."""

import os
import subprocess
import sys

from orcai.graph.load import batches, fingerprint
from orcai.model import DAY_MS, MINUTE_MS
from orcai.sync_plan import (
    WATERMARK_OVERLAP_MS, StreamPass, SyncState, finish, next_pass, progress, stream_budget, tasks_to_read,
)

NOW = 1_800_000_000_000


def test_the_first_pass_reads_the_lookback_window():
    stream = next_pass(SyncState(), NOW, lookback_days=30)
    assert (stream.since, stream.until, stream.runs_cursor, stream.task_runs_cursor) == (NOW - 30 * DAY_MS, NOW, "", "")


def test_a_later_pass_reads_from_the_watermark_with_overlap():
    stream = next_pass(SyncState(watermark=NOW - 60_000), NOW, lookback_days=30)
    assert stream.since == NOW - 60_000 - WATERMARK_OVERLAP_MS


def test_a_pass_under_way_is_continued():
    under_way = StreamPass(since=1, until=2, began_at=2, runs_cursor=None, task_runs_cursor="abc")
    assert next_pass(SyncState(watermark=0, current=under_way), NOW, 30) is under_way


def test_per_dag_watermarks_of_an_earlier_version_are_a_starting_point():
    stream = next_pass(SyncState(), NOW, 30, {"a": NOW - 10 * MINUTE_MS, "b": NOW - 5 * MINUTE_MS})
    assert stream.since == NOW - 10 * MINUTE_MS - WATERMARK_OVERLAP_MS


def test_the_watermark_moves_only_when_the_pass_is_complete():
    state = SyncState(watermark=5)
    half = StreamPass(since=1, until=NOW, began_at=NOW, runs_cursor=None, task_runs_cursor="next")
    assert finish(state, half) == SyncState(watermark=5, current=half)
    done = StreamPass(since=1, until=NOW, began_at=NOW, runs_cursor=None, task_runs_cursor=None)
    assert finish(state, done) == SyncState(watermark=NOW)


def test_the_budget_is_half_an_interval_at_the_allowed_rate():
    assert stream_budget(10, 60) == 300
    assert stream_budget(0.1, 5) == 20  # never less than a useful minimum


def test_task_lists_are_read_for_new_changed_and_stale_dags_only():
    read_at = {"known": NOW - MINUTE_MS, "edited": NOW - MINUTE_MS, "new": None}
    assert tasks_to_read(list(read_at), read_at, {"edited"}, NOW, refresh_min=360, sync_interval_s=60) == ["edited", "new"]


def test_the_slow_refresh_takes_the_stalest_few_per_cycle():
    dags = [f"d{i}" for i in range(600)]
    read_at = {d: NOW - 400 * MINUTE_MS - i for i, d in enumerate(dags)}  # all due; d599 stalest
    chosen = tasks_to_read(dags, read_at, set(), NOW, refresh_min=360, sync_interval_s=60)
    assert chosen == ["d599", "d598"]  # 600 DAGs over 360 one-minute cycles: 2 a cycle
    fresh = {d: NOW - MINUTE_MS for d in dags}
    assert tasks_to_read(dags, fresh, set(), NOW, 360, 60) == []


def test_progress_counts_when_airflow_gives_an_exact_total():
    stream = StreamPass(since=NOW - 10 * DAY_MS, until=NOW, began_at=NOW - 60_000, runs_cursor=None,
                        task_runs_cursor="c", runs_read=40, task_runs_read=250, task_runs_total=1000,
                        covered_until=NOW - 8 * DAY_MS)
    catch_up = progress(stream, NOW)
    assert (catch_up.runs_read, catch_up.task_runs_read) == (40, 250)
    assert catch_up.days_covered == 2 and catch_up.days_total == 10
    assert catch_up.eta_s == 180  # a quarter in 60 s: three quarters left
    assert "2.0 of 10.0 days covered, about 3 min left" in catch_up.summary()


def test_progress_follows_the_days_covered_without_a_total():
    stream = StreamPass(since=NOW - 10 * DAY_MS, until=NOW, began_at=NOW - 100_000, runs_cursor=None,
                        task_runs_cursor="c", covered_until=NOW - 5 * DAY_MS)
    assert progress(stream, NOW).eta_s == 100
    assert progress(StreamPass(since=0, until=NOW, began_at=NOW), NOW).eta_s is None


def test_fingerprint_is_stable_and_sensitive():
    props = {"state": "success", "duration_s": 1.5, "tags": ["a"], "pool": None}
    for changed in ({**props, "state": "failed"}, {**props, "duration_s": 1}, {**props, "tags": ["a", "b"]},
                    {**props, "pool": "p"}, {**props, "duration_s": "1.5"}):
        assert fingerprint(props) != fingerprint(changed), changed
    # a value moving from one property to another is a change, though the values are the same
    assert fingerprint({"pool": "p", "hostname": None}) != fingerprint({"pool": None, "hostname": "p"})


def test_fingerprint_is_the_same_in_another_process():
    """Stored fingerprints are compared by later syncs: no per-process salt (as hash() has)."""
    props = {"key": "d/r/t/-1", "state": "success", "duration_s": 1.5, "tags": ["a"], "pool": None}
    code = f"from orcai.graph.load import fingerprint; print(fingerprint({props!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == fingerprint(props)


def test_batches_cover_every_row_once():
    rows = list(range(12_345))
    chunks = list(batches(rows, 5_000))
    assert [len(c) for c in chunks] == [5_000, 5_000, 2_345]
    assert [x for c in chunks for x in c] == rows
