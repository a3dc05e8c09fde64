"""The alert outbox on a real FalkorDB: idempotent by key, failures stay pending."""

from __future__ import annotations

import pytest

from orcai.alerts.outbox import AlertRequest
from orcai.graph.alert_store import enqueue, mark_failed, mark_sent, pending


def alert(key: str, at: int) -> AlertRequest:
    return AlertRequest(key, "anomaly", {"reason": f"{key} ran 4x longer than usual"}, at, "etl_orders")


def test_enqueue_is_idempotent_by_key(graph):
    assert enqueue(graph, [alert("a1", 1), alert("a2", 2)]) == 2
    assert enqueue(graph, [alert("a1", 3), alert("a3", 4)]) == 1

    assert [a.key for a in pending(graph, now_ms=10)] == ["a1", "a2", "a3"]
    assert pending(graph, now_ms=10)[0].payload == {"reason": "a1 ran 4x longer than usual"}


def test_sent_alerts_leave_and_failed_ones_wait_for_their_retry(graph):
    enqueue(graph, [alert("a1", 1), alert("a2", 2)])
    mark_sent(graph, ["a1"], now_ms=5, channel="webhook")
    mark_failed(graph, ["a2"], "Slack answered 429", retry_at_ms=100)

    assert pending(graph, now_ms=50) == []
    assert [a.key for a in pending(graph, now_ms=100)] == ["a2"]
    enqueue(graph, [alert("a1", 7)])  # a repeat of a sent alert is not sent again
    assert [a.key for a in pending(graph, now_ms=100)] == ["a2"]


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown alert kind"):
        AlertRequest("x", "sms", {}, 0)
