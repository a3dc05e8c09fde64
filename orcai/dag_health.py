"""DAG health: each DAG's last state, success rate, failures in a row and criticality,
as one table (Status page, `/metrics`, policy facts). Pure functions over graph rows.

A DAG's summary (`summarize`) is kept current at load time over its newest
`SUMMARY_RUNS` runs (`newest_runs` merges a batch into the runs kept), so the Status page
and `/metrics` read one row per DAG however long its history."""

from __future__ import annotations

import numpy as np
import pandas as pd

FINISHED_STATES = ("success", "failed")
SUMMARY_RUNS = 20  # newest runs a DAG's summary covers (the Status page and /metrics)


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


def summarize(runs_newest_first: list[dict]) -> dict:
    """A DAG's health over the given runs (dicts with state, at, duration_s), newest first;
    runs without a time are not counted."""
    runs = [r for r in runs_newest_first if r and r.get("at") is not None]
    states = [r.get("state") for r in runs]
    last = runs[0] if runs else {}
    return {"last_state": last.get("state"), "last_run_at": last.get("at"),
            "last_duration_s": last.get("duration_s"), "success_rate": success_rate(states),
            "consecutive_failures": consecutive_failures(states), "runs_considered": len(runs)}


def newest_runs(kept: list[dict], arrived: list[dict], limit: int = SUMMARY_RUNS) -> list[dict]:
    """A DAG's newest `limit` runs, newest first, from the newest runs kept before and runs
    that just arrived (new, late or updated: an arrival replaces the kept run of its run_id).
    A run that falls out can only come back by arriving again, and then it is in `arrived`,
    so the result equals the newest `limit` of the whole history."""
    by_id = {r["run_id"]: r for r in kept}
    by_id.update({r["run_id"]: r for r in arrived})
    timed = [r for r in by_id.values() if r.get("at") is not None]
    return sorted(timed, key=lambda r: (r["at"], r["run_id"]), reverse=True)[:limit]


def dag_table(rows: list[dict]) -> pd.DataFrame:
    """One row per DAG: paused, schedule, last run, success rate, consecutive failures.
    Rows are `dag_store.dag_summaries` rows (the summary kept at load time) or, with `runs`,
    `dag_store.dag_overview` rows (summarized here from history)."""
    records = []
    for row in rows:
        health = summarize(row["runs"] or []) if "runs" in row else row
        records.append({
            "dag_id": row["dag_id"],
            "paused": bool(row.get("is_paused")),
            "schedule": row.get("schedule") or "",
            "owners": ", ".join(row.get("owners") or []),
            "tags": ", ".join(row.get("tags") or []),
            "last_state": health.get("last_state"),
            "last_run_at": _timestamp(health.get("last_run_at")),
            "last_duration_s": health.get("last_duration_s"),
            "success_rate": health.get("success_rate"),
            "consecutive_failures": int(health.get("consecutive_failures") or 0),
            "runs_considered": int(health.get("runs_considered") or 0),
            "import_errors": bool(row.get("has_import_errors")),
            "criticality": int(row.get("criticality") or 0),
        })
    columns = ["dag_id", "paused", "schedule", "owners", "tags", "last_state", "last_run_at",
               "last_duration_s", "success_rate", "consecutive_failures", "runs_considered",
               "import_errors", "criticality"]
    table = pd.DataFrame.from_records(records, columns=columns)
    # Numbers, even when every DAG lacks one (all runs still going): a missing one is a blank
    # cell on the page, not the text "None".
    table[["last_duration_s", "success_rate"]] = table[["last_duration_s", "success_rate"]].astype(float)
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
