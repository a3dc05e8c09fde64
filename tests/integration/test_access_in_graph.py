"""Every write path checks the person's role in orcai at the moment of writing, and records
who (name and subject), when and from which page: against a real FalkorDB."""

from __future__ import annotations

import pytest

from orcai.access import Person
from orcai.anomalies.review import review_anomaly
from orcai.errors import PermissionDenied
from orcai.graph import anomaly_store
from orcai.graph import policy_store as store
from orcai.policy import changes
from orcai.policy.actions import undo_pause
from orcai.policy.model import dump_policies_yaml, parse_policy

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000
VERA = Person("sub-vera", "Vera Viewer", frozenset({"viewer"}))
OLGA = Person("sub-olga", "Olga Operator", frozenset({"operator"}))
ADA = Person("sub-ada", "Ada Admin", frozenset({"admin"}))
POLICY = parse_policy({"name": "p1", "condition": "dag.consecutive_failures >= 2", "actions": ["pause"]})


@pytest.fixture
def seeded(graph):
    store.save_policy(graph, POLICY, "shipped: test.yaml", NOW, change="install")
    anomaly_store.load_anomalies(graph, [{"key": "slow:etl/r1", "kind": "slow", "dag_id": "etl", "task_id": "load",
                                          "run_id": "r1", "severity": "high", "score": 9.0, "reason": "slow",
                                          "detected_at": NOW, "target_label": "Dag", "target_key": "etl"}])
    return graph


def snapshot(graph):
    return (graph.read("MATCH (p:Policy) RETURN p.name AS n, p.version AS v, p.mode AS m, p.deleted AS d"),
            graph.read("MATCH (a:Anomaly) RETURN a.key AS k, a.status AS s"),
            graph.read("MATCH (n) WHERE n:Review OR n:Action RETURN count(n) AS n"))


def every_write(graph, person):
    other = parse_policy({"name": "p2", "condition": "true", "actions": ["alert"]})
    return {
        "acknowledge": lambda: review_anomaly(graph, "slow:etl/r1", "acknowledged", person, NOW, page="test"),
        "false positive": lambda: review_anomaly(graph, "slow:etl/r1", "false_positive", person, NOW, page="test"),
        "switch mode": lambda: changes.switch_mode(graph, person, "p1", "enforce", NOW, "test"),
        "create": lambda: changes.save(graph, person, other, NOW, None, "test"),
        "edit": lambda: changes.save(graph, person, POLICY, NOW, 1, "test"),
        "disable": lambda: changes.set_enabled(graph, person, "p1", False, NOW, "test"),
        "delete": lambda: changes.delete(graph, person, "p1", NOW, "test"),
        "import": lambda: changes.import_yaml(graph, person, dump_policies_yaml([other]), NOW, "test"),
        # refused before Airflow is ever asked: no client is needed to prove it
        "undo": lambda: undo_pause(graph, None, "some-action", person, NOW, "test"),
    }


def test_a_viewer_cannot_write_anything(seeded):
    before = snapshot(seeded)
    for name, write in every_write(seeded, VERA).items():
        with pytest.raises(PermissionDenied, match="Vera Viewer may not"):
            write()
    assert snapshot(seeded) == before


def test_an_operator_reviews_and_switches_mode_but_cannot_edit_policies(seeded):
    writes = every_write(seeded, OLGA)
    for name in ("create", "edit", "disable", "delete", "import"):
        with pytest.raises(PermissionDenied, match="takes the admin role"):
            writes[name]()
    assert writes["acknowledge"]() and writes["switch mode"]().mode == "enforce"
    [review] = anomaly_store.anomaly_history(seeded, "slow:etl/r1")
    assert (review["by"], review["subject"], review["page"], review["at"]) == ("Olga Operator", "sub-olga", "test", NOW)
    assert (review["before"], review["status"]) == ("open", "acknowledged")
    latest = store.policy_history(seeded, "p1")[0]
    assert (latest["author"], latest["subject"], latest["page"], latest["change"]) == (
        "Olga Operator", "sub-olga", "test", "mode")


def test_an_admin_may_do_everything_and_each_version_names_them(seeded):
    writes = every_write(seeded, ADA)
    for name in ("edit", "switch mode", "create", "import", "disable", "delete"):
        writes[name]()
    assert store.get_policy(seeded, "p1") is None
    assert {(v["author"], v["subject"]) for v in store.policy_history(seeded, "p1")[:-1]} == {("Ada Admin", "sub-ada")}
    assert [v["change"] for v in store.policy_history(seeded, "p2")] == ["import", "create"]
