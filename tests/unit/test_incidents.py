"""Incidents: grouping, root cause, blast radius, lifecycle and the time breakdown (pure)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from orcai.incidents.breakdown import PARTS, RunTiming, breakdown
from orcai.incidents.grouping import AirflowPulse, group_symptoms
from orcai.incidents.lifecycle import REOPEN_WINDOW_MS, flapped, reconcile
from orcai.incidents.topology import Topology
from tests.incident_scenarios import (
    MARTS, MIN, ORDERS, T0, cascade, concurrent_pairs, dag_symptom, estate, own_slowness, partner_api_down,
    pool_starvation, pulse_for, retry_storm, scheduler_stopped, single_faults, slow_upstream, task_symptom,
)

TOPO = estate()


def drafts_of(fault):
    return group_symptoms(fault.symptoms, TOPO, pulse_for(fault.symptoms, fault.idle_min))


def test_an_upstream_failure_cascading_through_assets_across_three_levels_is_one_incident_rooted_at_the_task():
    [incident] = drafts_of(cascade("ingest.load", T0, "x"))
    assert (incident.root_kind, incident.root_key, incident.root_dag) == ("task", "ingest.load", "ingest")
    assert incident.dags_hit == ["dashboard", "ingest", "report", "transform"]
    assert incident.blast_dags[:2] == ["ingest", "transform"]  # critical first
    assert set(incident.blast_assets) == {ORDERS, MARTS}
    assert "ingest.load failed first" in incident.evidence[0]
    assert incident.evidence[1] == "its own DAG run went wrong with it: ingest (run)"
    assert incident.evidence[2].startswith("3 downstream nodes went wrong after it: ")
    assert "ingest (run)" not in incident.evidence[2]


def test_a_task_failing_after_retries_and_its_failed_dag_run_are_one_incident():
    """Airflow's example_retry_policy: the DAG run began at T0, its task failed for good on its
    last try 11 min later (retry_delay 1 min, 5 retries): one failure, one incident."""
    task = replace(task_symptom("billing.pull", "failed", T0 + 11 * MIN, "x"), run_id="run_a")
    run = replace(dag_symptom("billing", "failed", T0, "x"), run_id="run_a")
    [incident] = group_symptoms([task, run], TOPO, pulse_for([task, run], 0))
    assert (incident.root_kind, incident.root_key) == ("task", "billing.pull")
    assert {s.key for s in incident.symptoms} == {task.key, run.key}
    # a failure of the task in another run of the DAG does not explain this run
    other = replace(task, key="x:other", run_id="run_b")
    assert len(group_symptoms([other, run], TOPO, pulse_for([other, run], 0))) == 2


def test_a_slow_upstream_is_the_root_of_the_late_runs_downstream():
    [incident] = drafts_of(slow_upstream("transform.build", T0, "x"))
    assert (incident.root_kind, incident.root_key) == ("task", "transform.build")
    assert incident.dags_hit == ["dashboard", "report"] or "transform.build" in incident.candidates[0]


def test_pool_starvation_is_rooted_at_the_pool_and_takes_the_late_runs_of_the_waiting_tasks():
    [incident] = drafts_of(pool_starvation(["ml.train", "billing.post"], T0, "x"))
    assert (incident.root_kind, incident.root_key) == ("pool", "db")
    assert len(incident.symptoms) == 4 and incident.dags_hit == ["billing", "ml"]
    assert "waited in pool db" in incident.evidence[0] and "full" in incident.evidence[0]


def test_a_retry_storm_and_a_tasks_own_slowness_are_rooted_at_that_task():
    for fault in (retry_storm("billing.pull", T0, "x"), own_slowness("audit.scan", T0, "y")):
        [incident] = drafts_of(fault)
        assert (incident.root_kind, incident.root_key) == fault.truth


def test_the_scheduler_stopped_is_airflow_itself_but_not_when_tasks_are_still_starting():
    fault = scheduler_stopped(["ingest", "ml", "billing", "audit"], T0, "x")
    [incident] = drafts_of(fault)
    assert (incident.root_kind, incident.root_key) == ("airflow", "scheduler")
    assert "no task started anywhere for 20 min while 4 DAGs are late or missing" in incident.evidence[0]
    busy = group_symptoms(fault.symptoms, TOPO, AirflowPulse(T0 + 10 * MIN, T0 + 9 * MIN))
    assert len(busy) == 4 and {d.root_kind for d in busy} == {"dag"}


def test_two_independent_tasks_failing_on_one_external_system_are_one_incident_rooted_there():
    [incident] = drafts_of(partner_api_down(T0, "x"))
    assert (incident.root_kind, incident.root_key) == ("external_system", "http://partner-api")
    assert incident.dags_hit == ["billing", "ml"]


def test_a_consumer_missing_its_run_with_no_symptom_upstream_points_at_the_asset():
    [incident] = group_symptoms([dag_symptom("transform", "missing", T0, "x")], TOPO)
    assert (incident.root_kind, incident.root_key) == ("asset", ORDERS)
    assert ORDERS in incident.blast_assets and incident.blast_dags[0] == "transform"


def test_every_single_fault_makes_exactly_one_incident_with_the_right_root():
    for fault in single_faults():
        drafts = drafts_of(fault)
        assert [(d.root_kind, d.root_key) for d in drafts] == [fault.truth], fault.name


def test_independent_faults_at_the_same_time_stay_apart():
    for a, b in concurrent_pairs():
        symptoms = a.symptoms + b.symptoms
        drafts = group_symptoms(symptoms, TOPO, pulse_for(symptoms, 0))
        assert sorted((d.root_kind, d.root_key) for d in drafts) == sorted([a.truth, b.truth])


def test_every_symptom_lands_in_exactly_one_incident():
    symptoms = [s for a, b in concurrent_pairs() for s in a.symptoms + b.symptoms]
    drafts = group_symptoms(symptoms, TOPO, pulse_for(symptoms, 0))
    placed = [s.key for d in drafts for s in d.symptoms]
    assert sorted(placed) == sorted(s.key for s in symptoms)


# --- lifecycle -----------------------------------------------------------------------------

def test_an_incident_opens_grows_and_resolves():
    fault = cascade("ingest.load", T0, "x")
    [first] = group_symptoms(fault.symptoms[:3], TOPO)
    [opened], resolved = reconcile([], [first])
    assert opened.new and not resolved
    stored = [{"key": opened.key, "root_kind": "task", "root_key": "ingest.load", "opened_at": opened.opened_at,
               "symptoms": opened.symptom_keys}]

    [bigger] = group_symptoms(fault.symptoms, TOPO)
    [grown], resolved = reconcile(stored, [bigger])
    assert grown.key == opened.key and grown.grew and not grown.new and not resolved
    [same], _ = reconcile([{**stored[0], "symptoms": grown.symptom_keys}], [bigger])
    assert not same.grew

    changes, resolved = reconcile(stored, [])
    assert changes == [] and resolved == [opened.key]


def test_an_incident_whose_root_was_refined_keeps_its_key():
    fault = cascade("ingest.load", T0, "x")
    stored = [{"key": "dag:transform@1", "root_kind": "dag", "root_key": "transform", "opened_at": T0,
               "symptoms": [fault.symptoms[-1].key]}]
    [change], resolved = reconcile(stored, group_symptoms(fault.symptoms, TOPO))
    assert change.key == "dag:transform@1" and change.draft.root_key == "ingest.load" and not resolved


def resolved_as(change, resolved_at: int, reopened: int = 0) -> dict:
    """A change as resolved_incidents_since gives it back once it resolved at `resolved_at`."""
    return {"key": change.key, "root_kind": change.draft.root_kind, "root_key": change.draft.root_key,
            "opened_at": change.opened_at, "symptoms": change.symptom_keys, "resolved_at": resolved_at,
            "reopened": reopened, "dags_hit": change.dags_hit, "evidence": change.evidence}


def flap(tag: str, at: int, run_start: int | None = None):
    """Runs of `transform` found missed at `at` (the scheduler fell behind), on the late run
    started at `run_start` that revealed them: one draft rooted at the DAG."""
    [draft] = group_symptoms([replace(dag_symptom("transform", "missing", at, tag), run_start=run_start)], TOPO)
    return draft


def test_a_condition_back_soon_after_a_moments_recovery_reopens_the_same_incident():
    [opened], _ = reconcile([], [flap("a", T0)])
    resolved_at = T0 + 4 * MIN  # a late run's success: the incident resolved
    # a cycle later runs are found missing again, on a late run that had started before that success
    back = flap("b", T0 + 5 * MIN, run_start=T0 + 3 * MIN)
    [change], resolved = reconcile([], [back], resolved_recently=[resolved_as(opened, resolved_at, reopened=1)],
                                   now_ms=resolved_at + MIN)
    assert change.key == opened.key and not change.new and change.reopened_now and change.reopened == 2
    assert change.opened_at == T0 and set(change.symptom_keys) == set(opened.symptom_keys) | {s.key for s in back.symptoms}
    assert not resolved


def test_a_reopened_incident_is_described_whole_not_by_the_symptoms_that_came_back():
    from orcai.incidents.stage import incident_payload
    fault = cascade("ingest.load", T0, "x")
    [opened], _ = reconcile([], group_symptoms(fault.symptoms, TOPO))
    back = group_symptoms([fault.symptoms[0]], TOPO)  # only the root's failure is back
    [change], _ = reconcile([], back, resolved_recently=[resolved_as(opened, T0 + 60 * MIN)], now_ms=T0 + 61 * MIN)
    assert change.reopened_now and len(back[0].symptoms) == 1 and len(opened.dags_hit) == 4
    payload = incident_payload(change)
    assert (payload["size"], payload["dags_hit"]) == (opened.size, opened.dags_hit)
    assert payload["summary"].startswith(f"task ingest.load: {opened.size} symptoms in 4 DAGs")
    assert change.evidence[:len(opened.evidence)] == opened.evidence


def test_runs_missed_again_on_a_run_started_after_the_resolution_are_a_new_incident():
    [opened], _ = reconcile([], [flap("a", T0)])
    resolved_at = T0 + 4 * MIN
    [change], _ = reconcile([], [flap("b", T0 + 6 * MIN, run_start=T0 + 5 * MIN)],
                            resolved_recently=[resolved_as(opened, resolved_at)], now_ms=resolved_at + 2 * MIN)
    assert change.new and change.key != opened.key


def test_a_condition_back_after_the_window_is_a_new_incident():
    [opened], _ = reconcile([], [flap("a", T0)])
    resolved_at = T0 + 4 * MIN
    [change], _ = reconcile([], [flap("b", T0 + 5 * MIN, run_start=T0 + 3 * MIN)],
                            resolved_recently=[resolved_as(opened, resolved_at)], now_ms=resolved_at + REOPEN_WINDOW_MS)
    assert change.new and change.key != opened.key and not change.reopened_now


def test_a_fault_that_began_after_the_resolution_is_a_new_incident_however_soon_and_on_whatever_root():
    # the same pool starved again seconds after it recovered: two faults, as the fault suite injects them
    [opened], _ = reconcile([], drafts_of(pool_starvation(["ingest.load", "transform.build"], T0, "a")))
    resolved_at = T0 + 30 * MIN
    again = drafts_of(pool_starvation(["ingest.load", "transform.build"], resolved_at + 1000, "b"))
    changes, _ = reconcile([], again, resolved_recently=[resolved_as(opened, resolved_at)], now_ms=resolved_at + MIN)
    assert [c.new for c in changes] == [True] and changes[0].key != opened.key


def test_a_wait_began_when_the_task_run_was_scheduled_not_when_it_started():
    """A task run scheduled before the resolution that only starts after it is the same wait
    coming back: a flap, not a new fault."""
    from orcai.incidents.grouping import Draft
    from orcai.incidents.symptoms import from_anomaly, from_queued_task_run
    run = {"key": "d/r/t/-1", "dag_id": "d", "task_key": "d.t", "run_id": "r", "at": T0 + 10 * MIN,
           "queued_s": 600.0, "pool": "p", "waited_from": T0}
    waited = from_queued_task_run(run)
    assert (waited.at, Draft("pool", "p", [waited]).began_at) == (T0 + 10 * MIN, T0)
    assert flapped({"resolved_at": T0 + 8 * MIN}, Draft("pool", "p", [waited]), T0 + 11 * MIN)
    assert from_queued_task_run({**run, "waited_from": None}).run_start is None
    stuck = {"key": "stuck_queued:d/r/t/-1", "kind": "stuck_queued", "dag_id": "d", "task_key": "d.t",
             "detected_at": T0 + 10 * MIN, "run_start": T0 + 9 * MIN, "waited_from": T0, "target": "TaskRun"}
    assert from_anomaly(stuck).run_start == T0
    assert from_anomaly({**stuck, "kind": "late"}).run_start == T0 + 9 * MIN  # not a wait: its run's start


def test_another_root_back_within_the_window_is_a_new_incident():
    [opened], _ = reconcile([], [flap("a", T0)])
    resolved_at = T0 + 4 * MIN
    [other], _ = reconcile([], drafts_of(cascade("ingest.load", T0 + MIN, "b")),
                           resolved_recently=[resolved_as(opened, resolved_at)], now_ms=resolved_at + MIN)
    assert other.new and other.draft.root_key == "ingest.load" and other.key != opened.key


def test_reconcile_needs_the_time_to_judge_the_recently_resolved():
    [opened], _ = reconcile([], [flap("a", T0)])
    with pytest.raises(ValueError):  # a silent 0 would make every resolved incident look re-openable
        reconcile([], [flap("b", T0 + MIN)], resolved_recently=[resolved_as(opened, T0)])
    with pytest.raises(TypeError):
        reconcile([], [flap("b", T0 + MIN)], [resolved_as(opened, T0)], T0 + MIN)


def test_a_flap_reopens_the_latest_resolved_of_two_with_its_root():
    [first], _ = reconcile([], [flap("a", T0)])
    [second], _ = reconcile([], [flap("b", T0 + 2 * MIN)])
    recent = [resolved_as(first, T0 + MIN), resolved_as(second, T0 + 3 * MIN)]
    back = flap("c", T0 + 4 * MIN, run_start=T0)
    [change], _ = reconcile([], [back], resolved_recently=recent, now_ms=T0 + 4 * MIN)
    assert change.reopened_now and change.key == second.key


def test_an_open_incident_is_matched_before_a_resolved_one_of_the_same_root():
    [first], _ = reconcile([], [flap("a", T0)])
    [second], _ = reconcile([], [flap("b", T0 + 10 * MIN)])
    still_open = {**resolved_as(second, 0), "resolved_at": None}
    [change], _ = reconcile([still_open], [flap("c", T0 + MIN)], resolved_recently=[resolved_as(first, T0 + 12 * MIN)],
                            now_ms=T0 + 13 * MIN)
    assert change.key == second.key and not change.reopened_now


# --- the time breakdown --------------------------------------------------------------------

def test_a_late_run_is_split_into_upstream_queue_and_drift_that_add_up():
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 38 * MIN, end_ms=T0 + 40 * MIN, now_ms=T0 + 60 * MIN,
                  queued_s=7 * 60, upstream_end_ms=T0 + 31 * MIN, upstream_task="warehouse.load_orders",
                  usual_run_s=120, usual_start_s=0, pool="db", pool_slots="8/8 slots used")
    result = breakdown(t)
    assert list(result.parts) == list(PARTS)
    assert sum(result.parts.values()) == pytest.approx(result.total_s, abs=0.05) and result.total_s == 40 * 60
    assert result.parts["upstream"] == 31 * 60 and result.parts["queued"] == 7 * 60
    assert result.late_s == 38 * 60
    assert result.sentence == ("late 38 min: 31 min waiting for warehouse.load_orders, "
                               "7 min queued in pool db (8/8 slots used)")


def test_own_drift_and_retries_are_named():
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 10 * MIN, end_ms=T0 + 30 * MIN, now_ms=T0 + 30 * MIN,
                  queued_s=0, try_number=3, usual_run_s=5 * 60)
    result = breakdown(t)
    assert result.parts["retries"] == 10 * 60 and result.parts["scheduling"] == 0
    assert result.parts["running"] == 5 * 60 and result.parts["drift"] == 15 * 60
    assert result.sentence.startswith("late 25 min: 15 min running past its usual, 10 min in earlier tries")


def test_a_retried_run_late_through_several_causes_names_only_what_is_beyond_its_usual():
    # it usually starts 30 s after it could and runs 100 s; here it waited 2 min for its
    # upstream, 60 s in earlier tries and retry delays, 45 s for a full pool slot, ran 5 min
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 225_000, end_ms=T0 + 525_000, now_ms=T0 + 600_000,
                  try_number=3, upstream_end_ms=T0 + 120_000, upstream_task="up.t", scheduled_ms=T0 + 180_000,
                  usual_run_s=100, usual_start_s=30, usual_end_s=130, pool="db", pool_slots="1/1 slots used")
    result = breakdown(t)
    assert result.parts == {"upstream": 120, "scheduling": 0, "retries": 60, "queued": 45, "running": 100, "drift": 200}
    assert result.late_s == 525 - 130 == 200 + 30 + 45 + 120  # its usual 30 s to start came out of the retries
    assert result.sentence == ("late 7 min: 3 min running past its usual, 2 min waiting for up.t, "
                               "45 s queued in pool db (1/1 slots used), 30 s in earlier tries and retry delays")


def test_rounding_never_leaves_a_part_below_zero():
    # 50 ms of running rounds up to 0.1 s: the drift, had it taken the rounding, would be -0.1 s
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 2_150, end_ms=T0 + 2_200, now_ms=T0 + 9_000, try_number=2,
                  upstream_end_ms=T0 + 1_000, scheduled_ms=T0 + 1_400, usual_run_s=0.05)
    result = breakdown(t)
    assert all(v >= 0 for v in result.parts.values()) and sum(result.parts.values()) == pytest.approx(2.2, abs=1e-9)


def test_a_run_still_running_is_measured_to_now_and_parts_never_go_negative():
    t = RunTiming(could_start_ms=T0, start_ms=T0 + MIN, end_ms=None, now_ms=T0 + 10 * MIN,
                  queued_s=900, upstream_end_ms=T0 + 20 * MIN)  # inconsistent inputs
    result = breakdown(t)
    assert result.total_s == 600 and all(v >= 0 for v in result.parts.values())
    assert sum(result.parts.values()) == pytest.approx(600, abs=0.05)


def test_the_wait_for_a_pool_slot_counts_from_when_it_was_scheduled_and_its_usual_start_is_not_late():
    # scheduled at 2 min, queued at 9 min (a slot freed), started at 9.5 min: 7.5 min waiting
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 9.5 * MIN, end_ms=T0 + 11.5 * MIN, now_ms=T0 + 20 * MIN,
                  queued_s=30, scheduled_ms=T0 + 2 * MIN, usual_run_s=120, usual_start_s=150, pool="db",
                  pool_slots="1/1 slots used")
    result = breakdown(t)
    assert result.parts["scheduling"] == 2 * 60 and result.parts["queued"] == 7.5 * 60
    assert result.late_s == 11.5 * 60 - 150 - 120
    assert result.sentence == "late 7 min: 7 min queued in pool db (1/1 slots used)"


def test_lateness_is_measured_against_the_usual_end_not_the_sum_of_usual_start_and_run():
    # usually starts 2-6 s after its DAG run is queued and runs 1-5 s, but the slow starts
    # and the slow runs are not the same runs: it usually ends 6 s in, not 4 + 3 = 7 s
    t = RunTiming(could_start_ms=T0, start_ms=T0 + 4_000, end_ms=T0 + 40_000, now_ms=T0 + 60_000,
                  queued_s=0, usual_run_s=3, usual_start_s=4, usual_end_s=6)
    result = breakdown(t)
    assert result.late_s == 34 and sum(result.parts.values()) == pytest.approx(40, abs=0.05)
    assert breakdown(replace(t, usual_end_s=None)).late_s == 33  # no clean run ended yet: start + run


def test_a_retry_storm_is_a_symptom_and_says_how_it_ended():
    from orcai.incidents.symptoms import from_retrying_task_run
    s = from_retrying_task_run({"key": "k", "dag_id": "d", "task_key": "d.t", "at": T0, "try_number": 4,
                                "state": "success"})
    assert s.kind == "retries" and s.reason == "on try 4: 3 retries before it succeeded"


def test_a_scheduled_dag_with_no_run_started_is_missing_before_any_run_exists():
    from orcai.incidents.symptoms import overdue_dags
    rows = [{"dag_id": "tick", "schedule": "* * * * *", "last_run_at": T0},
            {"dag_id": "daily", "schedule": "0 2 * * *", "last_run_at": T0},
            {"dag_id": "manual", "schedule": None, "last_run_at": T0}]
    missing = overdue_dags(rows, T0 + 12 * MIN)
    assert [(s.dag_id, s.kind, s.at) for s in missing] == [("tick", "missing", T0 + MIN)]
    assert "12 scheduled runs missing" in missing[0].reason  # due at T0 + 1 … 12 min
    assert overdue_dags(rows, T0 + 3 * MIN) == []  # within the grace


def test_runs_found_missed_after_an_outage_join_the_open_airflow_incident():
    symptoms = [dag_symptom(d, "missing", T0 + 20 * MIN, "x") for d in ("ml", "billing")]
    back = AirflowPulse(T0 + 21 * MIN, T0 + 20 * MIN, outage_open=True)
    assert [d.root_kind for d in group_symptoms(symptoms, TOPO, back)] == ["airflow"]
    quiet = AirflowPulse(T0 + 21 * MIN, T0 + 20 * MIN)
    assert "airflow" not in {d.root_kind for d in group_symptoms(symptoms, TOPO, quiet)}


def test_a_pool_starved_while_an_outage_incident_is_still_open_is_the_pools():
    from tests.incident_scenarios import pool_starvation
    fault = pool_starvation(["ingest.load", "billing.post", "ml.train"], T0 + 20 * MIN, "x")
    back = AirflowPulse(T0 + 40 * MIN, T0 + 39 * MIN, outage_open=True)  # tasks start again
    drafts = group_symptoms(fault.symptoms, TOPO, back)
    assert [(d.root_kind, d.root_key) for d in drafts] == [("pool", "db")]
    down = AirflowPulse(T0 + 40 * MIN, T0 + 15 * MIN, outage_open=True)  # nothing started for 25 min
    assert [d.root_kind for d in group_symptoms(fault.symptoms, TOPO, down)] == ["airflow"]


def test_unrelated_dags_missing_runs_together_mean_the_scheduler_fell_behind():
    symptoms = [dag_symptom(d, "missing", T0 + i * MIN, "x") for i, d in enumerate(("ml", "billing", "audit"))]
    busy = AirflowPulse(T0 + 5 * MIN, T0 + 4 * MIN)  # tasks still start: not down, but behind
    drafts = group_symptoms(symptoms, TOPO, busy)
    assert [(d.root_kind, len(d.symptoms)) for d in drafts] == [("airflow", 3)]
    assert "the scheduler fell behind" in drafts[0].evidence[0]
    two = group_symptoms(symptoms[:2], TOPO, busy)
    assert "airflow" not in {d.root_kind for d in two}  # two DAGs are not enough


def test_dags_linked_by_assets_missing_runs_together_are_not_the_scheduler():
    symptoms = [dag_symptom(d, "missing", T0 + i * MIN, "x") for i, d in enumerate(("ingest", "transform", "report"))]
    drafts = group_symptoms(symptoms, TOPO, AirflowPulse(T0 + 5 * MIN, T0 + 4 * MIN))
    assert not any("fell behind" in line for d in drafts for line in d.evidence)


def test_only_the_first_shard_groups_incidents_since_lineage_crosses_shards():
    from orcai.config import load_settings
    from orcai.incidents.stage import IncidentReport, IncidentStage
    second = IncidentStage(load_settings(shard="1/2", graph_uri="falkor://127.0.0.1:1/none"))
    assert second.run(graph=None, now_ms=T0) == IncidentReport()  # never reads the graph


def test_a_pool_is_full_when_no_slot_is_open_and_someone_waits():
    from types import SimpleNamespace
    from orcai.airflow.records import pool_row
    pool = dict(name="db", slots=1, occupied_slots=1, running_slots=1, queued_slots=0, open_slots=0)
    assert pool_row(SimpleNamespace(**pool, scheduled_slots=2))["full"]
    assert not pool_row(SimpleNamespace(**pool, scheduled_slots=0))["full"]  # full, but nobody waits
    assert not pool_row(SimpleNamespace(**{**pool, "slots": -1}, scheduled_slots=2))["full"]  # unlimited


# --- policy facts: pause roots, never victims ----------------------------------------------

def test_the_shipped_pause_policies_pause_the_root_dag_and_never_a_victim():
    from orcai.localstack.airflow import REPO_ROOT
    from orcai.policy.conditions import compile_condition, evaluate
    from orcai.policy.facts import facts_for
    from orcai.policy.model import load_policies_yaml

    failing = [{"state": "failed", "at": T0 - i * MIN, "run_id": f"r{i}", "duration_s": 1.0} for i in range(3)]
    incident = {"key": "task:ingest.load@1", "root_kind": "task", "root_dag": "ingest", "size": 6,
                "dags_hit": ["ingest", "transform", "report"]}
    for name in ("two-failures-pause", "airflow-parity-consecutive-failures"):
        [policy] = load_policies_yaml((REPO_ROOT / "stack" / "policies" / f"{name}.yaml").read_text())
        program = compile_condition(policy.condition)
        root = facts_for({"dag_id": "ingest"}, failing, {}, T0, incident=incident)
        victim = facts_for({"dag_id": "transform"}, failing, {}, T0, incident=incident)
        alone = facts_for({"dag_id": "audit"}, failing, {}, T0)
        assert root["incident"] == {"key": "task:ingest.load@1", "root_kind": "task", "size": 6, "dags_hit": 3,
                                    "is_root": True, "is_victim": False}
        assert victim["incident"]["is_victim"] and not victim["incident"]["is_root"]
        assert evaluate(program, root) and evaluate(program, alone), name
        assert not evaluate(program, victim), name


# --- a run many times its usual while the others keep their pace ---------------------------

def long_run(ran_s: float, usual_s: float = 1.5, state: str = "success") -> dict:
    return {"key": "d/r1/t/-1", "dag_id": "d", "task_key": "d.t", "run_id": "r1", "at": T0, "state": state,
            "ran_s": ran_s, "usual_s": usual_s, "pool": "default_pool"}


def test_a_run_many_times_its_usual_while_the_others_keep_their_pace_is_a_slow_symptom():
    from orcai.incidents.symptoms import slow_runs
    recent = {"d/r1/t/-1": [1.4, 2.0, 9.0, 1.6]}
    [s] = slow_runs([long_run(31)], {"d/r1/t/-1": {"pace": 1.3, "peers": 12}}, recent, set())
    assert (s.label, s.kind, s.task_key, s.severity) == ("TaskRun", "slow", "d.t", "low")
    assert s.reason == "ran 31 s, 21× its usual 1.5 s, while the other tasks ran at 1.3× theirs"
    running = slow_runs([long_run(600, state="running")], {}, recent, set())
    assert running[0].reason.startswith("running for 10 min, 400× its usual")


def test_a_slow_run_is_not_a_symptom_when_everything_is_slow_or_the_task_often_is_or_it_was_flagged():
    from orcai.incidents.symptoms import slow_runs
    key, recent = "d/r1/t/-1", {"d/r1/t/-1": [1.4, 2.0, 1.6]}
    busy = {key: {"pace": 5.0, "peers": 12}}  # every task 5x slower: the machine, not the task
    assert slow_runs([long_run(31)], busy, recent, set()) == []
    assert slow_runs([long_run(31)], {key: {"pace": 5.0, "peers": 2}}, recent, set())  # too few to tell
    often = {key: [40.0, 35.0, 1.5, 1.4]}  # twice this slow in its last runs: its normal
    assert slow_runs([long_run(31)], {}, often, set()) == []
    once = {key: [40.0, 1.5, 1.4]}  # once (an earlier fault) does not hide this one
    assert slow_runs([long_run(31)], {}, once, set())
    assert slow_runs([long_run(31)], {}, recent, {("d.t", "r1")}) == []  # the detector's anomaly says it


def test_an_incident_of_slow_runs_only_pages_by_severity():
    from orcai.incidents.grouping import Draft, Symptom
    from orcai.incidents.stage import pages_someone
    slow = Symptom("d/r1/t/-1", "TaskRun", "slow", "d", T0, "d.t", severity="low")
    assert not pages_someone(Draft("task", "d.t", [slow]), "medium")
    assert pages_someone(Draft("task", "d.t", [slow]), "low")


def test_a_slow_run_says_how_fast_the_others_really_went():
    from orcai.incidents.symptoms import slow_runs
    [s] = slow_runs([long_run(31)], {"d/r1/t/-1": {"pace": 0.8, "peers": 5}}, {}, set())
    assert s.reason.endswith("while the other tasks ran at 0.8× theirs")


def _walked_blast(topo, nodes):
    """The definition blast() keeps: everything `downstream_of` each node, walked node by node."""
    reached = set(nodes).union(*(topo.downstream_of(n) for n in nodes))
    dags = {topo.dag_of(n) for n in reached} - {None}
    assets = {uri for n in reached if not n.startswith("dag:") for uri in topo.produces.get(n, ())}
    for dag in {n[4:] for n in reached if n.startswith("dag:")}:
        assets |= {uri for t in topo.tasks_of.get(dag, ()) for uri in topo.produces.get(t, ())}
    return topo.rank_dags(dags), sorted(assets)


@pytest.mark.parametrize("seed", range(12))
def test_blast_equals_walking_each_node_downstream(seed):
    """blast() walks each DAG reached through an asset once per topology; on random
    estates (branching tasks, assets produced mid-DAG, DAGs waiting on each other in
    cycles, assets nobody consumes) it must reach exactly what the node-by-node walk does."""
    rng = random.Random(seed)
    topo = Topology()
    n_dags = rng.randint(3, 25)
    for d in range(n_dags):
        keys = [f"d{d}.t{t}" for t in range(rng.randint(1, 6))]
        for i, key in enumerate(keys):
            topo.task_dag[key] = f"d{d}"
            topo.criticality[f"d{d}"] = rng.randint(0, 4)
            if i:
                topo.upstream[key] = set(rng.sample(keys[:i], rng.randint(1, i)))
            if rng.random() < 0.3:
                topo.produces.setdefault(key, set()).add(f"asset://{rng.randrange(n_dags + 3)}")
        for uri in {f"asset://{rng.randrange(n_dags + 3)}" for _ in range(rng.randint(0, 2))}:
            topo.scheduled_on.setdefault(f"d{d}", set()).add(uri)
    nodes = list(topo.task_dag) + [f"dag:d{d}" for d in range(n_dags)] + ["dag:unknown"]
    for node in nodes:
        assert topo.blast({node}) == _walked_blast(topo, {node}), node
    several = set(rng.sample(nodes, min(4, len(nodes))))
    assert topo.blast(several) == _walked_blast(topo, several)


def test_a_wait_names_the_pool_only_when_the_pool_was_seen_full():
    from orcai.incidents.symptoms import from_queued_task_run
    row = {"key": "k", "dag_id": "d", "at": T0, "task_key": "d.t", "run_id": "r", "pool": "default_pool",
           "queued_s": 95.0, "usual_queued_s": 2.0}
    full = from_queued_task_run({**row, "pool": "db", "pool_full": "1/1 slots used"})
    assert full.pool_full and full.reason == "waited 2 min for a slot in pool db (1/1 slots used)"
    free = from_queued_task_run(row)
    assert not free.pool_full
    assert "for a slot" not in free.reason and "default_pool was not seen full" in free.reason
