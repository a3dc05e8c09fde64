"""Graph rows <-> detection frames: the runs `orcai.detect` judges, and the Anomaly
records its flags become."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.graph import Graph
from orcai.graph import run_store
from orcai.model import DAY_MS, dag_run_key, task_key


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """Graph rows -> the DataFrame `orcai.detect` expects (UTC timestamps, float seconds)."""
    frame = pd.DataFrame(rows, columns=["key", "dag_id", "task_id", "run_id", "start_date", "end_date",
                                        "duration_s", "queued_s", "try_number", "state",
                                        "logical_date", "run_type"])
    # The run's logical date (its slot on the schedule) tells a late run from a missing
    # one; start times alone shuffle when a run starts late.
    for column in ("start_date", "logical_date"):
        frame[column] = pd.to_datetime(pd.to_numeric(frame[column], errors="coerce"), unit="ms", utc=True)
    for column in ("duration_s", "queued_s", "try_number"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame.dropna(subset=["start_date"]).reset_index(drop=True)


# Columns with few distinct values, stored as pandas categories: a window of a few hundred
# thousand runs then takes a fraction of the memory of Python strings.
CATEGORY_COLUMNS = ("dag_id", "task_id", "run_id", "state", "run_type")


def window_frame(graph: Graph, since_ms: int, until_ms: int, ended_after_ms: int | None = None,
                 dag_ids: list[str] | None = None, slice_ms: int = DAY_MS) -> pd.DataFrame:
    """The task runs started in [since, until) as one compact frame, read a day at a time
    so the whole window is never held as rows of Python dicts at once (the worker's peak
    memory at 1,000 DAGs; see tests/benchmarks/airflow_scale.py)."""
    frames = []
    for start in range(since_ms, until_ms, slice_ms):
        # The last slice is open-ended: a run that started after `until` is still history.
        before = start + slice_ms if start + slice_ms < until_ms else None
        rows = run_store.task_run_history(graph, start, ended_after_ms, dag_ids=dag_ids, started_before_ms=before)
        if rows:
            frames.append(runs_frame(rows))
    if not frames:
        return runs_frame([])
    frame = pd.concat(frames, ignore_index=True)
    return frame.astype({column: "category" for column in CATEGORY_COLUMNS})


def anomaly_records(flagged: pd.DataFrame, detected_at: int) -> list[dict]:
    """Flagged rows -> Anomaly node properties with their target (the run they flag)."""
    records = []
    for row in flagged.itertuples(index=False):
        task_run = row.key
        dag_run = dag_run_key(row.dag_id, row.run_id)
        on_dag_run = row.scope == "dag_run"
        records.append({
            "key": f"{row.kind}:{dag_run if on_dag_run else task_run}",
            "kind": row.kind, "score": round(float(row.score), 3), "severity": row.severity,
            "reason": row.reason, "detector": row.detector, "detected_at": detected_at,
            "dag_id": row.dag_id, "task_id": row.task_id, "task_key": task_key(row.dag_id, row.task_id),
            "run_id": row.run_id, "run_start": int(row.start_date.timestamp() * 1000),
            "value_s": stored_number(row.duration_s), "expected_s": stored_number(row.expected_s),
            "expected_low": stored_number(row.expected_low), "expected_high": stored_number(row.expected_high),
            "target_label": "DagRun" if on_dag_run else "TaskRun",
            "target_key": dag_run if on_dag_run else task_run,
        })
    return records


def stored_number(value) -> float | None:
    """A value as the graph keeps it: 6 significant digits, None when missing or infinite.
    Values come in any unit (a share of 1e-6, a count of 1e9): at 3 decimals the band and
    the value of a series at the 1e-6 scale were stored as 0."""
    if value is None or not np.isfinite(float(value)):
        return None
    return float(f"{float(value):.6g}")
