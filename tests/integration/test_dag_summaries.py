"""Each DAG's summary, kept at load time from the runs it kept and each batch, equals the
same summary computed from its whole history, however the runs arrive: out of order
(late), updated (a run that finished), in batches that push older runs out of the window,
and on a graph written before summaries were kept. Real FalkorDB."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from orcai.dag_health import SUMMARY_RUNS, dag_table
from orcai.graph.dag_store import dag_overview, dag_summaries
from orcai.graph.load import load_dag_runs, load_dags, summarize_unsummarized_dags
from orcai.model import DagRecord, DagRunRecord

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000
HOUR = 3_600_000
DAGS = ("busy", "flaky", "quiet")


def from_history(graph) -> pd.DataFrame:
    return dag_table(dag_overview(graph, SUMMARY_RUNS))


def from_summaries(graph) -> pd.DataFrame:
    return dag_table(dag_summaries(graph))


def run(dag_id: str, i: int, state: str) -> DagRunRecord:
    return DagRunRecord(dag_id, f"scheduled__{i:03d}", state, run_after=NOW - i * HOUR,
                        start_date=NOW - i * HOUR + 1_000, duration_s=float(i % 7 + 1),
                        end_date=None if state in ("queued", "running") else NOW - i * HOUR + 9_000,
                        run_type="scheduled")


def test_summaries_equal_history_after_late_and_updated_runs(graph):
    rng = random.Random(14)
    load_dags(graph, [DagRecord(dag_id, is_paused=False) for dag_id in DAGS])
    # 70 runs for busy, 30 for flaky (mostly failing), none for quiet; they arrive shuffled,
    # in batches of 9, so old runs arrive after newer ones.
    states = {"busy": ["success", "failed", "running", "queued"], "flaky": ["failed", "failed", "success"]}
    runs = [run(dag_id, i, rng.choice(states[dag_id])) for dag_id, n in (("busy", 70), ("flaky", 30))
            for i in range(n)]
    rng.shuffle(runs)
    for start in range(0, len(runs), 9):
        load_dag_runs(graph, runs[start:start + 9])
        pd.testing.assert_frame_equal(from_summaries(graph), from_history(graph))
    # Runs that were queued or running finish, inside the window and far behind it; one run
    # older than anything kept arrives late; flaky's newest failures turn into a streak.
    updates = [run(r.dag_id, int(r.run_id[-3:]), rng.choice(["success", "failed"]))
               for r in runs if r.state in ("queued", "running")]
    updates += [run("busy", 95, "failed"), run("flaky", 0, "failed"), run("flaky", 1, "failed")]
    rng.shuffle(updates)
    for start in range(0, len(updates), 5):
        load_dag_runs(graph, updates[start:start + 5])
    expected = from_history(graph)
    pd.testing.assert_frame_equal(from_summaries(graph), expected)
    flaky = expected.set_index("dag_id").loc["flaky"]
    assert flaky["runs_considered"] == SUMMARY_RUNS and flaky["consecutive_failures"] >= 2
    assert expected.set_index("dag_id").loc["quiet", "runs_considered"] == 0
    # Loading the same runs again changes nothing, summaries included.
    assert load_dag_runs(graph, updates).total == 0


def test_a_graph_written_before_summaries_gets_them_once(graph):
    load_dags(graph, [DagRecord(dag_id, is_paused=False) for dag_id in DAGS])
    load_dag_runs(graph, [run("busy", i, "failed" if i < 3 else "success") for i in range(40)])
    expected = from_history(graph)
    graph.write("MATCH (d:Dag) REMOVE d.recent_runs, d.summary_fp, d.last_run_state, d.last_run_at, "
                "d.last_run_duration_s, d.success_rate, d.failures_in_row, d.runs_considered")
    assert from_summaries(graph).set_index("dag_id").loc["busy", "runs_considered"] == 0
    assert summarize_unsummarized_dags(graph).total > 0
    pd.testing.assert_frame_equal(from_summaries(graph), expected)
    assert summarize_unsummarized_dags(graph).total == 0
