"""A person's changes to policies, each checked against their role at the moment of writing
and recorded with who made it (name and subject) and from which page.

    switch_mode      operator   dry run <-> enforce
    save             admin      create or edit
    set_enabled      admin      enable / disable
    delete           admin
    import_yaml      admin      every policy of a YAML file

The worker's own changes (installing defaults, an automatic disable) go to
`orcai.graph.policy_store` directly: they are not a person's.
"""

from __future__ import annotations

from orcai.access import Person, require
from orcai.graph import Graph
from orcai.graph import policy_store as store
from orcai.policy.model import Policy, load_policies_yaml, parse_policy


def switch_mode(graph: Graph, person: Person, name: str, mode: str, now_ms: int, page: str | None = None) -> Policy:
    require(person, "switch_policy_mode")
    return store.change_policy(graph, name, person.name, now_ms, "mode", subject=person.subject, page=page, mode=mode)


def save(graph: Graph, person: Person, policy: Policy | dict, now_ms: int, expected_version: int | None = None,
         page: str | None = None) -> Policy:
    """Create (expected_version None for a new one) or edit a policy (a Policy, or the data
    for one: validated only after the role is checked, so a viewer learns nothing)."""
    require(person, "edit_policy")
    policy = policy if isinstance(policy, Policy) else parse_policy(policy)
    change = "create" if expected_version is None else "edit"
    return store.save_policy(graph, policy, person.name, now_ms, change, expected_version,
                             subject=person.subject, page=page)


def set_enabled(graph: Graph, person: Person, name: str, enabled: bool, now_ms: int,
                page: str | None = None) -> Policy:
    require(person, "edit_policy")
    return store.change_policy(graph, name, person.name, now_ms, "enable" if enabled else "disable",
                               subject=person.subject, page=page, enabled=enabled, disabled_reason="")


def delete(graph: Graph, person: Person, name: str, now_ms: int, page: str | None = None) -> None:
    require(person, "delete_policy")
    store.delete_policy(graph, name, person.name, now_ms, subject=person.subject, page=page)


def import_yaml(graph: Graph, person: Person, text: str | bytes, now_ms: int, page: str | None = None) -> list[str]:
    """Store every policy of a YAML document (all validated first); returns their names."""
    require(person, "import_policies")
    policies = load_policies_yaml(text)
    for policy in policies:
        store.save_policy(graph, policy, person.name, now_ms, change="import", subject=person.subject, page=page)
    return [p.name for p in policies]
