"""Policies: CEL validation, evaluation over fact fixtures, guardrails, backtest, YAML, login."""

from __future__ import annotations

from pathlib import Path

import pytest

from orcai.auth import LoginLimiter, password_matches
from orcai.localstack.secret_files import ensure_secret_file
from orcai.config import load_settings
from orcai.policy.backtest import backtest
from orcai.policy.conditions import ConditionRuntimeError, compile_condition, evaluate, validate
from orcai.policy.engine import Guardrails, PastAction, decide
from orcai.policy.facts import FACTS, facts_for, sample_facts
from orcai.policy.model import (
    PolicyInvalid, dump_policies_yaml, policy_files, load_policies_yaml, parse_policy, render_message,
)

NOW = 1_767_225_600_000  # 2026-01-01T00:00Z, a Thursday
MIN = 60_000
REPO = Path(__file__).resolve().parents[2]


def run(state, minutes_ago, duration=10.0, run_id=None):
    return {"run_id": run_id or f"r-{minutes_ago}", "state": state, "at": NOW - minutes_ago * MIN,
            "end": NOW - minutes_ago * MIN + 10_000, "duration_s": duration, "run_type": "scheduled"}


def dag(dag_id="etl", paused=False, tags=("etl",), owners=("ops",)):
    return {"dag_id": dag_id, "is_paused": paused, "tags": list(tags), "owners": list(owners), "criticality": 2}


def policy(**fields):
    data = {"name": "two-fail", "condition": "dag.consecutive_failures >= 2", "actions": ["pause"],
            "mode": "enforce", "version": 1}
    data.update(fields)
    return parse_policy(data)


# --- validation ---------------------------------------------------------------------------------

def test_syntax_error_has_line_and_column():
    [error] = validate("dag.consecutive_failures >= 2\n  && run.state == = 'failed'")
    assert (error.line, error.column) == (2, 19)  # the second "="
    assert "syntax error" in error.message


def test_unknown_fact_is_named_with_a_suggestion_and_position():
    [error] = validate("dag.consecutive_failure >= 2")
    assert (error.line, error.column) == (1, 5)
    assert "unknown fact 'dag.consecutive_failure'" in error.message
    assert "did you mean 'dag.consecutive_failures'" in error.message
    [error] = validate("dag.runs_24h > 1 && rnu.state == 'failed'")
    assert "unknown fact 'rnu'" in error.message and (error.line, error.column) == (1, 21)


def test_wrong_type_and_non_boolean_results_are_errors():
    [error] = validate('dag.runs_24h > "3"')
    assert error.message.startswith("type error")
    [error] = validate("run.duration_s * 2.0")
    assert "must be true or false" in error.message
    # only reached when the left side is true: the flipped sample facts find it too
    [error] = validate('dag.is_paused && dag.owners > 1')
    assert error.message.startswith("type error")


def test_strings_macros_and_valid_conditions_pass():
    assert validate('dag.tags.exists(t, t == "dag.bogus") && run.state == "failed"') == []
    assert validate("dag.id.startsWith('etl_') && now.hour >= 6 && anomaly.severity == 'high'") == []
    assert validate("  ") and validate("x" * 3000)


def test_every_documented_fact_has_its_declared_type():
    types = {"string": str, "int": int, "double": float, "bool": bool, "list(string)": list}
    facts = facts_for(dag(), [run("failed", 5)], {}, NOW)
    for root, fields in FACTS.items():
        assert set(facts[root]) == set(fields)
        for name, fact in fields.items():
            assert type(facts[root][name]) is types[fact.type], f"{root}.{name}"
            assert type(sample_facts()[root][name]) is types[fact.type]


# --- facts and evaluation -----------------------------------------------------------------------

def test_facts_from_history():
    runs = [run("failed", 5, 50.0), run("failed", 10), run("running", 2), run("success", 20),
            run("success", 30), run("success", 40), run("success", 60 * 30)]
    runs.sort(key=lambda r: -r["at"])
    anomalies = {"r-5": [{"kind": "slow", "score": 3.0, "severity": "medium"},
                         {"kind": "failure_streak", "score": 2.0, "severity": "high"}]}
    facts = facts_for(dag(), runs, anomalies, NOW)
    assert facts["dag"]["consecutive_failures"] == 2
    assert facts["dag"]["runs_24h"] == 6 and facts["dag"]["failure_rate_24h"] == pytest.approx(2 / 5)
    assert facts["dag"]["last_state"] == "running"
    assert facts["run"]["id"] == "r-5" and facts["run"]["duration_ratio"] == 5.0
    assert facts["anomaly"] == {"kind": "failure_streak", "score": 2.0, "severity": "high"}
    assert facts["now"] == {"hour": 0, "weekday": 3}
    empty = facts_for(dag(), [], {}, NOW)
    assert empty["run"]["state"] == "" and empty["anomaly"]["severity"] == "none"


