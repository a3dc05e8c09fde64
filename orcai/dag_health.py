"""DAG health: each DAG's last state, success rate, failures in a row and criticality,
as one table (Status page, `/metrics`, policy facts). Pure functions over graph rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

FINISHED_STATES = ("success", "failed")


def consecutive_failures(states_newest_first: list[str | None]) -> int:
    """Failed runs in a row, from the newest finished run back to the last success."""
    streak = 0
    for state in states_newest_first:
        if state == "failed":
            streak += 1
        elif state == "success":
            break
        # running / queued / None: not finished yet, neither breaks nor extends the streak
    return streak


def success_rate(states: list[str | None]) -> float | None:
    finished = [s for s in states if s in FINISHED_STATES]
    return None if not finished else sum(s == "success" for s in finished) / len(finished)


def dag_table(rows: list[dict]) -> pd.DataFrame:
    """One row per DAG: paused, schedule, last run, success rate, consecutive failures."""
    records = []
    for row in rows:
        runs = [r for r in row.get("runs") or [] if r and r.get("at") is not None]
        states = [r.get("state") for r in runs]
        last = runs[0] if runs else {}
        records.append({
            "dag_id": row["dag_id"],
            "paused": bool(row.get("is_paused")),
            "schedule": row.get("schedule") or "",
            "owners": ", ".join(row.get("owners") or []),
            "tags": ", ".join(row.get("tags") or []),
            "last_state": last.get("state"),
            "last_run_at": _timestamp(last.get("at")),
            "last_duration_s": last.get("duration_s"),
            "success_rate": success_rate(states),
            "consecutive_failures": consecutive_failures(states),
            "runs_considered": len(runs),
            "import_errors": bool(row.get("has_import_errors")),
            "criticality": int(row.get("criticality") or 0),
        })
    columns = ["dag_id", "paused", "schedule", "owners", "tags", "last_state", "last_run_at",
               "last_duration_s", "success_rate", "consecutive_failures", "runs_considered",
               "import_errors", "criticality"]
    table = pd.DataFrame.from_records(records, columns=columns)
    # What an operator looks at first: failing DAGs, then the most recently active.
    table["_failing"] = table["last_state"] == "failed"
    table = table.sort_values(["_failing", "last_run_at", "dag_id"], ascending=[False, False, True],
                              na_position="last", kind="stable")
    table = table.drop(columns="_failing").reset_index(drop=True)
    table["critical"] = table["criticality"] >= critical_threshold(table["criticality"])
    return table


def critical_threshold(criticality: pd.Series) -> int:
    """DAGs with at least this many DAGs downstream are critical: the top quarter of the
    DAGs that feed any other DAG (and never fewer than one downstream DAG)."""
    feeding = criticality[criticality > 0]
    return max(1, int(np.ceil(feeding.quantile(0.75)))) if len(feeding) else 1


def split_names(joined: str) -> list[str]:
    return [name.strip() for name in (joined or "").split(",") if name.strip()]


def names_in(table: pd.DataFrame, column: str) -> list[str]:
    """Every owner (or tag) named in the table, sorted."""
    return sorted({name for joined in table[column] for name in split_names(joined)})


def filter_dags(table: pd.DataFrame, owners: list[str], tags: list[str], critical_only: bool = False) -> pd.DataFrame:
    """DAGs owned by any of `owners` and tagged with any of `tags` (an empty list keeps all)."""
    keep = pd.Series(True, index=table.index)
    if owners:
        keep &= table["owners"].map(lambda joined: bool(set(split_names(joined)) & set(owners)))
    if tags:
        keep &= table["tags"].map(lambda joined: bool(set(split_names(joined)) & set(tags)))
    if critical_only:
        keep &= table["critical"]
    return table[keep]


def _timestamp(ms: int | None) -> pd.Timestamp | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")
