"""Which metrics a PromQL expression reads, and which metrics the stack actually exports."""

from __future__ import annotations

import re

from orcai.metrics import WorkerMetrics
from tests.stack.statsd_mapper import exposed_names, load_rules

# Series Prometheus makes itself: scrape health and the state of alerting rules.
PROMETHEUS_BUILTINS = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}
# What each type of a prometheus_client family exposes, by sample-name suffix.
_CLIENT_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
                    "info": ("_info",), "summary": ("", "_count", "_sum"), "stateset": ("",), "unknown": ("",)}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: not functions, keywords, labels or durations."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers (Grafana variables live here too)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range and subquery selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"(?<![\w:])\d+(\.\d+)?(e[+-]?\d+)?(ms|[smhdwy])?\b", " ", expr)  # numbers, durations
    names = set()
    for found in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        is_function = expr[found.end():].lstrip().startswith("(")
        if not is_function and found.group().lower() not in _KEYWORDS:
            names.add(found.group())
    return names


def worker_metric_names() -> set[str]:
    """Every name the ORC AI worker's registry exposes, read from a freshly built registry."""
    registry = WorkerMetrics(worker_name="names", sync_interval_s=60).registry
    return {family.name + suffix for family in registry.collect() for suffix in _CLIENT_SUFFIXES[family.type]}


def exported_metric_names() -> set[str]:
    """What Prometheus can hold in this stack: the worker, the StatsD exporter, itself."""
    return worker_metric_names() | exposed_names(load_rules()[1]) | PROMETHEUS_BUILTINS
