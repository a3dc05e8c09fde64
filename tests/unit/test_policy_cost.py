"""The cost budget of conditions: refused at validation when nested or costly, stopped at run
time past the time budget (a real child process, really killed)."""

from __future__ import annotations

import time

import pytest

from orcai.errors import ConditionTimeout, PolicyInvalid
from orcai.policy.conditions import MAX_COMPREHENSION_DEPTH, cost_errors, evaluate_all, validate
from orcai.policy.engine import Guardrails, decide
from orcai.policy.facts import sample_facts
from orcai.policy.model import load_policies_yaml, parse_policy
from orcai.policy.sandbox import Sandbox

TEN = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"


def nested(depth: int, items: str = TEN) -> str:
    """The issue's example: `dag.consecutive_failures >= 0 && [1,…,10].all(v0, … true)`."""
    body = "true"
    for level in reversed(range(depth)):
        body = f"{items}.all(v{level}, {body})"
    return f"dag.consecutive_failures >= 0 && {body}"


def test_the_issue_example_nested_seven_deep_is_refused_at_once():
    started = time.monotonic()
    errors = validate(nested(7))
    assert time.monotonic() - started < 1.0  # it took 7.1 s before: nothing is run now
    assert len(errors) == 1 and "too costly" in errors[0].message and "nested 7 deep" in errors[0].message
    assert errors[0].line == 1


def test_small_nesting_passes_and_too_much_work_is_refused():
    assert validate(nested(MAX_COMPREHENSION_DEPTH)) == []
    assert validate('dag.tags.exists(t, t.startsWith("etl"))') == []
    big = "[" + ", ".join(map(str, range(200))) + "]"
    errors = cost_errors(f"{big}.exists(a, {big}.exists(b, a * b == -1))")
    assert errors and "40,000 steps" in errors[0].message
    # comprehension words inside strings are not comprehensions
    assert cost_errors('dag.id == ".all(x, .all(y, .all(z, true)))"') == []


def test_the_expensive_condition_is_refused_on_save_and_on_yaml_import():
    with pytest.raises(PolicyInvalid, match="too costly"):
        parse_policy({"name": "costly", "condition": nested(7), "actions": ["alert"]})
    text = f"policies:\n  - name: costly\n    condition: '{nested(7)}'\n    actions: [alert]\n"
    with pytest.raises(PolicyInvalid) as raised:
        load_policies_yaml(text)
    assert raised.value.problems[0].startswith("policy costly: condition: line 1") and "too costly" in raised.value.problems[0]


# A condition that passes the static estimate but is slow on large real facts: two
# comprehensions over a fact list (assumed 100 long) that is in fact 3,000 long.
SLOW = "dag.tags.exists(a, dag.tags.exists(b, a + b == 'never'))"


def big_facts(n: int = 3000) -> dict:
    facts = sample_facts()
    facts["dag"]["tags"] = [f"tag{i}" for i in range(n)]
    return facts


def test_a_slow_evaluation_is_stopped_within_its_budget_and_the_evaluator_recovers():
    sandbox = Sandbox()
    try:
        assert validate(SLOW) == []
        assert sandbox.run("1 < 2", [{}]) == [{"value": True}]  # started and warm
        started = time.monotonic()
        with pytest.raises(ConditionTimeout, match="0.3 s"):
            sandbox.run(SLOW, [big_facts()], budget_s=0.3)
        assert time.monotonic() - started < 1.5
        assert sandbox.run("dag.runs_24h > 3", [sample_facts()]) == [{"value": True}]  # a fresh child
    finally:
        sandbox.close()


def test_the_engine_marks_a_policy_broken_when_its_condition_runs_past_the_budget():
    slow = parse_policy({"name": "slow", "condition": SLOW, "actions": ["alert"], "version": 1})
    fine = parse_policy({"name": "fine", "condition": "dag.runs_24h >= 0", "actions": ["alert"], "version": 1})
    started = time.monotonic()
    evaluation = decide([slow, fine], {"etl": big_facts()}, [], Guardrails(), 0, budget_s=0.3)
    assert time.monotonic() - started < 5
    assert "time budget" in evaluation.broken["slow"] and "fine" not in evaluation.broken
    assert [d.policy.name for d in evaluation.decisions] == ["fine"]


def test_evaluate_all_gives_one_answer_per_facts():
    answers = evaluate_all("dag.consecutive_failures >= 2",
                           [{"dag": {"consecutive_failures": 3}}, {"dag": {"consecutive_failures": 1}}, {"dag": {}}])
    assert answers[:2] == [True, False] and "consecutive_failures" in str(answers[2])
