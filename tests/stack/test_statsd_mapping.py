"""The StatsD exporter mapping turns real Airflow 3.3 metric names into labelled metrics.

The sample (data/airflow_statsd_sample.txt) is what a real `airflow standalone` sent over
UDP while running the demo DAGs; the exporter's rules are applied by tests/stack/statsd_mapper.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.stack.statsd_mapper import (
    GLOB_RE, LABEL_NAME_RE, METRIC_NAME_RE, Mapped, load_rules, map_metric, parse_line,
)

SAMPLE = Path(__file__).parent / "data" / "airflow_statsd_sample.txt"
DEMO_DAGS = ("etl_orders", "flaky_ingest", "ml_training", "orders_dashboard", "regional_report")

# Legacy names Airflow documents (its metrics registry) that the six-minute capture did not
# contain: a queued or running task at the 30-s sampling instant, a queued time (only some
# executors report it), a failed heartbeat (Airflow 3.3's jobs.job.Job sends `job_heartbeat_failure`).
DOCUMENTED_NOT_SAMPLED = [
    "airflow.ti.queued.default.etl_orders.extract:1|g",
    "airflow.ti.running.default.etl_orders.extract:1|g",
    "airflow.dag.etl_orders.extract.queued_duration:250|ms",
    "airflow.job_heartbeat_failure:1|c",
]

# Families dropped on purpose although they name a DAG: per-DAG scheduler internals
# (dependency-check timing) and DAG-file parse times keyed by bundle and file name.
DROPPED_ON_PURPOSE = ("airflow.dagrun.dependency-check.", "airflow.dag_processing.last_duration.")


@pytest.fixture(scope="module")
def rules():
    return load_rules()[1]


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str]]:
    lines = [line for line in SAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    return [parse_line(line) for line in lines]


def test_every_rule_is_valid_for_the_exporter(rules):
    config, _ = load_rules()
    assert config["defaults"]["observer_type"] == "histogram"
    for rule in rules:
        assert METRIC_NAME_RE.match(rule.name), rule.name
        assert all(LABEL_NAME_RE.match(label) for label in rule.labels), rule
        if rule.match_type == "glob":
            assert GLOB_RE.match(rule.match), f"the exporter rejects glob {rule.match!r}"
        else:
            re.compile(rule.match)
        if rule.action == "map":
            assert rule.metric_type in ("counter", "gauge", "observer"), rule.match
    assert rules[-1].match == "." and rules[-1].action == "drop", "unmapped names must be dropped last"


def test_names_follow_prometheus_conventions(rules):
    for rule in (r for r in rules if r.action == "map"):
        assert rule.name.startswith("airflow_") and rule.name == rule.name.lower()
        if rule.metric_type == "counter":
            assert rule.name.endswith("_total"), rule.name
        else:
            assert not rule.name.endswith("_total"), rule.name
        if rule.metric_type == "observer":
            assert rule.name.endswith("_seconds"), f"{rule.name}: timers are exported in seconds"


def test_one_name_has_one_type_and_one_label_set(rules):
    """The exporter refuses a second label set or type for a metric name it already has."""
    seen: dict[str, tuple[str, frozenset]] = {}
    for rule in (r for r in rules if r.action == "map"):
        shape = (rule.metric_type, frozenset(rule.labels))
        assert seen.setdefault(rule.name, shape) == shape, rule.name


@pytest.mark.parametrize("line, expected", [
    ("airflow.dag.etl_orders.extract.duration:1323.2|ms",
     Mapped("airflow_task_duration_seconds", {"dag_id": "etl_orders", "task_id": "extract"}, "observer")),
    ("airflow.ti.finish.flaky_ingest.fetch_partner_feed.failed:1|c",
     Mapped("airflow_ti_finish_total", {"dag_id": "flaky_ingest", "task_id": "fetch_partner_feed",
                                        "state": "failed"}, "counter")),
    ("airflow.ti.finish.etl_orders.etl_group__load.success:1|c",  # a task inside a task group
     Mapped("airflow_ti_finish_total", {"dag_id": "etl_orders", "task_id": "etl_group__load",
                                        "state": "success"}, "counter")),
    ("airflow.dagrun.duration.failed.flaky_ingest:12749.5|ms",
     Mapped("airflow_dagrun_duration_seconds", {"dag_id": "flaky_ingest", "state": "failed"}, "observer")),
    ("airflow.dagrun.duration.success.etl_orders:22693.2|ms",
     Mapped("airflow_dagrun_duration_seconds", {"dag_id": "etl_orders", "state": "success"}, "observer")),
    ("airflow.dagrun.etl_orders.first_task_scheduling_delay:2018|ms",
     Mapped("airflow_dagrun_first_task_scheduling_delay_seconds", {"dag_id": "etl_orders"}, "observer")),
    ("airflow.executor.queued_tasks.LocalExecutor:0|g",
     Mapped("airflow_executor_queued_tasks", {"executor": "LocalExecutor"}, "gauge")),
    ("airflow.pool.open_slots.default_pool:124|g",
     Mapped("airflow_pool_open_slots", {"pool": "default_pool"}, "gauge")),
    ("airflow.scheduler_heartbeat:1|c", Mapped("airflow_scheduler_heartbeat_total", {}, "counter")),
    ("airflow.operator_failures_PythonOperator:1|c",
     Mapped("airflow_operator_failures_total", {"operator": "PythonOperator"}, "counter")),
    ("airflow.job_heartbeat_failure:1|c",
     Mapped("airflow_job_heartbeat_failures_total", {"job": "job"}, "counter")),
    ("airflow.dag_processing.total_parse_time:0.78|g",
     Mapped("airflow_dag_processing_total_parse_time_seconds", {}, "gauge")),
    # Tag-less names Airflow sends next to the legacy ones carry no ids: dropped.
    ("airflow.task.duration:182.1|ms", None),
    ("airflow.ti.finish:1|c", None),
    ("airflow.executor.open_slots:4|g", None),
    # A counter never feeds a gauge rule, whatever its name.
    ("airflow.pool.open_slots.default_pool:1|c", None),
])
def test_airflow_names_become_labelled_metrics(rules, line, expected):
    assert map_metric(rules, *parse_line(line)) == expected


def test_every_sampled_metric_naming_a_dag_keeps_it_as_a_label(rules, sample):
    for name, metric_type in sample:
        dags = [dag for dag in DEMO_DAGS if f".{dag}." in f"{name}."]
        if not dags or name.startswith(DROPPED_ON_PURPOSE):
            continue
        mapped = map_metric(rules, name, metric_type)
        assert mapped is not None, f"{name} names DAG {dags[0]} but is dropped"
        assert mapped.labels.get("dag_id") == dags[0] or mapped.labels.get("file") == dags[0], (name, mapped)


def test_every_rule_takes_real_airflow_metrics(rules, sample):
    """No dead rule: each one maps a line of the real capture (or a documented legacy name)."""
    used = defaultdict(int)
    for name, metric_type in sample + [parse_line(line) for line in DOCUMENTED_NOT_SAMPLED]:
        mapped = map_metric(rules, name, metric_type)
        if mapped is not None:
            used[mapped.name] += 1
    unused = {r.name for r in rules if r.action == "map"} - set(used)
    assert unused == set(), "rules that match nothing Airflow sends"


def test_the_sample_is_a_real_capture(sample):
    """Guard against an edited sample: it holds the heartbeats and the DAGs' task metrics."""
    names = {name for name, _ in sample}
    assert {"airflow.scheduler_heartbeat", "airflow.ti_failures", "airflow.ti_successes"} <= names
    assert all(any(name.startswith(f"airflow.ti.finish.{dag}.") for name in names) for dag in DEMO_DAGS)
    assert len(sample) > 100
