"""Operator policies: CEL conditions over documented facts, actions with guardrails.

    facts.py       the facts a condition sees, documented once, built by pure functions
    conditions.py  CEL validation (line/column, unknown facts, types) and evaluation
    model.py       Policy records, validation, YAML import/export
    engine.py      pure decisions with guardrails (scope, cooldown, cap, protected DAGs)
    backtest.py    when a policy would have fired over stored history
    actions.py     acting on Airflow, confirmed by reading back; undo (worker and page)
    editor.py      the Policies page's form <-> a Policy
    runner.py      the worker stage: decide, act on Airflow (confirmed), record, notify

Policies (with versions) and actions are stored by `orcai.graph.policy_store`.
"""
