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
                "enabled": True}
    alert = next((a for a in policy.actions if a.type == "alert"), None)
    return {"name": policy.name, "description": policy.description, "condition": policy.condition,
            "dags": ", ".join(policy.scope.dags), "tags": ", ".join(policy.scope.tags),
            "owners": ", ".join(policy.scope.owners), "actions": [a.type for a in policy.actions],
            "message": alert.message if alert else "", "mode": policy.mode,
            "cooldown_min": policy.cooldown_min, "enabled": policy.enabled}


def split(text: str) -> list[str]:
    """`"etl, ml ,"` -> ["etl", "ml"]: the form's comma-separated lists."""
    return [part.strip() for part in text.split(",") if part.strip()]


def policy_data(form: dict) -> dict:
    """The form's values (as `form_values` names them) -> data for `parse_policy`."""
    return {"name": form["name"], "description": form["description"], "condition": form["condition"],
            "mode": form["mode"], "cooldown_min": int(form["cooldown_min"]), "enabled": form["enabled"],
            "scope": {"dags": split(form["dags"]), "tags": split(form["tags"]), "owners": split(form["owners"])},
            "actions": [{"type": a, "message": form["message"] if a == "alert" else ""} for a in form["actions"]]}
