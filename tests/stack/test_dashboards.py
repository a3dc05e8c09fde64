"""Grafana dashboards and alert rules only ask for metrics the stack really exports.

"Exported" is read, not listed: the StatsD exporter's names come from its mapping file, the
worker's from a freshly built `orcai.metrics` registry. Every query is also parsed by
Prometheus' own parser (`promtool check rules` on the queries as recording rules).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.stack.promql import exported_metric_names, metric_names
from tests.stack.tools import STACK, run_tool

DASHBOARDS = sorted((STACK / "grafana" / "dashboards").glob("*.json"))
# Grafana's own variables, as Grafana would substitute them before sending the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$dag_id": ".*"}


def load(path):
    return json.loads(path.read_text())


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [(f"{dashboard['uid']} / {panel['title']}", target["expr"])
             for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable.get("definition", ""))
        if match:
            found.append((f"{dashboard['uid']} / ${variable['name']}", match.group(1)))
    return found


def all_queries() -> list[tuple[str, str]]:
    return [query for path in DASHBOARDS for query in queries(load(path))]


def rule_expressions() -> list[tuple[str, str]]:
    return [(rule["alert"], rule["expr"]) for path in (STACK / "prometheus" / "rules").glob("*.yml")
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_metric_names()


def test_there_are_dashboards_for_airflow_and_orcai():
    uids = {load(path)["uid"] for path in DASHBOARDS}
    assert {"orcai-airflow-dags", "orcai-overview"} <= uids and len(uids) == len(DASHBOARDS)


@pytest.mark.parametrize("where, expr", all_queries(), ids=lambda value: value if "/" in value else "")
def test_every_panel_query_reads_exported_metrics(where, expr, exported):
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr!r}"
    assert names - exported == set(), f"{where} asks for metrics nothing exports"


@pytest.mark.parametrize("alert, expr", rule_expressions(), ids=lambda value: value if " " not in value else "")
def test_every_alert_rule_reads_exported_metrics(alert, expr, exported):
    assert metric_names(expr) - exported == set(), f"{alert} asks for metrics nothing exports"


@pytest.mark.integration  # runs Debian's promtool
def test_every_query_is_valid_promql(tmp_path):
    rules = []
    for index, (_, expr) in enumerate(all_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(path))
    assert f"{len(rules)} rules found" in result.stdout


def test_panels_use_the_provisioned_datasource():
    provisioned = yaml.safe_load((STACK / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        for panel in panels(load(path)):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, (path.name, panel["title"])
                assert all(target["datasource"]["uid"] == uid for target in panel["targets"])


def test_panel_ids_are_unique_and_panels_do_not_overlap():
    for path in DASHBOARDS:
        laid_out = panels(load(path))
        assert len({p["id"] for p in laid_out}) == len(laid_out), path.name
        cells = set()
        for panel in laid_out:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (path.name, panel["title"])
            area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & area, f"{path.name}: {panel['title']} overlaps another panel"
            cells |= area


def test_slack_links_open_existing_dashboards():
    template = (STACK / "alertmanager" / "templates" / "slack.tmpl").read_text()
    dashboards = {load(path)["uid"]: load(path) for path in DASHBOARDS}
    links = re.findall(r"/d/([\w-]+)/[\w-]+(?:\?var-(\w+)=)?", template)
    assert links
    for uid, variable in links:
        assert uid in dashboards, f"Slack links to a missing dashboard {uid}"
        if variable:
            assert variable in {v["name"] for v in dashboards[uid]["templating"]["list"]}


def test_grafana_loads_the_dashboards_folder_the_compose_file_mounts():
    provider = yaml.safe_load((STACK / "grafana" / "provisioning" / "dashboards" / "orcai.yml").read_text())
    compose = yaml.safe_load((STACK / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts
