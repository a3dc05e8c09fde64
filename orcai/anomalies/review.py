"""What operators read and decide about anomalies: the Anomalies page's table, one task's
history with the band the worker judged it with, and a verdict (acknowledge, false positive, reopen).

A false positive widens the task's tolerance, so the detector stops flagging that kind of
run: each one accepts runs up to 25 % further above the top of the usual band.
"""

from __future__ import annotations

import pandas as pd

from orcai.access import Person, require
from orcai.anomalies.baselines import band_at_runs
from orcai.anomalies.frames import runs_frame
from orcai.graph import Graph
from orcai.graph import anomaly_store, run_store
from orcai.incidents.estate import CycleEstate
from orcai.lineage.blast_radius import Reach, reach_of
from orcai.model import DAY_MS
from orcai.model import task_key as task_key_of

DURATION_KINDS = ("slow", "drift", "stuck")
FALSE_POSITIVE_WIDENING = 1.25  # each false positive widens the task's tolerance by this factor


def review_anomaly(graph: Graph, key: str, status: str, by: Person, at_ms: int, note: str = "",
                   page: str | None = None) -> bool:
    """Acknowledge, mark false positive, or reopen an anomaly; False when there is none.

    Takes the operator role (PermissionDenied otherwise); the change goes into the
    anomaly's history with the person's name and subject and the page it came from."""
    require(by, "review_anomaly")
    before = anomaly_store.set_anomaly_status(graph, key, status, by.name, at_ms, note,
                                              subject=by.subject, page=page)
    if before is None:
        return False
    if status == "false_positive" and before["status"] != "false_positive" and before["task"]:
        anomaly_store.scale_task_tolerance(graph, before["task"], FALSE_POSITIVE_WIDENING)
    return True


def apply_tolerance(flagged: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """Drop duration anomalies that a task's widened tolerance (from false positives) now
    accepts: the run must exceed the top of its usual band by the tolerance factor."""
    if flagged.empty or not tolerances:
        return flagged
    factor = pd.Series([task_key_of(d, t) for d, t in zip(flagged["dag_id"], flagged["task_id"])],
                       index=flagged.index).map(tolerances).fillna(1.0)
    accepted = (flagged["kind"].isin(DURATION_KINDS) & (factor > 1.0)
                & (flagged["duration_s"] < flagged["expected_high"] * factor))
    return flagged[~accepted]


def task_duration_history(graph: Graph, task_key: str, now_ms: int, lookback_days: int) -> pd.DataFrame:
    """A task's runs with the band the worker judged them with and its stored verdicts
    (is_anomaly, reason), for the drill-down chart: what the worker decided, not a re-run."""
    since = now_ms - lookback_days * DAY_MS
    runs = runs_frame(run_store.task_run_history(graph, since, task_key=task_key))
    if runs.empty:
        return runs.assign(expected_s=[], expected_low=[], expected_high=[], is_anomaly=[], reason=[])
    runs = runs.sort_values("start_date", kind="stable").reset_index(drop=True)
    band = band_at_runs(runs["start_date"], anomaly_store.band_history(graph, "Task", task_key))
    flags = pd.DataFrame(anomaly_store.task_anomaly_flags(graph, task_key, since),
                         columns=["run_id", "kind", "reason", "severity"])
    reasons = flags.groupby("run_id")["reason"].agg(" · ".join) if len(flags) else pd.Series(dtype=object)
    reason = runs["run_id"].astype(str).map(reasons).fillna("")
    return runs.assign(expected_s=band["expected_s"], expected_low=band["expected_low"],
                       expected_high=band["expected_high"], is_anomaly=reason != "", reason=reason)


def anomaly_table(rows: list[dict], reach: dict[str, Reach] | None = None) -> pd.DataFrame:
    """Stored anomalies -> the Anomalies page table (most severe first, as queried), each
    with what it hits downstream (`reach`, from orcai.lineage.blast_radius.reach_of)."""
    columns = ["severity", "kind", "dag_id", "task_id", "run_id", "detected_at", "reason", "status",
               "score", "key", "task_key"]
    table = pd.DataFrame([row["anomaly"] for row in rows], columns=columns)
    table["detected_at"] = pd.to_datetime(table["detected_at"], unit="ms", utc=True)
    table["hits"] = [reach[node].sentence if reach and node in reach else "" for node in anomaly_nodes(table)]
    return table


def anomaly_nodes(table: pd.DataFrame) -> list[str]:
    """The lineage node each anomaly sits on: its task, or its DAG's run as a whole."""
    return [key if isinstance(key, str) and key else f"dag:{dag}" for key, dag in zip(table["task_key"], table["dag_id"])]


def anomalies_with_reach(graph: Graph, rows: list[dict], estate: CycleEstate | None = None) -> pd.DataFrame:
    """The page's table with each anomaly's blast radius, from one read of the estate (or
    the `estate` given, which a page keeps while the estate does not change)."""
    return anomaly_table(rows, reach_of(graph, anomaly_nodes(anomaly_table(rows)), estate))
