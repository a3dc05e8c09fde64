"""Prometheus' and Alertmanager's own tools accept the stack's configuration and rules."""

from __future__ import annotations

import pytest
import yaml

from tests.stack.tools import STACK, run_tool

pytestmark = pytest.mark.integration  # runs Debian's promtool and amtool
RULE_TESTS = sorted((STACK / "prometheus" / "tests").glob("*_test.yml"))


def test_prometheus_config_and_its_rule_files_are_valid():
    result = run_tool("promtool", "check", "config", str(STACK / "prometheus" / "prometheus.yml"))
    assert "2 rule files found" in result.stdout


def test_alert_rules_are_valid():
    rule_files = sorted((STACK / "prometheus" / "rules").glob("*.yml"))
    assert rule_files
    run_tool("promtool", "check", "rules", *map(str, rule_files))


def test_every_rule_file_has_unit_tests():
    tested = {path.name.removesuffix("_test.yml") for path in RULE_TESTS}
    rules = {path.stem for path in (STACK / "prometheus" / "rules").glob("*.yml")}
    assert rules == tested


def test_every_alert_is_seen_firing_in_a_unit_test():
    alerts = {rule["alert"] for path in (STACK / "prometheus" / "rules").glob("*.yml")
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}
    fired = {case["alertname"] for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts - fired == set()


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_alert_rules_unit_tests(test_file):
    result = run_tool("promtool", "test", "rules", str(test_file))
    assert "SUCCESS" in result.stdout


def test_alertmanager_config_and_templates_are_valid():
    result = run_tool("amtool", "check-config", str(STACK / "alertmanager" / "alertmanager.yml"))
    assert "1 receivers" in result.stdout and "SUCCESS" in result.stdout


def test_shipped_resource_queries_are_valid_promql_over_metrics_the_stack_has(tmp_path):
    """promtool parses each query of stack/policies/resources.yaml (as a recording rule); the
    Airflow ones read only names the StatsD mapping exports. Node exporter's and cAdvisor's
    names come from those exporters (the real node exporter one runs in
    tests/integration/test_resource_policies.py)."""
    from orcai.policy.resources import load_resources
    from tests.stack.promql import exported_metric_names, metric_names

    queries = load_resources(STACK / "policies" / "resources.yaml")
    rules = {"groups": [{"name": "resources", "rules": [{"record": f"orcai:{q.name}", "expr": q.query}
                                                        for q in queries]}]}
    (tmp_path / "resources_rules.yml").write_text(yaml.safe_dump(rules))
    run_tool("promtool", "check", "rules", str(tmp_path / "resources_rules.yml"))
    external = {"node_cpu_seconds_total", "container_cpu_usage_seconds_total"}
    for query in queries:
        unknown = metric_names(query.query) - exported_metric_names() - external
        assert not unknown, f"resource {query.name} reads {unknown}, which nothing in the stack exports"