def test_evaluation_over_fixtures_and_runtime_errors():
    program = compile_condition("dag.consecutive_failures >= 2 && 'etl' in dag.tags")
    assert evaluate(program, facts_for(dag(), [run("failed", 1), run("failed", 2)], {}, NOW))
    assert not evaluate(program, facts_for(dag(), [run("failed", 1), run("success", 2)], {}, NOW))
    with pytest.raises(ConditionRuntimeError):
        evaluate(compile_condition("dag.runs_24h / dag.consecutive_failures > 1"),
                 facts_for(dag(), [run("success", 1)], {}, NOW))


# --- guardrails ---------------------------------------------------------------------------------

def failing(dag_id="etl", **kw):
    return facts_for(dag(dag_id, **kw), [run("failed", 1, run_id="r1"), run("failed", 2)], {}, NOW)


def test_fires_once_per_state_and_never_pauses_a_paused_dag():
    p = policy()
    [decision] = decide([p], {"etl": failing()}, [], Guardrails(), NOW).decisions
    assert decision.status == "execute" and decision.key == "two-fail@v1:pause:etl:r1"
    assert "2 failed run(s) in a row" in decision.reason and decision.facts["dag"]["id"] == "etl"
    done = PastAction(decision.key, "two-fail", "etl", "done", NOW - 3_600_000 * 5, False, "pause")
    assert decide([p], {"etl": failing()}, [done], Guardrails(), NOW).decisions == []
    failed = PastAction(decision.key, "two-fail", "etl", "failed", NOW - MIN, False, "pause")
    assert [d.key for d in decide([p], {"etl": failing()}, [failed], Guardrails(), NOW).decisions] == [decision.key]
    assert decide([p], {"etl": failing(paused=True)}, [], Guardrails(), NOW).decisions == []


def test_cooldown_per_policy_dag_and_mode():
    p = policy(cooldown_min=30)
    recent = PastAction("other", "two-fail", "etl", "done", NOW - 10 * MIN, False, "pause")
    assert decide([p], {"etl": failing()}, [recent], Guardrails(), NOW).decisions == []
    old = PastAction("other", "two-fail", "etl", "done", NOW - 31 * MIN, False, "pause")
    assert len(decide([p], {"etl": failing()}, [old], Guardrails(), NOW).decisions) == 1
    dry = PastAction("other", "two-fail", "etl", "would_do", NOW - 10 * MIN, True, "pause")
    assert len(decide([p], {"etl": failing()}, [dry], Guardrails(), NOW).decisions) == 1


def test_hourly_cap_defers_instead_of_dropping():
    facts = {f"d{i}": failing(f"d{i}") for i in range(4)}
    earlier = [PastAction(f"k{i}", "x", "y", "done", NOW - 10 * MIN, False, "pause") for i in range(1)]
    statuses = [d.status for d in decide([policy()], facts, earlier, Guardrails(max_actions_per_hour=3), NOW).decisions]
    assert statuses == ["execute", "execute", "deferred", "deferred"]
    old = [PastAction("k", "x", "y", "done", NOW - 61 * MIN, False, "pause")]
    statuses = [d.status for d in decide([policy()], facts, old, Guardrails(max_actions_per_hour=3), NOW).decisions]
    assert statuses.count("execute") == 3


def test_protected_and_own_dags_are_never_paused():
    guard = Guardrails(protected=("billing_*",))
    facts = {"orcai_cycle": failing("orcai_cycle"), "billing_daily": failing("billing_daily"), "etl": failing()}
    decisions = {d.dag_id: d for d in decide([policy()], facts, [], guard, NOW).decisions}
    assert decisions["orcai_cycle"].status == "skipped" and "ORC AI's own" in decisions["orcai_cycle"].reason
    assert decisions["billing_daily"].status == "skipped" and "billing_*" in decisions["billing_daily"].reason
    assert decisions["etl"].status == "execute"


