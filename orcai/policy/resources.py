"""Resource facts: named PromQL queries, configured as data, seen by conditions as `resource.<name>`.

A definition (YAML, `ORCAI_RESOURCES_FILE`, shipped in `stack/policies/resources.yaml`):

    resources:
      - name: node_cpu_busy          # resource.node_cpu_busy in a condition
        query: 1 - avg(rate(node_cpu_seconds_total{mode="idle"}[1m]))
        unit: ratio
        description: share of CPU time the nodes spend busy (node exporter)
        by: pool                     # optional: a map by this label, resource.x["default_pool"]

Without `by` the query must give one series: its value is a number (double). With `by` the
fact is a map from that label's value to a number. A query that fails or gives nothing
leaves its fact absent, with the reason; Prometheus down leaves them all absent, after one
try. A condition that needs an absent fact is skipped with that reason (engine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from orcai.errors import PolicyInvalid, PrometheusError, PrometheusUnreachable

MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses more than 11,000 points per series and query
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_USED = re.compile(r"\bresource\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ResourceQuery:
    name: str
    query: str
    unit: str = ""
    description: str = ""
    by: str = ""  # a label: the fact is a map by its values


@dataclass
class ResourceFacts:
    values: dict  # name -> float or {label value: float}
    missing: dict[str, str]  # name -> why it has no value
    unreachable: str | None = None  # Prometheus's error when it could not be asked at all


def load_resources_yaml(text: str) -> list[ResourceQuery]:
    """Definitions from `resources: [...]`; raises PolicyInvalid listing every problem."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyInvalid([f"resources: not valid YAML: {exc}"]) from None
    items = data.get("resources") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PolicyInvalid(["resources: expected `resources: [...]`"])
    queries, problems, seen = [], [], set()
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict) or not _NAME.match(str(item.get("name") or "")) or not item.get("query"):
            problems.append(f"resource #{index}: needs a name (lower-case letters, digits, _) and a query")
            continue
        if item["name"] in seen:
            problems.append(f"resource {item['name']}: defined twice")
        unknown = set(item) - {"name", "query", "unit", "description", "by"}
        if unknown:
            problems.append(f"resource {item['name']}: unknown field(s) {', '.join(sorted(unknown))}")
        seen.add(item["name"])
        queries.append(ResourceQuery(**{k: str(v) for k, v in item.items() if k not in unknown}))
    if problems:
        raise PolicyInvalid(problems)
    return queries


def load_resources(path: Path) -> list[ResourceQuery]:
    return load_resources_yaml(path.read_text()) if path.is_file() else []


def resources_used(condition: str) -> set[str]:
    """The resource facts a condition reads (`resource.<name>`)."""
    return set(_USED.findall(condition))


def fact_value(query: ResourceQuery, samples: list[tuple[dict, float]]) -> float | dict:
    """A fact from a query's samples; raises ValueError saying why there is none."""
    if not samples:
        raise ValueError("the query returned no data")
    if query.by:
        values = {labels[query.by]: value for labels, value in samples if query.by in labels}
        if not values:
            raise ValueError(f"no series has the label {query.by!r}")
        return values
    if len(samples) > 1:
        raise ValueError(f"the query returned {len(samples)} series: aggregate it or set `by`")
    return samples[0][1]


def read_resource_facts(prometheus, queries: list[ResourceQuery], at_s: float | None = None) -> ResourceFacts:
    """Ask Prometheus each query once; an unreachable Prometheus stops at the first try."""
    facts = ResourceFacts({}, {})
    for query in queries:
        if facts.unreachable:
            facts.missing[query.name] = facts.unreachable
            continue
        try:
            facts.values[query.name] = fact_value(query, prometheus.query(query.query, at_s))
        except PrometheusUnreachable as exc:
            facts.unreachable = str(exc)
            facts.missing[query.name] = str(exc)
        except (PrometheusError, ValueError) as exc:
            facts.missing[query.name] = str(exc)
    return facts


def resource_history(prometheus, queries: list[ResourceQuery], names: set[str], start_s: float, end_s: float,
                     step_s: float) -> tuple[dict[str, dict[float, float | dict]], dict[str, str]]:
    """Each named fact's values over a window ({time s: value}), and why some have none."""
    history, missing = {}, {}
    chunk_s = step_s * MAX_POINTS_PER_QUERY
    for query in (q for q in queries if q.name in names):
        series = []
        try:
            for chunk_start in range(int(start_s), int(end_s), int(chunk_s)):
                series += prometheus.query_range(query.query, chunk_start, min(end_s, chunk_start + chunk_s - step_s),
                                                 step_s)
        except PrometheusError as exc:
            missing[query.name] = str(exc)
            continue
        points: dict[float, list] = {}
        for labels, values in series:
            for t, v in values:
                points.setdefault(t, []).append((labels, v))
        by_time = {}
        for t, samples in points.items():
            try:
                by_time[t] = fact_value(query, samples)
            except ValueError:
                continue
        if by_time:
            history[query.name] = by_time
        else:
            missing[query.name] = "Prometheus holds no history of it over the window"
    for name in names - {q.name for q in queries}:
        missing[name] = "no such resource is defined"
    return history, missing


def resource_reference(path: Path) -> list[dict]:
    """The configured resource facts, for the Policies page ([] when none or invalid)."""
    try:
        queries = load_resources(path)
    except PolicyInvalid:
        return []
    return [{"fact": f"resource.{q.name}", "type": f"map(string, double) by {q.by}" if q.by else "double",
             "unit": q.unit, "meaning": q.description} for q in queries]
