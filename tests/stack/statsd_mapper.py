"""The StatsD exporter's mapping semantics in Python, to check stack/statsd/statsd_mapping.yml.

The exporter (Go, the `prom/statsd-exporter` image) is not packaged for this machine, so the
tests apply its rules here, as its pkg/mapper does: glob rules first, in file order, each
`*` standing for one whole dot-separated component; then regex rules in file order; a rule
takes only lines of its `match_metric_type`; `$n` / `${n}` in names and labels are the
captures. The validation patterns are the exporter's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

MAPPING_FILE = Path(__file__).resolve().parents[2] / "stack" / "statsd" / "statsd_mapping.yml"

# From the exporter's pkg/mapper/mapper.go.
_STATSD_NAME = r"[a-zA-Z_](-?[a-zA-Z0-9_])*"
GLOB_RE = re.compile(rf"^(\*\.|{_STATSD_NAME}\.)+(\*|{_STATSD_NAME})$")
METRIC_NAME_RE = re.compile(r"^([a-zA-Z_]|\$\{?\d+\}?)([a-zA-Z0-9_]|\$\{?\d+\}?)*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]+$")

# StatsD line types -> the exporter's metric types (timers, histograms, distributions observe).
STATSD_TYPES = {"c": "counter", "g": "gauge", "ms": "observer", "h": "observer", "d": "observer"}
# What Prometheus sees for each type (timers are histograms: observer_type in `defaults`).
EXPOSED_SUFFIXES = {"counter": ("",), "gauge": ("",), "observer": ("_bucket", "_count", "_sum")}


@dataclass(frozen=True)
class Rule:
    match: str
    match_type: str  # glob | regex
    name: str
    labels: dict
    metric_type: str | None  # counter | gauge | observer; None takes every type
    action: str  # map | drop

    def captures(self, metric: str) -> tuple[str, ...] | None:
        if self.match_type == "regex":
            found = re.search(self.match, metric)
            return None if found is None else (found.group(0), *found.groups())
        pattern, parts = self.match.split("."), metric.split(".")
        if len(pattern) != len(parts):
            return None
        captured = [metric]
        for expected, part in zip(pattern, parts):
            if expected == "*":
                captured.append(part)
            elif expected != part:
                return None
        return tuple(captured)


@dataclass(frozen=True)
class Mapped:
    name: str
    labels: dict
    metric_type: str


def load_rules(path: Path = MAPPING_FILE) -> tuple[dict, list[Rule]]:
    config = yaml.safe_load(path.read_text())
    defaults = config.get("defaults", {})
    rules = [Rule(match=m["match"], match_type=m.get("match_type", defaults.get("match_type", "glob")),
                  name=m["name"], labels=m.get("labels") or {}, metric_type=m.get("match_metric_type"),
                  action=m.get("action", "map"))
             for m in config["mappings"]]
    return config, rules


def parse_line(line: str) -> tuple[str, str]:
    """`airflow.ti_failures:1|c` -> ("airflow.ti_failures", "counter")."""
    name, rest = line.split(":", 1)
    return name, STATSD_TYPES[rest.split("|")[1]]


def map_metric(rules: list[Rule], metric: str, metric_type: str) -> Mapped | None:
    """The Prometheus metric a StatsD line becomes, or None when it is dropped or unmatched."""
    ordered = [r for r in rules if r.match_type == "glob"] + [r for r in rules if r.match_type == "regex"]
    for rule in ordered:
        if rule.metric_type not in (None, metric_type):
            continue
        captures = rule.captures(metric)
        if captures is None:
            continue
        if rule.action == "drop":
            return None
        return Mapped(_expand(rule.name, captures),
                      {key: _expand(str(value), captures) for key, value in rule.labels.items()},
                      metric_type)
    return None


def exposed_names(rules: list[Rule]) -> set[str]:
    """Every metric name the exporter can expose with these rules."""
    return {rule.name + suffix for rule in rules if rule.action == "map"
            for suffix in EXPOSED_SUFFIXES[rule.metric_type]}


def _expand(template: str, captures: tuple[str, ...]) -> str:
    return re.sub(r"\$\{?(\d+)\}?", lambda m: captures[int(m.group(1))], template)
