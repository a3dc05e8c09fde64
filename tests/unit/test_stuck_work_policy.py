"""Stuck-work facts and the `clear_stuck` / `fail_zombie_run` decisions: pure, with fixed clocks."""

from __future__ import annotations

from orcai.policy.engine import Guardrails, PastAction, decide
from orcai.policy.facts import facts_for, stuck_facts
from orcai.policy.model import parse_policy

NOW = 1_767_225_600_000  # 2026-01-01T00:00Z
MIN = 60_000


def ti(task_id, state, run_id="manual__1", queued_min=None, started_min=None, try_number=1):
    return {"dag_id": "export", "run_id": run_id, "task_id": task_id, "state": state, "try_number": try_number,
            "queued_when": None if queued_min is None else NOW - queued_min * MIN,
            "start_date": None if started_min is None else NOW - started_min * MIN}


def policy(actions=("clear_stuck",), mode="enforce", **fields):
    return parse_policy({"name": "unstick", "condition": "run.stuck_min > 30", "actions": list(actions),
                         "mode": mode, "version": 1, **fields})


def facts(unfinished, dag_id="export"):
    dag = {"dag_id": dag_id, "is_paused": False, "tags": [], "owners": [], "criticality": 0}
    return {dag_id: facts_for(dag, [], {}, NOW, unfinished=unfinished)}


def test_stuck_facts_name_the_longest_waiting_task_queued_since_queued_running_since_started():
    got = stuck_facts([ti("load", "running", queued_min=95, started_min=50, try_number=2),
                       ti("fetch", "queued", run_id="manual__2", queued_min=70)], NOW)
    assert got == {"stuck_run": "manual__2", "stuck_task": "fetch", "stuck_try": 1, "stuck_min": 70}
    assert stuck_facts([ti("load", "running", started_min=50, try_number=2)], NOW)["stuck_min"] == 50


def test_no_unfinished_work_means_empty_stuck_facts_never_null():
    assert stuck_facts([], NOW) == {"stuck_run": "", "stuck_task": "", "stuck_try": 0, "stuck_min": 0}
    assert stuck_facts([ti("x", "scheduled")], NOW)["stuck_task"] == ""
    assert facts_for({"dag_id": "d"}, [], {}, NOW)["run"]["stuck_min"] == 0


def test_clear_stuck_is_keyed_by_run_task_and_try_and_happens_once_per_try():
    first = decide([policy()], facts([ti("load", "running", started_min=45)]), [], Guardrails(), NOW)
    [decision] = first.decisions
    assert decision.status == "execute" and decision.key == "unstick@v1:clear_stuck:export:manual__1/load#1"
    assert "task load (try 1) of run manual__1 waiting 45 min" in decision.reason
    done = [PastAction(decision.key, "unstick", "export", "done", NOW - 2 * 60 * MIN, False, "clear_stuck")]
    again = decide([policy()], facts([ti("load", "running", started_min=45)]), done, Guardrails(), NOW)
    assert again.decisions == []
    retried = decide([policy()], facts([ti("load", "running", started_min=45, try_number=2)]), done, Guardrails(), NOW)
    assert [d.key for d in retried.decisions] == ["unstick@v1:clear_stuck:export:manual__1/load#2"]


def test_dry_run_would_do_and_nothing_stuck_decides_nothing():
    [would] = decide([policy(mode="dry_run")], facts([ti("load", "queued", queued_min=40)]), [], Guardrails(), NOW).decisions
    assert (would.status, would.action.type) == ("would_do", "clear_stuck")
    assert decide([policy()], facts([ti("load", "running", started_min=5)]), [], Guardrails(), NOW).decisions == []
    nothing = {"export": facts([])["export"]}
    assert decide([policy(condition="true")], nothing, [], Guardrails(), NOW).decisions == []


def test_stuck_actions_spare_protected_dags_and_count_against_the_hourly_cap():
    stuck = facts([ti("load", "running", started_min=45)], dag_id="orcai_cycle")
    [skipped] = decide([policy(actions=["fail_zombie_run"])], stuck, [], Guardrails(), NOW).decisions
    assert skipped.status == "skipped" and "ORC AI's own DAGs" in skipped.reason
    protected = decide([policy()], facts([ti("load", "running", started_min=45)]), [],
                       Guardrails(protected=("exp*",)), NOW).decisions
    assert protected[0].status == "skipped"
    busy = [PastAction(f"k{i}", "other", "d", "done", NOW - MIN, False, "pause") for i in range(10)]
    [deferred] = decide([policy()], facts([ti("load", "running", started_min=45)]), busy, Guardrails(), NOW).decisions
    assert deferred.status == "deferred"


def test_fail_zombie_run_is_keyed_by_the_active_run():
    [decision] = decide([policy(actions=["fail_zombie_run"])], facts([ti("load", "running", started_min=300)]),
                        [], Guardrails(), NOW).decisions
    assert decision.key == "unstick@v1:fail_zombie_run:export:manual__1"
