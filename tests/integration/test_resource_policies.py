"""Resource policies with real parts: Debian's node exporter -> Debian's Prometheus -> a policy
-> a real Airflow pool (the session's Airflow 3.3), through the real worker's policy step.

The CPU fact is real: node exporter's /proc/stat reading of runnable processes, scraped by
Prometheus, asked by ORC AI as `resource.node_runnable`. The machine is shared and often
already 100 % busy, so the test does not threshold CPU *time* (it cannot rise above
saturation) but CPU *demand*: a bounded local load generator (niced busy loops, killed at
the end and by `timeout` in any case) raises the run queue well above what the calibration
saw. Dry run changes nothing; in enforce the worker lowers the pool's slots (Airflow reads
them back) and restores them when the load ends; Slack gets the throttle and the release.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from orcai.access import LOCAL_ADMIN
from orcai.graph import policy_store as store
from orcai.graph import pool_store
from orcai.policy.actions import undo_for
from orcai.policy.model import parse_policy
from orcai.policy.resources import load_resources
from tests.conftest import REPO_ROOT, api_json
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)
from workers.worker import Worker

pytestmark = pytest.mark.integration

LOAD_ABOVE_BASELINE = 30  # busy loops started on top of what the machine already runs
LOAD_LIMIT_S = 240  # each busy loop ends by itself after this, whatever happens to the test
POOL_SLOTS = 8


def promql(url: str, query: str) -> list:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=10) as r:
        return json.load(r)["data"]["result"]


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not within {timeout_s} s")


def resources_file(tmp_path) -> os.PathLike:
    """The shipped CPU busy query, plus CPU demand over a short window (the shipped one
    averages a minute: a test waits less)."""
    shipped = {q.name: q for q in load_resources(REPO_ROOT / "stack" / "policies" / "resources.yaml")}
    path = tmp_path / "resources.yaml"
    path.write_text(json.dumps({"resources": [
        {"name": "node_cpu_busy", "query": shipped["node_cpu_busy"].query, "unit": "ratio"},
        {"name": "node_runnable", "query": "avg_over_time(node_procs_running[5s])", "unit": "processes"}]}))
    return path


class LoadGenerator:
    """Niced busy loops: they make the run queue long, yet yield the CPU to everyone else."""

    def __init__(self, processes: int):
        self.processes = processes
        self.children: list[subprocess.Popen] = []

    def start(self) -> None:
        for _ in range(self.processes):
            self.children.append(subprocess.Popen(
                ["nice", "-n", "19", "timeout", str(LOAD_LIMIT_S), "sh", "-c", "while :; do :; done"],
                start_new_session=True))

    def stop(self) -> None:
        for child in self.children:
            try:
                os.killpg(child.pid, 9)
            except ProcessLookupError:
                pass
            child.wait()
        self.children = []


@pytest.fixture
def test_pool(airflow, request):
    name = f"orcai_throttle_{os.getpid()}_{request.node.name[5:25]}"
    api_json(airflow, "/pools", {"name": name, "slots": POOL_SLOTS, "description": "resource policy test"})
    return name


def pool_slots(airflow, name: str) -> int:
    return api_json(airflow, f"/pools/{name}")["slots"]


def test_cpu_demand_throttles_a_real_pool_and_releases_it_dry_run_first(airflow, node_prometheus, test_pool,
                                                                         graph_uri, tmp_path, slack_sink):
    url = node_prometheus.url
    wait_for(lambda: promql(url, "count_over_time(node_procs_running[30s]) >= 20"), 60, "20 s of node data")
    baseline = max(float(s["value"][1]) for s in promql(url, "max_over_time(node_procs_running[30s])"))
    threshold = baseline + 10
    processes = int(baseline) + LOAD_ABOVE_BASELINE
    assert processes <= 150, f"the machine is too busy to measure ({baseline} runnable)"
    settings = airflow.settings(graph_uri=graph_uri, prometheus_url=url, resources_file=resources_file(tmp_path),
                                policies_dir=tmp_path / "no-defaults", policy_max_actions_per_hour=100,
                                slack_webhook_url=slack_sink.webhook_url("resources"))
    worker = Worker(settings)
    load = LoadGenerator(processes)
    try:
        worker.cycle(step="sync")  # the schema and lock; the policy step needs no DAG
        now = int(time.time() * 1000)
        store.save_policy(worker.graph, parse_policy({
            "name": "hold-on-cpu", "condition": f"resource.node_cpu_busy >= 0.0 && resource.node_runnable > {threshold}",
            "actions": [{"type": "set_pool_slots", "pool": test_pool, "slots": 1}], "mode": "dry_run",
            "cooldown_min": 0}), "test", now)

        # Quiet: the real fact has a value, the condition is false, nothing happens.
        outcome = worker.cycle(step="policies")
        assert outcome.policies.evaluated == 1 and outcome.policies.fired == 0
        busy = worker.policies.resource_facts(store.load_policies(worker.graph)).values
        assert 0.0 <= busy["node_cpu_busy"] <= 1.0 and busy["node_runnable"] < threshold

        # Load, dry run: a would-be throttle is recorded, the pool is untouched.
        load.start()
        wait_for(lambda: worker.cycle(step="policies").policies.fired, 90, "a dry-run throttle")
        [would] = actions(worker.graph, "set_pool_slots")
        assert (would["status"], would["dry_run"], would["pool"]) == ("would_do", True, test_pool)
        assert json.loads(would["facts"])["resource"]["node_runnable"] > threshold
        assert pool_slots(airflow, test_pool) == POOL_SLOTS

        # Enforce: the worker lowers the pool, and Airflow reads back 1 slot.
        store.change_policy(worker.graph, "hold-on-cpu", "admin", int(time.time() * 1000), "mode", mode="enforce")
        wait_for(lambda: worker.cycle(step="policies") and pool_slots(airflow, test_pool) == 1, 90, "the throttle")
        state = pool_store.pool_states(worker.graph)[test_pool]
        assert (state["original_slots"], state["throttled_by"]) == (POOL_SLOTS, "hold-on-cpu")
        throttle = [a for a in actions(worker.graph, "set_pool_slots") if not a["dry_run"]]
        assert [a["status"] for a in throttle] == ["done"]

        # Still loaded: another cycle changes nothing (idempotent).
        assert worker.cycle(step="policies").policies.fired == 0

        # An admin undoes the throttle (the page's undo): the pool is restored at once, and the
        # policy leaves it alone while its condition still holds.
        assert undo_for(settings, worker.graph, throttle[0]["key"], LOCAL_ADMIN, int(time.time() * 1000)) == ("done", None)
        assert pool_slots(airflow, test_pool) == POOL_SLOTS
        assert store.get_action(worker.graph, throttle[0]["key"])["status"] == "undone"
        assert worker.cycle(step="policies").policies.fired == 0 and pool_slots(airflow, test_pool) == POOL_SLOTS

        # The load ends (the hold is lifted), comes back (a second throttle), ends again:
        # the pool gets its 8 slots back by itself.
        load.stop()
        wait_for(lambda: worker.cycle(step="policies") and
                 pool_store.pool_states(worker.graph)[test_pool]["held_off_by"] is None, 90, "the hold to lift")
        load.start()
        wait_for(lambda: worker.cycle(step="policies") and pool_slots(airflow, test_pool) == 1, 90, "a second throttle")
        second = [a for a in actions(worker.graph, "set_pool_slots") if not a["dry_run"] and a["status"] == "done"]
        assert [a["key"][-2:] for a in second] == [":2"]
        load.stop()
        wait_for(lambda: worker.cycle(step="policies") and pool_slots(airflow, test_pool) == POOL_SLOTS, 90,
                 "the release")
        undone, release = actions(worker.graph, "restore_pool_slots")  # the admin's undo, then the release
        assert (undone["policy"], undone["by"], undone["status"]) == ("undo", "admin", "done")
        assert (release["policy"], release["status"]) == ("hold-on-cpu", "done")
        assert store.get_action(worker.graph, second[0]["key"])["status"] == "released"
        assert pool_store.pool_states(worker.graph)[test_pool]["throttled_by"] is None

        # The channel also gets the session's failure digests and the admin's undo notice.
        sent = slack_sink.wait_for(lambda m: "resources" in m.path and m.body["text"].startswith("ORC AI: A policy"),
                                   count=4, timeout_s=15)
        texts = [m.body["text"] for m in sent]
        assert texts == [f"ORC AI: A policy would act (dry run) — Would throttle pool {test_pool}",
                         f"ORC AI: A policy acted — Throttled pool {test_pool}",
                         f"ORC AI: A policy acted — Throttled pool {test_pool}",
                         f"ORC AI: A policy acted — Released pool {test_pool}"], texts
        sent = [sent[0], sent[1], sent[3]]
        assert "resource.node_runnable = " in sent[1].text and "To undo" in sent[1].text
        assert f"restore {test_pool} to {POOL_SLOTS} slots" in sent[2].text
        print("SLACK throttle:", json.dumps(sent[1].body))
        print("SLACK release:", json.dumps(sent[2].body))
    finally:
        load.stop()
        worker.close()


def actions(graph, kind: str) -> list[dict]:
    rows = graph.read("MATCH (a:Action) WHERE a.kind = $kind RETURN properties(a) AS a ORDER BY a.at, a.key",
                      {"kind": kind})
    return [r["a"] for r in rows]


def test_prometheus_down_is_one_log_line_and_no_action(airflow, test_pool, graph_uri, tmp_path, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = airflow.settings(graph_uri=graph_uri, prometheus_url=dead, resources_file=resources_file(tmp_path),
                                policies_dir=tmp_path / "no-defaults", prometheus_timeout_s=2)
    worker = Worker(settings)
    try:
        worker.cycle(step="sync")
        store.save_policy(worker.graph, parse_policy({
            "name": "hold-on-cpu", "condition": "resource.node_cpu_busy > 0.0 && resource.node_runnable > 0.0",
            "actions": [{"type": "set_pool_slots", "pool": test_pool, "slots": 1}], "mode": "enforce",
            "cooldown_min": 0}), "test", int(time.time() * 1000))
        caplog.clear()
        with caplog.at_level(logging.INFO):
            outcome = worker.cycle(step="policies")
        lines = [r.getMessage() for r in caplog.records if "rometheus" in r.getMessage()]
        assert len(lines) == 1 and "unreachable" in lines[0], lines
        assert outcome.policies.fired == 0 and not outcome.failed_stages
        assert pool_slots(airflow, test_pool) == POOL_SLOTS
        [skip] = actions(worker.graph, "evaluate")
        assert skip["status"] == "skipped" and "resource.node_cpu_busy has no value" in skip["reason"]
        assert "unreachable" in skip["reason"]
    finally:
        worker.close()


@pytest.mark.usefixtures("fresh_streamlit_caches")
def test_the_policies_page_backtests_a_resource_policy_over_prometheus_history(node_prometheus, monkeypatch,
                                                                               graph_uri, graph, tmp_path):
    path = tmp_path / "resources.yaml"
    path.write_text(json.dumps({"resources": [{"name": "node_runnable", "unit": "processes",
                                               "query": "max_over_time(node_procs_running[2m])"}]}))
    wait_for(lambda: promql(node_prometheus.url, "count_over_time(node_procs_running[2m]) >= 60"), 150,
             "a minute of node data")
    monkeypatch.setenv("ORCAI_PROMETHEUS_URL", node_prometheus.url)
    monkeypatch.setenv("ORCAI_RESOURCES_FILE", str(path))
    app = run_page(monkeypatch, "policies", graph_uri)
    next(t for t in app.text_area if t.key.startswith("condition-")).input("resource.node_runnable >= 1").run()
    next(m for m in app.multiselect if m.key.startswith("actions-")).set_value(["set_pool_slots"]).run()
    next(t for t in app.text_input if t.key.startswith("pool-")).input("heavy").run()
    app.button(key="backtest").click().run()
    assert not app.exception, app.exception
    notes = [w.value for w in app.warning]
    assert any(n.startswith("resource.node_runnable has history from ") for n in notes), notes
    [firings] = [d.value for d in app.dataframe if "actions" in d.value.columns]
    assert list(firings["actions"])[:1] == ["set_pool_slots"]  # busy from the first point on: one throttle
    assert "resource.node_runnable = " in firings["reason"].iloc[0]
    assert int(app.metric[0].value) >= 1 and int(app.metric[2].value) >= 1
    print("PAGE backtest:", notes, firings.to_dict("records")[:2], [m.value for m in app.metric])


def test_a_pool_throttled_by_a_policy_that_is_then_disabled_gets_its_slots_back(airflow, test_pool, graph_uri,
                                                                                tmp_path):
    from orcai.airflow import AirflowClient
    from orcai.policy.actions import throttle_pool

    settings = airflow.settings(graph_uri=graph_uri, policies_dir=tmp_path / "no-defaults")
    worker = Worker(settings)
    client = AirflowClient(settings)
    try:
        worker.cycle(step="sync")
        now = int(time.time() * 1000)
        store.save_policy(worker.graph, parse_policy({
            "name": "hold-on-cpu", "condition": "resource.node_runnable > 1000", "mode": "enforce",
            "actions": [{"type": "set_pool_slots", "pool": test_pool, "slots": 2}]}), "test", now)
        assert throttle_pool(worker.graph, client, test_pool, 2, "hold-on-cpu", now) == ("done", None)
        assert pool_slots(airflow, test_pool) == 2
        store.change_policy(worker.graph, "hold-on-cpu", "admin", now, "disable", enabled=False)
        worker.cycle(step="policies")
        assert pool_slots(airflow, test_pool) == POOL_SLOTS
        [release] = actions(worker.graph, "restore_pool_slots")
        assert (release["status"], release["dry_run"]) == ("done", False) and "no longer throttles" in release["reason"]
        assert pool_store.pool_states(worker.graph)[test_pool]["throttled_by"] is None
    finally:
        client.close()
        worker.close()
