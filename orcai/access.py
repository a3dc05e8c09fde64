"""Who may do what: the roles, the writes each allows, and the check every write makes.

    viewer    reads every page
    operator  + acknowledges, marks false positive or reopens an anomaly; undoes a policy's
                action; switches a policy between dry run and enforce
    admin     + creates, edits, enables/disables and deletes policies; imports YAML

Roles are ranked: an operator may do what a viewer may, an admin what an operator may.
A person's roles come from the identity provider's groups (`ORCAI_OIDC_ROLE_GROUPS`, see
orcai.oidc) or, in local mode, from the admin password (admin) or its absence (viewer).

The write functions in orcai (orcai.anomalies.review, orcai.policy.changes,
orcai.policy.actions) call `require(person, permission)` at the moment of writing, so a
hidden button, a stale page or a forged widget event cannot skip it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from orcai.errors import ConfigError, PermissionDenied

ROLES = ("viewer", "operator", "admin")  # lowest first
PERMISSIONS = {  # permission -> the lowest role that has it
    "review_anomaly": "operator",
    "undo_action": "operator",
    "switch_policy_mode": "operator",
    "edit_policy": "admin",
    "delete_policy": "admin",
    "import_policies": "admin",
    "set_deadline": "admin",
}
DEFAULT_ROLE_GROUPS = "admin=orcai-admins,operator=orcai-operators,viewer=orcai-viewers"


@dataclass(frozen=True)
class Person:
    """Who is asking: the token's subject (stable id) and name, and the roles granted."""

    subject: str
    name: str
    roles: frozenset[str] = frozenset()

    @property
    def role(self) -> str | None:
        """The highest role held, or None."""
        held = [r for r in ROLES if r in self.roles]
        return held[-1] if held else None

    def may(self, permission: str) -> bool:
        needed = PERMISSIONS[permission]
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(needed)


LOCAL_ADMIN = Person("local:admin", "admin", frozenset({"admin"}))
LOCAL_VIEWER = Person("local:anonymous", "anonymous", frozenset({"viewer"}))


def require(person: Person | None, permission: str) -> Person:
    """The person, if their role allows `permission`; else PermissionDenied."""
    if person is None:
        raise PermissionDenied("nobody signed in", permission, PERMISSIONS[permission])
    if not person.may(permission):
        raise PermissionDenied(person.name, permission, PERMISSIONS[permission])
    return person


def parse_role_groups(text: str) -> dict[str, str]:
    """`"admin=orcai-admins,operator=sre"` -> {group: role}; a bad entry is a ConfigError."""
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        role, _, group = (part.strip() for part in entry.partition("="))
        if role not in ROLES or not group:
            raise ConfigError(f"ORCAI_OIDC_ROLE_GROUPS: {entry!r} is not role=group with a role in {', '.join(ROLES)}")
        mapping[group] = role
    return mapping


def roles_from_groups(groups: list[str] | tuple[str, ...], role_groups: str) -> frozenset[str]:
    """The roles the IdP groups grant under the `ORCAI_OIDC_ROLE_GROUPS` mapping."""
    mapping = parse_role_groups(role_groups)
    return frozenset(mapping[g] for g in groups if g in mapping)
