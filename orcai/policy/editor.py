"""The Policies page's editor form <-> a Policy: which fields it shows, prefilled from a
stored policy, and the policy data the filled form stands for. Pure."""

from __future__ import annotations

from orcai.policy.model import Policy

EXAMPLE_CONDITION = "dag.consecutive_failures >= 2"


def form_values(policy: Policy | None) -> dict:
    """The editor's fields, prefilled from a policy (or the defaults for a new one)."""
    if policy is None:
        return {"name": "", "description": "", "condition": EXAMPLE_CONDITION, "dags": "", "tags": "",
                "owners": "", "actions": ["alert"], "message": "", "mode": "dry_run", "cooldown_min": 60,
                "enabled": True, "pool": "", "slots": 1, "tag": ""}
    alert = next((a for a in policy.actions if a.type == "alert"), None)
    pool = next((a for a in policy.actions if a.type == "set_pool_slots"), None)
    tagged = next((a for a in policy.actions if a.tag), None)
    return {"name": policy.name, "description": policy.description, "condition": policy.condition,
            "dags": ", ".join(policy.scope.dags), "tags": ", ".join(policy.scope.tags),
            "owners": ", ".join(policy.scope.owners), "actions": [a.type for a in policy.actions],
            "message": alert.message if alert else "", "mode": policy.mode,
            "cooldown_min": policy.cooldown_min, "enabled": policy.enabled,
            "pool": pool.pool if pool else "", "slots": pool.slots if pool else 1, "tag": tagged.tag if tagged else ""}


def split(text: str) -> list[str]:
    """`"etl, ml ,"` -> ["etl", "ml"]: the form's comma-separated lists."""
    return [part.strip() for part in text.split(",") if part.strip()]


def policy_data(form: dict) -> dict:
    """The form's values (as `form_values` names them) -> data for `parse_policy`."""
    return {"name": form["name"], "description": form["description"], "condition": form["condition"],
            "mode": form["mode"], "cooldown_min": int(form["cooldown_min"]), "enabled": form["enabled"],
            "scope": {"dags": split(form["dags"]), "tags": split(form["tags"]), "owners": split(form["owners"])},
            "actions": [_action(a, form) for a in form["actions"]]}


def _action(kind: str, form: dict) -> dict:
    if kind == "set_pool_slots":
        return {"type": kind, "pool": form.get("pool", ""), "slots": int(form.get("slots", 1))}
    if kind in ("pause_tag", "unpause_tag"):
        return {"type": kind, "tag": form.get("tag", "")}
    return {"type": kind, "message": form["message"] if kind == "alert" else ""}
