"""Operator policies: CEL conditions over documented facts, actions with guardrails.

    facts.py       the facts a condition sees, documented once, built by pure functions
    resources.py   resource facts: named PromQL queries (YAML) -> resource.<name>, and their history
    conditions.py  CEL validation (line/column, unknown facts, types, cost) and evaluation
    sandbox.py     the evaluator child process, killed past its time budget
    model.py       Policy records, validation, YAML import/export
    engine.py      pure decisions with guardrails (scope, cooldown, cap, protected DAGs and pools);
                   per DAG, and once per cycle for pool and tag actions (throttle, release)
    backtest.py    when a policy would have fired over stored history
    actions.py     acting on Airflow, confirmed by reading back; undo (worker and page)
    editor.py      the Policies page's form <-> a Policy
    runner.py      the worker stage: decide, act on Airflow (confirmed), record, notify

Policies (with versions) and actions are stored by `orcai.graph.policy_store`; throttled
pools by `orcai.graph.pool_store`.
"""
