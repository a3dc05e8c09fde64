"""Cypher fragments every store module shares: one spelling for each idea.

A node of Airflow's that disappeared is kept with `is_deleted = true` (its history stays);
"live" is the one predicate that hides it.
"""

from __future__ import annotations


def live(var: str) -> str:
    """`var` is a live node: not marked deleted. `var` is a fixed variable name, never input."""
    return f"coalesce({var}.is_deleted, false) = false"
