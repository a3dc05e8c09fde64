"""A policy as data: what it watches (scope), when it fires (a CEL condition), what it does.

Policies are plain records that travel as YAML (`stack/policies/`, import/export) and as
graph nodes; `parse_policy` is the single gate every policy passes — from a file, the
Policies page or the graph — and it returns every problem at once, the condition's with
line and column.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from orcai.errors import PolicyInvalid
from orcai.policy.conditions import validate
from orcai.policy.facts import FACTS

ACTION_TYPES = ("pause", "unpause", "alert", "mark_critical", "set_pool_slots", "pause_tag", "unpause_tag",
                "clear_stuck", "fail_zombie_run")
# Actions on something other than one DAG: a policy with one is judged once per cycle, on
# `resource` and `now` facts only. set_pool_slots is released (the pool's slots restored)
# when the condition clears; pause_tag / unpause_tag act on every DAG with the tag.
CYCLE_ACTIONS = ("set_pool_slots", "pause_tag", "unpause_tag")
CYCLE_FACTS = ("resource", "now")
MODES = ("dry_run", "enforce")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
_PLACEHOLDER = re.compile(r"\{\s*([a-z_]+)\.([a-z_0-9]+)\s*\}")
DEFAULT_ALERT = "{dag.id}: policy fired ({run.state} run {run.id})"


@dataclass(frozen=True)
class Scope:
    """Which DAGs a policy watches. Empty lists mean "any"; all given parts must match."""
    dags: tuple[str, ...] = ()  # DAG id globs, e.g. "etl_*"
    tags: tuple[str, ...] = ()  # any of these tags
    owners: tuple[str, ...] = ()  # any of these owners

    def matches(self, dag_id: str, tags, owners) -> bool:
        return ((not self.dags or any(fnmatch.fnmatchcase(dag_id, g) for g in self.dags))
                and (not self.tags or bool(set(self.tags) & set(tags or ())))
                and (not self.owners or bool(set(self.owners) & set(owners or ()))))


@dataclass(frozen=True)
class PolicyAction:
    type: str
    message: str = ""  # the Slack text of an `alert` action, with {dag.id}-style placeholders
    pool: str = ""  # set_pool_slots: the Airflow pool
    slots: int | None = None  # set_pool_slots: its slots while the condition holds
    tag: str = ""  # pause_tag / unpause_tag: the DAG tag


@dataclass(frozen=True)
class Policy:
    name: str
    condition: str
    actions: tuple[PolicyAction, ...]
    description: str = ""
    scope: Scope = field(default_factory=Scope)
    mode: str = "dry_run"
    cooldown_min: int = 60
    enabled: bool = True
    version: int = 0
    author: str = ""
    updated_at: int = 0  # epoch ms
    disabled_reason: str = ""  # set when the engine disabled it after a runtime error

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"

    @property
    def per_cycle(self) -> bool:
        """Judged once per cycle (pool and tag actions), not once per DAG."""
        return any(a.type in CYCLE_ACTIONS for a in self.actions)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scope"] = {k: list(v) for k, v in data["scope"].items() if v}
        data["actions"] = [{k: v for k, v in a.items() if v not in ("", None)} for a in data["actions"]]
        return data


def parse_policy(data: dict) -> Policy:
    """A Policy from a dict (YAML, form, graph); raises PolicyInvalid listing every problem."""
    if not isinstance(data, dict):
        raise PolicyInvalid(["a policy must be a mapping of fields"])
    problems: list[str] = []
    name = str(data.get("name") or "").strip()
    if not _NAME.match(name):
        problems.append("name: 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit")
    condition = str(data.get("condition") or "")
    problems += [f"condition: {error}" for error in validate(condition)]
    actions = _actions(data.get("actions"), problems)
    mode = data.get("mode") or "dry_run"
    if mode not in MODES:
        problems.append(f"mode: must be dry_run or enforce, not {mode!r}")
    cooldown = data.get("cooldown_min", 60)
    if not isinstance(cooldown, int) or isinstance(cooldown, bool) or cooldown < 0:
        problems.append("cooldown_min: a whole number of minutes, 0 or more")
    scope = _scope(data.get("scope") or {}, problems)
    if any(a.type in CYCLE_ACTIONS for a in actions):
        roots = set(re.findall(r"\b(dag|run|anomaly)\s*\.", condition))
        if roots:
            problems.append(f"condition: a policy that sets pool slots or acts on a tag is judged once per cycle, "
                            f"not per DAG: it can use {' and '.join(r + '.*' for r in CYCLE_FACTS)} facts only, "
                            f"not {', '.join(sorted(r + '.*' for r in roots))}")
        if any(a.type in ("pause", "unpause", "mark_critical") for a in actions):
            problems.append("actions: pool and tag actions cannot be mixed with pause, unpause or mark_critical")
    unknown = set(data) - set(Policy.__dataclass_fields__)
    if unknown:
        problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
    if problems:
        raise PolicyInvalid(problems)
    return Policy(name=name, condition=condition.strip(), actions=actions,
                  description=str(data.get("description") or ""), scope=scope, mode=mode,
                  cooldown_min=cooldown, enabled=bool(data.get("enabled", True)),
                  version=int(data.get("version") or 0), author=str(data.get("author") or ""),
                  updated_at=int(data.get("updated_at") or 0),
                  disabled_reason=str(data.get("disabled_reason") or ""))


def render_message(template: str, facts: dict) -> str:
    """An alert's text: `{dag.id}`-style placeholders replaced by fact values (no code runs)."""
    def value(match: re.Match) -> str:
        root, name = match.group(1), match.group(2)
        return str(facts.get(root, {}).get(name, match.group(0)))
    return _PLACEHOLDER.sub(value, template or DEFAULT_ALERT)