def test_scope_dry_run_and_broken_policies():
    facts = {"etl": failing(), "ml": failing("ml", tags=("ml",), owners=("ml-team",))}
    scoped = policy(scope={"dags": ["e*"], "owners": ["ops"]}, mode="dry_run")
    [decision] = decide([scoped], facts, [], Guardrails(), NOW).decisions
    assert (decision.dag_id, decision.status) == ("etl", "would_do")
    broken = policy(name="broken", condition="dag.runs_24h / (dag.consecutive_failures - 2) > 0")
    evaluation = decide([broken, policy()], facts, [], Guardrails(), NOW)
    assert "broken" in evaluation.broken and len(evaluation.decisions) == 2


# --- backtest -----------------------------------------------------------------------------------

def test_backtest_on_a_known_history():
    # etl: F F S F F F over six hours; ml: all green. Two in a row, cooldown 60 min.
    states = ["failed", "failed", "success", "failed", "failed", "failed"]
    history = [dict(run(s, 360 - 60 * i, run_id=f"etl-{i}"), dag_id="etl") for i, s in enumerate(states)]
    history += [dict(run("success", 300 - 60 * i, run_id=f"ml-{i}"), dag_id="ml") for i in range(5)]
    history.sort(key=lambda r: r["at"])
    dags = [dag("etl"), dag("ml", tags=("ml",))]
    result = backtest(policy(condition="dag.consecutive_failures >= 2", actions=["alert"]), dags, history, {},
                      NOW - 7 * 3_600_000)
    assert [(f.dag_id, f.run_id) for f in result.firings] == [("etl", "etl-1"), ("etl", "etl-4"), ("etl", "etl-5")]
    assert result.dags_checked == 2 and result.runs_checked == 11
    paused = backtest(policy(), dags, history, {}, NOW - 7 * 3_600_000)  # a paused DAG is not paused again
    assert [f.run_id for f in paused.firings] == ["etl-1"]
    assert backtest(policy(), dags, history, {}, NOW - 3 * 3_600_000 + 1).firings[0].run_id == "etl-4"


def test_forecast_facts_of_the_active_run_most_at_risk():
    forecast = {"run_id": "manual__1", "eta_p80": NOW + 25 * MIN + 1, "deadline": NOW + 10 * MIN,
                "breach_risk": 0.9425, "breach_risk_held": 0.8125, "watch_task": "transform",
                "watch_reason": "running for 30 min, 30× its usual 1 min"}
    facts = facts_for(dag(), [run("success", 60)], {}, NOW, forecast=forecast)
    assert {k: facts["run"][k] for k in ("id", "active_id", "eta_p80", "deadline", "breach_risk", "breach_risk_held",
                                         "late_min", "watch")} == {
        "id": "r-60", "active_id": "manual__1", "eta_p80": 26, "deadline": 10, "breach_risk": 0.94,
        "breach_risk_held": 0.81, "late_min": 16, "watch": "transform: running for 30 min, 30× its usual 1 min"}
    past_deadline = facts_for(dag(), [], {}, NOW, forecast={**forecast, "deadline": NOW - 5 * MIN})["run"]
    assert (past_deadline["deadline"], past_deadline["late_min"]) == (0, 31)
    no_deadline = facts_for(dag(), [], {}, NOW, forecast={**forecast, "deadline": None, "breach_risk": None,
                                                          "breach_risk_held": None})["run"]
    assert (no_deadline["deadline"], no_deadline["breach_risk"], no_deadline["breach_risk_held"],
            no_deadline["late_min"]) == (-1, 0.0, 0.0, 0)
    assert {k: facts_for(dag(), [], {}, NOW)["run"][k]
            for k in ("active_id", "eta_p80", "deadline", "breach_risk", "breach_risk_held")} == {
        "active_id": "", "eta_p80": -1, "deadline": -1, "breach_risk": 0.0, "breach_risk_held": 0.0}


def test_shipped_deadline_policy_says_by_how_much_and_which_task_to_watch():
    [shipped] = load_policies_yaml((REPO / "stack/policies/deadline-breach-risk.yaml").read_text())
    forecast = {"run_id": "manual__1", "eta_p80": NOW + 25 * MIN, "deadline": NOW + 10 * MIN, "breach_risk": 0.9,
                "breach_risk_held": 0.85, "watch_task": "transform",
                "watch_reason": "running for 30 min, 30× its usual 1 min"}
    at_risk = facts_for(dag(), [run("success", 60)], {}, NOW, forecast=forecast)
    calm = facts_for(dag("calm"), [run("success", 60)], {}, NOW,
                     forecast={**forecast, "breach_risk": 0.2, "breach_risk_held": 0.2})
    # at risk on this forecast only: the last one said 0.3, so it has not held yet
    spike = facts_for(dag("spike"), [run("success", 60)], {}, NOW, forecast={**forecast, "breach_risk_held": 0.3})
    [decision] = decide([parse_policy({**shipped.to_dict(), "version": 1})],
                        {"etl": at_risk, "calm": calm, "spike": spike}, [], Guardrails(), NOW).decisions
    assert (decision.dag_id, decision.status) == ("etl", "would_do")
    assert "90% risk of missing its deadline" in decision.reason and "watch transform: running for 30 min" in decision.reason
    assert render_message(shipped.actions[0].message, decision.facts) == (
        "etl run manual__1 will likely miss its deadline (in 10 min): p80 ETA in 25 min, 15 min late; "
        "breach risk 0.9. Watch transform: running for 30 min, 30× its usual 1 min.")


