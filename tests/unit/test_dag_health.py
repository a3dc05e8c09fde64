"""The Status page's numbers, from plain rows."""

import pandas as pd

from orcai.dag_health import consecutive_failures, dag_table, success_rate
from orcai.overview import run_kpis, running_now_table
from orcai.worker_health import worker_health

NOW = 1_800_000_000_000


def test_consecutive_failures_counts_back_to_the_last_success():
    assert consecutive_failures(["failed", "failed", "success", "failed"]) == 2
    assert consecutive_failures(["running", "failed", "failed", "success"]) == 2
    assert consecutive_failures(["success", "failed"]) == 0
    assert consecutive_failures([]) == 0


def test_success_rate_ignores_unfinished_runs():
    assert success_rate(["success", "failed", "running", "success", None]) == 2 / 3
    assert success_rate(["running"]) is None


def test_dag_table_with_and_without_runs():
    rows = [
        {"dag_id": "a", "is_paused": False, "schedule": "@daily", "owners": ["x"], "tags": ["t1", "t2"],
         "runs": [{"state": "failed", "at": NOW, "duration_s": 3.0}, {"state": "success", "at": NOW - 1}]},
        {"dag_id": "b", "is_paused": True, "runs": [{"state": None, "at": None}]},  # OPTIONAL MATCH, no runs
    ]
    table = dag_table(rows).set_index("dag_id")
    assert table.loc["a", "last_state"] == "failed"
    assert table.loc["a", "last_run_at"] == pd.Timestamp(NOW, unit="ms", tz="UTC")
    assert table.loc["a", "consecutive_failures"] == 1 and table.loc["a", "success_rate"] == 0.5
    assert table.loc["a", "tags"] == "t1, t2"
    assert table.loc["b", "runs_considered"] == 0 and pd.isna(table.loc["b", "last_state"])


def test_run_kpis():
    table = dag_table([{"dag_id": "a", "is_paused": True, "runs": [{"state": "failed", "at": NOW}]},
                       {"dag_id": "b", "is_paused": False, "runs": []}])
    kpis = run_kpis(table, [{"state": "success", "runs": 6}, {"state": "failed", "runs": 2},
                            {"state": "running", "runs": 1}])
    assert kpis == {"dags": 2, "paused": 1, "failing": 1, "runs_24h": 9, "failed_24h": 2,
                    "running": 1, "success_rate_24h": 0.75}


def test_worker_health_states():
    assert worker_health([], NOW, 60).status == "missing"
    fresh = {"name": "w", "last_sync_at": NOW - 30_000, "last_ok_at": NOW - 30_000, "last_error": None}
    assert worker_health([fresh], NOW, 60).status == "ok"
    assert worker_health([fresh], NOW, 60).lag_s == 30
    erroring = {**fresh, "last_error": "Airflow at http://x is unreachable"}
    health = worker_health([erroring], NOW, 60)
    assert health.status == "error" and "unreachable" in health.message
    stale = {**fresh, "last_sync_at": NOW - 600_000}
    assert worker_health([stale], NOW, 60).status == "stale"


def test_critical_dags_and_owner_tag_filters():
    from orcai.dag_health import critical_threshold, dag_table, filter_dags, names_in
    table = dag_table([{"dag_id": "hub", "criticality": 8, "owners": ["data"], "tags": ["core", "etl"]},
                       {"dag_id": "leaf", "criticality": 0, "owners": ["ml"], "tags": ["etl"]},
                       {"dag_id": "mid", "criticality": 1, "owners": ["data"]}])
    assert critical_threshold(table["criticality"]) == 7
    assert table.set_index("dag_id")["critical"].to_dict() == {"hub": True, "leaf": False, "mid": False}
    assert names_in(table, "tags") == ["core", "etl"]
    assert set(filter_dags(table, ["data"], [])["dag_id"]) == {"hub", "mid"}
    assert set(filter_dags(table, [], ["etl"])["dag_id"]) == {"hub", "leaf"}
    assert list(filter_dags(table, ["data"], ["etl"], critical_only=True)["dag_id"]) == ["hub"]


def test_markdown_escape_keeps_the_text_and_defuses_markup():
    import re

    from ui.format import md_text
    hostile = "**x** [y](javascript:alert(1)) `c` $x$ :red[z] <b>h</b> a_b #1 ~s~ | \\"
    escaped = md_text(hostile)
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile  # unescaping gives the text back
    assert not re.search(r"(?<!\\)[*\[\]()`$:<>_#~|]", escaped)  # no markup character is bare


def test_worker_health_carries_the_catch_ups_of_every_worker():
    from orcai.sync_plan import CatchUp
    progress = CatchUp(runs_read=300, task_runs_read=12_000, days_covered=6.0, days_total=30.0, eta_s=600.0)
    beats = [{"name": "a", "last_sync_at": NOW - 1000, "catch_up": progress.to_json()},
             {"name": "b", "last_sync_at": NOW - 500, "catch_up": ""}]  # caught up
    health = worker_health(beats, NOW, 60)
    assert health.catching_up == (("a", progress),)
    assert progress.share == 0.2 and "6.0 of 30.0 days covered, about 10 min left" in progress.summary()
    assert worker_health([{"name": "c", "last_sync_at": NOW, "catch_up": "{broken"}], NOW, 60).catching_up == ()


def test_a_table_where_every_run_is_still_going_has_numeric_gaps_not_nones():
    rows = [{"dag_id": d, "runs": [{"state": "running", "at": NOW}]} for d in ("a", "b")]
    table = dag_table(rows)
    assert table["last_duration_s"].dtype == float and table["success_rate"].dtype == float
    assert table["last_duration_s"].isna().all()


def test_running_now_shows_progress_and_risk_in_whole_percents():
    table = running_now_table([{"dag_id": "etl", "run_id": "r1", "progress": 1 / 3, "breach_risk": 0.9025},
                               {"dag_id": "etl", "run_id": "r2", "progress": 0.0, "breach_risk": None}])
    assert table["progress"].tolist() == [33.0, 0.0] and table.loc[0, "breach_risk"] == 90.0
    assert pd.isna(table.loc[1, "breach_risk"])
