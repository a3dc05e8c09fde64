"""score_new between refits: each sync's runs continue the DAG's schedule from the newest run
already judged, as the exact `score` over the whole history does, not from the fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orcai.detect import RobustDetector, detect

START = pd.Timestamp("2026-01-05 00:00", tz="UTC")
MINUTE = 60


def dag_runs(slots, every_s=MINUTE, delays_s=None, tasks=(("load", 0.0),), dag_id="tick") -> pd.DataFrame:
    """Task runs of one DAG, one DAG run per schedule slot in `slots` (slot k is due at
    START + k * every_s and starts at the end of its interval, plus its delay). `tasks` are
    (task_id, seconds after the DAG run's start); every task takes 5 s give or take."""
    slots = np.asarray(slots)
    delays = np.zeros(len(slots)) if delays_s is None else np.asarray(delays_s, float)
    rows = []
    for task_id, offset in tasks:
        logical = START + pd.to_timedelta(slots * every_s, unit="s")
        rows.append(pd.DataFrame({
            "dag_id": dag_id, "task_id": task_id, "run_id": [f"scheduled__{k}" for k in slots],
            "start_date": logical + pd.to_timedelta(every_s + delays + offset, unit="s"),
            "duration_s": 5.0 + (slots % 3) * 0.1, "state": "success", "logical_date": logical}))
    return pd.concat(rows, ignore_index=True)


def test_after_a_gap_only_the_gap_is_flagged_with_its_count():
    # the fault suite: Airflow's scheduler fell behind, a per-minute DAG skipped 00:47's
    # successors, then ran on time; each on-time run after the gap was flagged with "2 / 3 /
    # 4 scheduled runs did not happen between 00:47 and ..." (counted from the fit's last run)
    detector = RobustDetector().fit(dag_runs(range(48)), schedules={"tick": MINUTE})  # last run: slot 47
    kinds, reasons = [], []
    for batch in ([50], [51], [51, 52], [53]):  # [51, 52]: the monitor re-reads 51 (overlap)
        out = detector.score_new(dag_runs(batch))
        kinds.append(list(out["kind"]))
        reasons.append(out["reason"].iloc[0])
    assert kinds == [["missing"], [""], ["", ""], [""]]
    assert reasons[0] == ("2 scheduled runs of this DAG did not happen between 2026-01-05 00:47 and "
                          "2026-01-05 00:50 UTC (it runs every 1 min)")


def test_a_dag_runs_later_task_in_the_next_sync_is_not_a_late_start():
    # the monitor reads task runs by when they ended: the DAG run's first task comes in one
    # sync, its second (starting 30 min into the run) in the next, where it is the DAG run's
    # earliest task run in the batch; judged again, its start read as 30 min late
    tasks = (("extract", 0.0), ("load", 1800.0))
    runs = dag_runs(range(40), every_s=3600, tasks=tasks)
    detector = RobustDetector().fit(runs, schedules={"tick": 3600})
    new = dag_runs([40], every_s=3600, tasks=tasks)
    assert list(detector.score_new(new[new["task_id"] == "extract"])["kind"]) == [""]
    assert list(detector.score_new(new[new["task_id"] == "load"])["kind"]) == [""]


def test_a_late_run_is_still_flagged_between_refits():
    detector = RobustDetector().fit(dag_runs(range(48)), schedules={"tick": MINUTE})
    out = detector.score_new(dag_runs([48, 49], delays_s=[0, 900]))
    assert list(out["kind"]) == ["", "late"]


def cycles(rng, slots, per_cycle=3):
    """The new slots as the monitor reads them: a few per sync, each sync re-reading the
    previous sync's last run (the watermark overlap), and now and then a run held back to
    the next sync (it arrives after a newer one)."""
    batches, held, i = [], [], 0
    while i < len(slots):
        n = int(rng.integers(1, per_cycle + 1))
        batch = held + list(slots[i:i + n])
        i += n
        held = [batch.pop(-2)] if len(batch) >= 2 and i < len(slots) and rng.random() < 0.2 else []
        batches.append(([batches[-1][-1]] if batches else []) + batch)
    return batches


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_cycle_by_cycle_schedule_verdicts_match_the_exact_score(seed):
    rng = np.random.default_rng(seed)
    steps = rng.choice([1, 1, 1, 1, 1, 1, 2, 3, 5], size=70)  # a step > 1 skips scheduled runs
    slots = np.cumsum(steps)
    delays = np.where(rng.random(len(slots)) < 0.1, rng.uniform(700, 1500, len(slots)), rng.uniform(0, 3, len(slots)))
    fitted = 35
    all_runs = dag_runs(slots, delays_s=delays)
    exact = detect(all_runs, schedules={"tick": MINUTE}).iloc[fitted:]
    expected = dict(zip(slots[fitted:], zip(exact["kind"], exact["reason"])))
    assert sum(kind == "missing" for kind, _ in expected.values()) >= 2, "the schedule has gaps to judge"

    detector = RobustDetector().fit(all_runs.iloc[:fitted], schedules={"tick": MINUTE})
    first_seen, again, ahead = {}, [], set()
    for batch in cycles(rng, list(slots[fitted:])):
        position = [int(np.flatnonzero(slots == slot)[0]) for slot in batch]
        out = detector.score_new(dag_runs(slots[position], delays_s=delays[position]))
        judged = dict(zip(slots[position], zip(out["kind"], out["reason"])))
        for slot in batch:
            if slot in first_seen:
                again.append(judged[slot][0])
                continue
            first_seen[slot] = judged[slot]
            # a run judged before an earlier one arrived counts that one as missing, rightly so then
            if any(earlier not in first_seen and earlier not in batch for earlier in slots[fitted:] if earlier < slot):
                ahead.add(slot)
    assert set(first_seen) == set(expected)
    schedule_kinds = ("missing", "late")
    mismatches = {slot: (first_seen[slot], expected[slot]) for slot in expected if slot not in ahead
                  and (first_seen[slot][0] in schedule_kinds or expected[slot][0] in schedule_kinds)
                  and first_seen[slot] != expected[slot]}
    assert mismatches == {}
    assert not any(kind in schedule_kinds for kind in again), "a run read again is not judged again"


def test_a_run_older_than_every_kept_time_still_gets_the_late_rule():
    # a sync brought slots 41-74 first (more than the kept window), then slot 40, which had
    # started 15 min late: the exact score flags it, and so must score_new (it only needs
    # the delays; without the run before it, its missing-run count is left unjudged)
    detector = RobustDetector().fit(dag_runs(range(40)), schedules={"tick": MINUTE})
    assert list(detector.score_new(dag_runs(range(41, 75)))["kind"]) == ["missing"] + [""] * 33  # 40 not yet there
    assert list(detector.score_new(dag_runs([40], delays_s=[900]))["kind"]) == ["late"]
    assert list(detector.score_new(dag_runs([40], delays_s=[900]))["kind"]) == [""], "judged once"


def test_uncommitted_verdicts_are_given_again_until_committed():
    # the monitor commits only once the anomalies are stored: a failed store, then the same
    # runs re-read, must flag them again
    detector = RobustDetector().fit(dag_runs(range(48)), schedules={"tick": MINUTE})
    assert list(detector.score_new(dag_runs([50]), commit=False)["kind"]) == ["missing"]
    assert list(detector.score_new(dag_runs([50]), commit=False)["kind"]) == ["missing"]
    detector.commit()
    assert list(detector.score_new(dag_runs([50, 51]))["kind"]) == ["", ""]


def test_a_run_held_back_to_a_later_sync_is_kept_in_time_order():
    detector = RobustDetector().fit(dag_runs(range(48)), schedules={"tick": MINUTE})
    detector.score_new(dag_runs([48, 50], delays_s=[1.0, 3.0]))
    detector.score_new(dag_runs([49], delays_s=[2.0]))
    times = detector.state_.times.values[0]
    start = START.value + MINUTE * 1e9 * np.array([47, 48, 49, 50])
    assert list(times[-4:]) == list(start)
    assert list(detector.state_.delays.values[0][-3:]) == [61.0, 62.0, 63.0]  # a DAG run starts at its interval's end


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cycle_by_cycle_over_several_dags_matches_the_exact_score(seed):
    # each sync brings every DAG's next few runs (re-reading its last one); DAG ids out of
    # alphabetical order, so a mix-up of their rows shows
    rng = np.random.default_rng(seed)
    data, fitted, n = {}, 35, 70
    for dag in ("zeta", "alpha", "mid"):
        slots = np.cumsum(rng.choice([1, 1, 1, 1, 1, 1, 2, 3, 5], size=n))
        data[dag] = (slots, np.where(rng.random(n) < 0.1, rng.uniform(700, 1500, n), rng.uniform(0, 3, n)))
    schedules = {dag: MINUTE for dag in data}
    all_runs = pd.concat([dag_runs(s, delays_s=d, dag_id=dag) for dag, (s, d) in data.items()], ignore_index=True)
    exact = detect(all_runs, schedules=schedules)
    expected = dict(zip(zip(all_runs["dag_id"], all_runs["run_id"]), exact["kind"]))
    detector = RobustDetector().fit(pd.concat([dag_runs(s[:fitted], delays_s=d[:fitted], dag_id=dag)
                                               for dag, (s, d) in data.items()], ignore_index=True), schedules=schedules)
    done, first_seen, again = dict.fromkeys(data, fitted), {}, []
    while any(position < n for position in done.values()):
        parts = []
        for dag, (s, d) in data.items():
            low, high = max(done[dag] - 1, fitted), min(done[dag] + int(rng.integers(1, 4)), n)
            if low < high:
                parts.append(dag_runs(s[low:high], delays_s=d[low:high], dag_id=dag))
            done[dag] = high
        batch = pd.concat(parts, ignore_index=True)
        for key, kind in zip(zip(batch["dag_id"], batch["run_id"]), detector.score_new(batch)["kind"]):
            (again.append(kind) if key in first_seen else first_seen.setdefault(key, kind))
    schedule_kinds = ("missing", "late")
    assert sum(expected[key] in schedule_kinds for key in first_seen) >= 3
    assert {key: (kind, expected[key]) for key, kind in first_seen.items()
            if (kind in schedule_kinds or expected[key] in schedule_kinds) and kind != expected[key]} == {}
    assert not any(kind in schedule_kinds for kind in again)


def test_a_dag_run_first_read_without_its_logical_date_is_known_by_its_run_id():
    # a task run synced before its DAG run (a stub DagRun: no logical date) is placed at its
    # start; the run's next task, read once the DAG run is synced, is at its logical date.
    # Known by the time alone, it was a second DAG run, its start read as 30 min late
    tasks = (("extract", 0.0), ("load", 1800.0))
    # (min_history below the window: the stub's unknown delay is in the delays' window)
    detector = RobustDetector(min_history=20).fit(dag_runs(range(40), every_s=3600, tasks=tasks),
                                                  schedules={"tick": 3600})
    new = dag_runs([40], every_s=3600, tasks=tasks)
    stub = new[new["task_id"] == "extract"].assign(logical_date=pd.Series(pd.NaT, dtype="datetime64[ns, UTC]"))
    detector.score_new(stub)  # at its start, an interval after its logical date: "1 missing" (no date to go by)
    assert list(detector.score_new(new[new["task_id"] == "load"])["kind"]) == [""]


def test_a_dag_run_still_running_at_the_fit_is_not_judged_again():
    # its first task was in the fit, its next arrives after it, without a logical date
    tasks = (("extract", 0.0), ("load", 1800.0))
    runs = dag_runs(range(41), every_s=3600, tasks=tasks).assign(logical_date=pd.Series(pd.NaT, dtype="datetime64[ns, UTC]"))
    fitted = runs[~((runs["run_id"] == "scheduled__40") & (runs["task_id"] == "load"))]
    detector = RobustDetector().fit(fitted, schedules={"tick": 3600})
    assert list(detector.score_new(runs.iloc[[-1]])["kind"]) == [""]