# --- files, messages, login ---------------------------------------------------------------------

def test_shipped_policies_load_and_round_trip():
    policies = [p for path in policy_files(REPO / "stack/policies") for p in load_policies_yaml(path.read_text())]
    names = {p.name for p in policies}
    assert {"two-failures-pause", "airflow-parity-consecutive-failures"} <= names
    assert all(p.mode == "dry_run" for p in policies)
    assert load_policies_yaml(dump_policies_yaml(policies)) == [
        parse_policy({**p.to_dict(), "version": 0, "author": "", "updated_at": 0}) for p in policies]


def test_invalid_policy_lists_every_problem():
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy({"name": "bad name!", "condition": "dag.nope", "actions": ["explode"], "mode": "yolo"})
    text = str(caught.value)
    for part in ("name:", "unknown fact 'dag.nope'", "unknown action 'explode'", "mode:"):
        assert part in text
    with pytest.raises(PolicyInvalid, match="unknown fact"):
        parse_policy({"name": "x", "condition": "true", "actions": [{"type": "alert", "message": "{dag.nope}"}]})


def test_alert_message_placeholders_are_filled_without_running_code():
    facts = failing()
    assert render_message("{dag.id} failed {dag.consecutive_failures}x {__class__}", facts) == "etl failed 2x {__class__}"


def test_admin_login_is_constant_time_and_rate_limited(tmp_path):
    settings = load_settings(admin_password="s3cret")
    assert password_matches(settings, "s3cret") and not password_matches(settings, "s3cre")
    assert not password_matches(load_settings(), "")
    clock = [0.0]
    limiter = LoginLimiter(max_failures=2, window_s=60, clock=lambda: clock[0])
    assert not limiter.attempt("c1", settings, "a") and not limiter.attempt("c1", settings, "b")
    assert limiter.wait_s("c1") == 60 and not limiter.attempt("c1", settings, "s3cret")  # locked out even when right
    clock[0] = 61
    assert limiter.attempt("c1", settings, "s3cret")
    path = tmp_path / "admin_password"
    assert ensure_secret_file(path) and not ensure_secret_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600" and len(path.read_text().strip()) >= 20


def test_docs_document_every_fact_and_the_seed_example_is_a_valid_policy():
    import re
    readme = (REPO / "docs" / "policies.md").read_text()
    documented = dict(re.findall(r"^\| `((?:" + "|".join(FACTS) + r")\.\w+)` \| ([\w()]+) \|", readme, re.M))
    assert documented == {f"{root}.{name}": fact.type for root, fields in FACTS.items() for name, fact in fields.items()}
    section = readme[readme.index("## Decision record: CEL policies"):]
    example = section[section.index("```yaml") + 7:section.index("```", section.index("```yaml") + 7)]
    assert [p.name for p in load_policies_yaml(example)] == ["dag-failed-apply-policy", "dag-failed-twice-pause"]


@pytest.mark.parametrize("condition, problem", [
    ("dag.runs_24h > 0 && " * 120 + "true", "longer than 2000 characters"),
    ("(" * 500 + "true" + ")" * 500, "nested too deeply"),
    ("[" * 300 + "]" * 300, "nested too deeply"),
])
def test_hostile_conditions_are_refused_with_a_clear_message(condition, problem):
    [error] = validate(condition)
    assert problem in error.message


def test_the_longest_chain_the_size_limit_allows_evaluates_without_harm():
    condition = "!" * 1996 + "true"  # the parser reads unary chains without recursing
    assert validate(condition) == []
    assert evaluate(compile_condition(condition), sample_facts()) is True


def test_a_policy_file_that_is_not_utf8_is_refused_clearly():
    with pytest.raises(PolicyInvalid, match="not UTF-8"):
        load_policies_yaml("name: caf\u00e9\ncondition: 'true'\n".encode("latin-1"))
