"""Resource facts and per-cycle policies (pools, tags), pure: definitions, fact shapes,
throttle / release decisions with the guardrails, and the Prometheus client against a local
HTTP server (a real socket, Prometheus's JSON)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from orcai.config import load_settings
from orcai.errors import PolicyInvalid
from orcai.policy.engine import Guardrails, PastAction, decide_cycle
from orcai.policy.facts import facts_for
from orcai.policy.model import parse_policy
from orcai.policy.resources import (
    ResourceQuery, fact_value, load_resources, load_resources_yaml, read_resource_facts, resources_used,
)
from orcai.prometheus import PrometheusClient

NOW = 1_767_225_600_000
REPO = Path(__file__).resolve().parents[2]


def throttle(**fields):
    data = {"name": "hold", "condition": "resource.cpu > 0.9", "version": 1, "mode": "enforce", "cooldown_min": 0,
            "actions": [{"type": "set_pool_slots", "pool": "heavy", "slots": 1}]}
    return parse_policy({**data, **fields})


def test_shipped_resource_definitions_load_and_name_the_issue_examples():
    names = {q.name: q for q in load_resources(REPO / "stack/policies/resources.yaml")}
    assert {"node_cpu_busy", "pool_occupancy", "pool_queued_tasks", "executor_open_slots",
            "k8s_container_cpu_cores"} <= set(names)
    assert "container_cpu_usage_seconds_total" in names["k8s_container_cpu_cores"].query
    assert names["pool_occupancy"].by == "pool"


def test_bad_definitions_are_listed():
    with pytest.raises(PolicyInvalid) as raised:
        load_resources_yaml("resources:\n  - name: Bad Name\n    query: up\n  - name: ok\n    query: up\n    color: red\n")
    assert len(raised.value.problems) == 2


def test_fact_shapes():
    assert fact_value(ResourceQuery("cpu", "q"), [({}, 0.5)]) == 0.5
    assert fact_value(ResourceQuery("occ", "q", by="pool"), [({"pool": "a"}, 1.0), ({"pool": "b"}, 2.0)]) == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="no data"):
        fact_value(ResourceQuery("cpu", "q"), [])
    with pytest.raises(ValueError, match="2 series"):
        fact_value(ResourceQuery("cpu", "q"), [({"a": "1"}, 1.0), ({"a": "2"}, 1.0)])
    assert resources_used('resource.cpu > 0.9 && resource.occ["a"] > 1') == {"cpu", "occ"}


def test_pool_policy_conditions_use_resource_and_now_only_and_need_a_pool_and_slots():
    with pytest.raises(PolicyInvalid, match="once per cycle"):
        throttle(condition="dag.consecutive_failures > 1")
    with pytest.raises(PolicyInvalid, match="needs a pool and slots"):
        throttle(actions=[{"type": "set_pool_slots", "pool": "heavy"}])
    with pytest.raises(PolicyInvalid, match="needs a tag"):
        throttle(actions=["pause_tag"])
    assert throttle().per_cycle and throttle().to_dict()["actions"] == [{"type": "set_pool_slots", "pool": "heavy", "slots": 1}]


def decide(policies, cpu, pools=None, past=(), guardrails=Guardrails(), facts_by_dag=None, missing=None):
    resources = {} if cpu is None else {"cpu": cpu}
    return decide_cycle(policies, resources, missing or {}, facts_by_dag or {}, pools or {}, list(past), guardrails, NOW)


def test_throttle_while_true_release_when_clear_once_each():
    [first] = decide([throttle()], 0.95).decisions
    assert (first.action.type, first.status, first.key) == ("set_pool_slots", "execute", "hold@v1:set_pool_slots:heavy:1")
    held = {"heavy": {"throttled_by": "hold", "original_slots": 8, "episode": 1}}
    assert decide([throttle()], 0.95, held).decisions == []  # still true: nothing new
    [release] = decide([throttle()], 0.2, held).decisions
    assert (release.action.type, release.action.slots, release.key) == ("restore_pool_slots", 8,
                                                                        "hold@v1:restore_pool_slots:heavy:1")
    assert decide([throttle()], 0.2, {"heavy": {"episode": 1}}).decisions == []  # released: quiet
    [again] = decide([throttle()], 0.95, {"heavy": {"episode": 1}}).decisions
    assert again.key.endswith(":heavy:2")  # the next throttle is a new action


def test_dry_run_protected_pool_cap_and_undo_hold():
    [dry] = decide([throttle(mode="dry_run")], 0.95).decisions
    assert dry.status == "would_do" and "would set pool heavy to 1 slot." in dry.reason
    [protected] = decide([throttle()], 0.95, guardrails=Guardrails(protected_pools=("hea*",))).decisions
    assert protected.status == "skipped" and "ORCAI_PROTECTED_POOLS" in protected.reason
    past = [PastAction(f"k{i}", "other", "etl", "done", NOW - 1000, False, "pause") for i in range(10)]
    [deferred] = decide([throttle()], 0.95, past=past).decisions
    assert deferred.status == "deferred"
    held_off = {"heavy": {"held_off_by": "hold", "episode": 1}}
    assert decide([throttle()], 0.95, held_off).decisions == []  # a person undid it: hold off
    assert decide([throttle()], 0.2, held_off).released == [("hold", "heavy")]


def test_a_missing_resource_skips_the_policy_with_the_reason():
    result = decide([throttle()], None, missing={"cpu": "Prometheus at http://x is unreachable"})
    assert result.decisions == [] and "resource.cpu has no value: Prometheus at http://x" in result.skipped["hold"]


def test_pause_tag_pauses_each_unpaused_dag_with_the_tag_but_protected_ones():
    policy = throttle(actions=[{"type": "pause_tag", "tag": "heavy"}])
    dags = {d: facts_for({"dag_id": d, "tags": tags, "is_paused": paused}, [], {}, NOW)
            for d, tags, paused in (("a", ["heavy"], False), ("b", ["heavy"], True), ("c", ["light"], False),
                                    ("orcai_cycle", ["heavy"], False))}
    decisions = decide([policy], 0.95, facts_by_dag=dags).decisions
    assert [(d.dag_id, d.status) for d in decisions] == [("a", "execute"), ("orcai_cycle", "skipped")]


class _Prometheus(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if "bad" in self.path:
            body, status = {"status": "error", "errorType": "bad_data", "error": "parse error"}, 400
        else:
            body, status = {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"pool": "default_pool"}, "value": [1, "0.75"]},
                {"metric": {"pool": "heavy"}, "value": [1, "NaN"]}]}}, 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args):
        pass


def test_prometheus_client_facts_errors_and_down():
    server = HTTPServer(("127.0.0.1", 0), _Prometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = PrometheusClient(load_settings(prometheus_url=f"http://127.0.0.1:{server.server_port}"))
        queries = [ResourceQuery("occ", "occupancy", by="pool"), ResourceQuery("broken", "bad(")]
        facts = read_resource_facts(client, queries)
        assert facts.values == {"occ": {"default_pool": 0.75}} and facts.unreachable is None
        assert "HTTP 400" in facts.missing["broken"] and "parse error" in facts.missing["broken"]
    finally:
        server.shutdown()
        server.server_close()
    down = read_resource_facts(client, queries)
    assert down.values == {} and "unreachable" in down.unreachable and set(down.missing) == {"occ", "broken"}


def test_backtest_of_a_pool_policy_throttles_and_releases_over_history_and_says_what_it_lacks():
    from orcai.policy.backtest import ResourceHistory, backtest
    minute = 60_000
    cpu = {NOW + i * minute: v for i, v in enumerate([0.2, 0.95, 0.97, 0.5, 0.4, 0.99])}
    result = backtest(throttle(), [], [], {}, NOW, ResourceHistory({"cpu": cpu}, {}))
    assert [(f.at, f.actions) for f in result.firings] == [
        (NOW + minute, ("set_pool_slots",)), (NOW + 3 * minute, ("restore_pool_slots",)),
        (NOW + 5 * minute, ("set_pool_slots",))]
    assert result.runs_checked == 6 and "resource.cpu = 0.95" in result.firings[0].reason
    empty = backtest(throttle(), [], [], {}, NOW, ResourceHistory({}, {"cpu": "Prometheus holds no history of it"}))
    assert empty.firings == [] and empty.notes == ["resource.cpu cannot be replayed: Prometheus holds no history of it"]


def test_backtest_of_a_dag_policy_reads_resources_at_each_run_end():
    from orcai.policy.backtest import ResourceHistory, backtest
    policy = parse_policy({"name": "busy-fail", "condition": "run.state == 'failed' && resource.cpu > 0.9",
                           "actions": ["alert"]})
    runs = [{"dag_id": "etl", "run_id": f"r{i}", "state": "failed", "at": NOW + i * 600_000,
             "end": NOW + i * 600_000 + 1000, "duration_s": 1.0, "run_type": "scheduled"} for i in range(3)]
    cpu = {NOW + 600_000: 0.95, NOW + 1_200_000: 0.1}  # nothing before the second run
    result = backtest(policy, [{"dag_id": "etl"}], runs, {}, NOW, ResourceHistory({"cpu": cpu}, {}))
    assert [f.run_id for f in result.firings] == ["r1"] and result.unjudged == 1


def test_a_dag_policy_reading_a_resource_explains_with_its_value():
    from orcai.policy.engine import decide
    policy = parse_policy({"name": "busy", "condition": "dag.runs_24h >= 0 && resource.cpu > 0.9",
                           "actions": ["alert"], "version": 1})
    facts = facts_for({"dag_id": "etl"}, [], {}, NOW)
    facts["resource"] = {"cpu": 0.95}
    [decision] = decide([policy], {"etl": facts}, [], Guardrails(), NOW).decisions
    assert "resource.cpu = 0.95" in decision.reason


def test_a_pool_left_throttled_by_a_policy_that_stopped_is_released():
    from orcai.policy.engine import release_orphans
    held = {"heavy": {"throttled_by": "hold", "original_slots": 8, "episode": 2}, "free": {"episode": 1}}
    assert release_orphans(held, [throttle()]) == []  # still enabled and enforced: its own release
    for stopped in ([throttle(enabled=False)], [throttle(mode="dry_run")], [],
                    [throttle(actions=[{"type": "set_pool_slots", "pool": "other", "slots": 1}])]):
        [restore] = release_orphans(held, stopped)
        assert (restore.action.type, restore.action.pool, restore.action.slots, restore.status) == (
            "restore_pool_slots", "heavy", 8, "execute")
        assert restore.policy.enforced and restore.key.endswith("restore_pool_slots:heavy:2")