def load_policies_yaml(text: str | bytes) -> list[Policy]:
    """Policies from YAML (text, or an uploaded file's bytes): one policy, a list, or
    `{policies: [...]}`. Raises PolicyInvalid."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyInvalid([f"the file is not UTF-8 text (byte {exc.start} cannot be read)"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyInvalid([f"not valid YAML: {exc}"]) from None
    items = data.get("policies", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PolicyInvalid(["expected a policy, a list of policies, or `policies: [...]`"])
    policies, problems = [], []
    for index, item in enumerate(items, 1):
        try:
            policies.append(parse_policy(item))
        except PolicyInvalid as exc:
            label = item.get("name") if isinstance(item, dict) and item.get("name") else f"#{index}"
            problems += [f"policy {label}: {p}" for p in exc.problems]
    if problems:
        raise PolicyInvalid(problems)
    return policies


def policy_files(directory: Path) -> list[Path]:
    """The policy files of a folder: every `*.yaml` but `resources.yaml` (resource facts)."""
    return [p for p in sorted(directory.glob("*.yaml")) if p.name != "resources.yaml"] if directory.is_dir() else []


def dump_policies_yaml(policies: list[Policy]) -> str:
    """YAML that `load_policies_yaml` reads back (history fields left out: they belong to the graph)."""
    keep = ("name", "description", "scope", "condition", "actions", "mode", "cooldown_min", "enabled")
    items = [{k: p.to_dict()[k] for k in keep if p.to_dict()[k] not in ({}, "")} for p in policies]
    return yaml.safe_dump({"policies": items}, sort_keys=False, allow_unicode=True, width=100)


def _actions(raw, problems: list[str]) -> tuple[PolicyAction, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"actions: a list with at least one of {', '.join(ACTION_TYPES)}")
        return ()
    actions = []
    for item in raw:
        item = {"type": item} if isinstance(item, str) else item
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in ACTION_TYPES:
            problems.append(f"actions: unknown action {kind!r}; use {', '.join(ACTION_TYPES)}")
            continue
        message = str(item.get("message") or "")
        pool, tag, slots = str(item.get("pool") or "").strip(), str(item.get("tag") or "").strip(), item.get("slots")
        if kind == "set_pool_slots" and (not pool or not isinstance(slots, int) or isinstance(slots, bool)
                                         or slots < 0):
            problems.append("actions: set_pool_slots needs a pool and slots (a whole number, 0 or more)")
        if kind in ("pause_tag", "unpause_tag") and not tag:
            problems.append(f"actions: {kind} needs a tag")
        for root, name in _PLACEHOLDER.findall(message):
            if root != "resource" and name not in FACTS.get(root, {}):
                problems.append(f"actions: the alert message uses an unknown fact {{{root}.{name}}}")
        actions.append(PolicyAction(kind, message, pool if kind == "set_pool_slots" else "",
                                    slots if kind == "set_pool_slots" else None,
                                    tag if kind in ("pause_tag", "unpause_tag") else ""))
    if {"pause", "unpause"} <= {a.type for a in actions} or {"pause_tag", "unpause_tag"} <= {a.type for a in actions}:
        problems.append("actions: a policy cannot both pause and unpause")
    return tuple(actions)


def _scope(raw, problems: list[str]) -> Scope:
    if not isinstance(raw, dict) or set(raw) - {"dags", "tags", "owners"}:
        problems.append("scope: a mapping with dags (globs), tags and/or owners")
        return Scope()
    parts = {}
    for key in ("dags", "tags", "owners"):
        value = raw.get(key) or []
        value = [value] if isinstance(value, str) else value
        parts[key] = tuple(str(v).strip() for v in value if str(v).strip())
    return Scope(**parts)
