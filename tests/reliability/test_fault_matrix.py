"""The fault matrix: Airflow and the graph misbehave; the worker keeps going and loses nothing.

Each row injects one fault between the worker and a real service (a proxy in front of the
real Airflow, or the real FalkorDB killed), then checks: the worker's cycle does not raise,
it logs ONE clear line, the heartbeat the Status page reads carries the problem, and after
recovery the graph equals Airflow's truth (no lost runs, no duplicates, no ghost DAGs).
`make test` prints the table at the end.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

import pytest

from orcai.graph.worker_store import worker_heartbeats
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import start_falkordb
from orcai.localstack.process import start_service
from orcai.logs import quiet_libraries
from tests.airflow_truth import airflow_truth, duplicate_keys, graph_view, rounded
from tests.conftest import PORT_OFFSET, wait_for_quiet_airflow
from workers.worker import Worker

pytestmark = pytest.mark.integration
fault = pytest.mark.fault


def problem_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def assert_recovers_to_truth(worker: Worker, graph, airflow) -> None:
    wait_for_quiet_airflow(worker.airflow)
    outcome = worker.cycle()
    assert outcome is not None and outcome.sync.dag_errors == {}, "the recovery cycle failed"
    assert worker_heartbeats(graph)[0].get("last_error") is None
    assert graph_view(graph) == rounded(airflow_truth(airflow))
    assert duplicate_keys(graph) == {"Dag": 0, "Task": 0, "DagRun": 0, "TaskRun": 0, "Asset": 0}


@pytest.fixture
def worker_via_proxy(airflow_with_runs, proxy, graph_uri, graph):
    # The worker program's logging (workers/worker.py sets it up): without it, these rows
    # passed or failed on whether an earlier test in the session happened to set it.
    urllib3_level = logging.getLogger("urllib3.connectionpool").level
    quiet_libraries()
    # Small pages, so one sync is many requests and a fault can land in the middle of it; the
    # session's patient timeout, so a recovery cycle holds on a busy machine (the slow
    # responses row shortens it for its faulty cycle only).
    settings = airflow_with_runs.settings(airflow_url=proxy.url, graph_uri=graph_uri, page_size=20)
    worker = Worker(settings)
    yield worker
    worker.close()
    logging.getLogger("urllib3.connectionpool").setLevel(urllib3_level)


class SteppedClock:
    """The worker's clock, moved only by the test: what falls before or after a deadline (a
    Retry-After, a lock's lease) does not depend on how long a sync takes on this machine."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def faulty_cycle(worker, caplog) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        worker.cycle()
    return problem_lines(caplog)


@fault("API goes away mid-pagination (DAG list)", "one line; stops asking; graph = Airflow after restart")
def test_api_gone_while_listing_dags(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    proxy.inject("refuse", path="/api/v2/dags?", after=2)  # the third page of DAGs never comes
    before = proxy.requests
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "unreachable" in lines[0]
    assert proxy.requests - before <= 5  # a token, two pages, the refused one and its one retry
    assert "unreachable" in worker_heartbeats(graph)[0]["last_error"]
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("API goes away mid-sync (run pages)", "saves what arrived; stops asking; no per-DAG flood")
def test_api_gone_while_reading_runs(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    worker_via_proxy.cycle()  # a first full sync (120 task lists): the fault then hits the stream
    proxy.inject("refuse", path="/dagRuns", after=1)  # the stream's second page (task instances) never comes
    before = proxy.requests
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "unreachable" in lines[0], lines
    # The DAG list (6 pages of 20), DAG versions, the run page, the refused page and its
    # one retry: nothing per DAG, and nothing after the refusal.
    assert proxy.requests - before <= 11
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("HTTP 401 on every call (password changed)", "one line naming the setting to check")
def test_unauthorised(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    proxy.inject("status", path="/api/v2/", status=401)
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "ORCAI_AIRFLOW_PASSWORD" in lines[0], lines
    assert "401" in worker_heartbeats(graph)[0]["last_error"]
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("HTTP 429 with Retry-After", "backs off for the cycle instead of hammering; one line")
def test_rate_limited(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    worker_via_proxy.cycle()  # a first full sync: the fault then hits an incremental one
    proxy.inject("status", path="/taskInstances", status=429, retry_after=30)
    before = proxy.requests
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "HTTP 429" in lines[0] and "retry after 30 s" in lines[0], lines
    assert proxy.requests - before < 60
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("HTTP 500 on some DAGs' task lists", "other DAGs sync; one warning line; retried next cycle")
def test_server_errors_for_some_dags(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    proxy.inject("status", path="/dags/etl_orders/tasks", status=500)
    proxy.inject("status", path="/dags/ml_training/tasks", status=500)
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "2 DAGs failed" in lines[0] and "etl_orders" in lines[0], lines
    assert worker_heartbeats(graph)[0]["dag_errors"] == 2
    read = {r["id"] for r in graph.read("MATCH (d:Dag) WHERE d.tasks_synced_at IS NOT NULL RETURN d.dag_id AS id")}
    assert "flaky_ingest" in read and "etl_orders" not in read  # its task list is asked for again next cycle
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("responses slower than the timeout", "gives up within the timeout; one line")
def test_slow_responses(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    from orcai.airflow import AirflowClient
    patient = worker_via_proxy.airflow
    worker_via_proxy.airflow = AirflowClient(worker_via_proxy.settings.model_copy(update={"airflow_timeout_s": 3}))
    slow = proxy.inject("slow", path="/dagRuns", seconds=8)
    try:
        lines = faulty_cycle(worker_via_proxy, caplog)
    finally:
        worker_via_proxy.airflow.close()
        worker_via_proxy.airflow = patient

    # Waiting each answer out, the sync would ask about all 119 DAGs (and take minutes); timing
    # out after 3 s, it stops after the requests in flight (4) and their retries: no clock needed.
    assert slow.seen < 20, slow.seen
    assert len(lines) == 1 and "unreachable" in lines[0], lines
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("truncated JSON (DAG list)", "one line saying the payload was invalid")
def test_truncated_json(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    proxy.inject("truncated", path="/api/v2/dags?", times=1)
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "invalid JSON" in lines[0], lines
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


@fault("malformed JSON (a DAG's task list)", "the DAG is skipped with a reason; the rest sync")
def test_malformed_json(worker_via_proxy, proxy, graph, airflow_with_runs, caplog):
    proxy.inject("malformed", path="/dags/flaky_ingest/tasks")
    lines = faulty_cycle(worker_via_proxy, caplog)

    assert len(lines) == 1 and "flaky_ingest" in lines[0] and "malformed payload" in lines[0], lines
    proxy.clear()
    assert_recovers_to_truth(worker_via_proxy, graph, airflow_with_runs)


class KillsTheServerMidWrite:
    """Fault injection around the real graph: SIGKILL FalkorDB just before the Nth write."""

    def __init__(self, graph, server, at_write: int):
        self.graph, self.server, self.at_write, self.writes = graph, server, at_write, 0
        self.engine = graph.engine

    def write(self, cypher, params=None):
        self._count_and_kill()
        return self.graph.write(cypher, params)

    def write_returning(self, cypher, params=None):
        self._count_and_kill()
        return self.graph.write_returning(cypher, params)

    def _count_and_kill(self):
        self.writes += 1
        if self.writes == self.at_write:
            os.killpg(self.server.process.pid, signal.SIGKILL)
            self.server.process.wait()

    def __getattr__(self, name):
        return getattr(self.graph, name)


@fault("graph server killed mid-write, restarted", "one line; next cycle rewrites the batch; no duplicates")
def test_graph_killed_mid_write(airflow_with_runs, tmp_path, caplog):
    port = 6395 + PORT_OFFSET
    server = start_falkordb(tmp_path / "falkordb", port)
    settings = airflow_with_runs.settings(graph_uri=f"falkor://127.0.0.1:{port}/killed")
    worker = Worker(settings)
    real_graph = worker.graph
    worker.graph = KillsTheServerMidWrite(real_graph, server, at_write=4)
    try:
        lines = faulty_cycle(worker, caplog)
        assert len(lines) == 1 and "FalkorDB" in lines[0] and "unreachable" in lines[0], lines

        server = start_falkordb(tmp_path / "falkordb", port)  # same data folder: what was saved
        worker.graph = real_graph
        assert_recovers_to_truth(worker, real_graph, airflow_with_runs)
    finally:
        worker.close()
        server.stop()


@fault("graph unreachable when the worker starts", "one line per cycle; syncs once the graph is up")
def test_graph_down_at_start(airflow_with_runs, tmp_path, caplog):
    port = 6396 + PORT_OFFSET
    worker = Worker(airflow_with_runs.settings(graph_uri=f"falkor://127.0.0.1:{port}/late"))
    server = None
    try:
        for _ in range(2):
            lines = faulty_cycle(worker, caplog)
            assert len(lines) == 1 and "unreachable" in lines[0].lower(), lines
        server = start_falkordb(tmp_path / "falkordb", port)
        assert_recovers_to_truth(worker, worker.graph, airflow_with_runs)
    finally:
        worker.close()
        if server:
            server.stop()


@fault("worker SIGKILLed mid-sync, restarted", "the restarted worker resumes; graph = Airflow")
def test_worker_killed_mid_cycle(airflow_with_runs, proxy, graph_uri, graph, tmp_path):
    proxy.inject("slow", path="/taskInstances", seconds=1)  # make the first sync long enough to kill
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_AIRFLOW_URL": proxy.url, "ORCAI_GRAPH_URI": graph_uri, "ORCAI_METRICS_PORT": "0",
                "ORCAI_AIRFLOW_PASSWORD_FILE": str(airflow_with_runs.password_file),
                "ORCAI_SYNC_LOOKBACK_DAYS": "2", "ORCAI_SYNC_INTERVAL_S": "5", "ORCAI_PAGE_SIZE": "20"})
    command = [sys.executable, "-m", "workers.worker"]
    worker = start_service("worker", command, tmp_path / "worker1.log", env=env, cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    while proxy.requests < 40 and time.monotonic() < deadline:  # well into the first sync
        time.sleep(0.2)
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert not worker_heartbeats(graph) or worker_heartbeats(graph)[0].get("last_ok_at") is None

    proxy.clear()
    restarted = start_service("worker", command, tmp_path / "worker2.log", env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            beats = worker_heartbeats(graph)
            if beats and beats[0].get("last_ok_at"):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the restarted worker never finished a sync:\n" + restarted.log_tail())
    finally:
        restarted.stop()
    wait_for_quiet_airflow_via(airflow_with_runs)
    assert graph_view(graph) == rounded(airflow_truth(airflow_with_runs))
    assert duplicate_keys(graph) == {"Dag": 0, "Task": 0, "DagRun": 0, "TaskRun": 0, "Asset": 0}


def wait_for_quiet_airflow_via(airflow) -> None:
    from orcai.airflow import AirflowClient
    client = AirflowClient(airflow.settings())
    try:
        wait_for_quiet_airflow(client)
    finally:
        client.close()


@fault("Slack rate-limits the worker (429, Retry-After 15 s)",
       "cycles go on; the notice waits for Retry-After; delivered exactly once")
def test_slack_rate_limited(airflow_with_runs, slack_sink, graph_uri, graph, caplog):
    from orcai.airflow import AirflowClient
    from tests.conftest import trigger
    client = AirflowClient(airflow_with_runs.settings())
    try:
        client.set_paused("flaky_ingest", False)
        trigger(client, "flaky_ingest", conf={"fail": True})
        wait_for_quiet_airflow(client)
    finally:
        client.close()
    clock = SteppedClock(time.time())
    worker = Worker(airflow_with_runs.settings(graph_uri=graph_uri,
                                               slack_webhook_url=slack_sink.webhook_url("matrix")), clock=clock)
    def delivered():
        return [m for m in slack_sink.received if "matrix" in m.path]

    def alert_of_the_failed_run():
        # The failure is announced as an incident rooted at flaky_ingest (or as a failure digest
        # when no incident holds it); earlier failures in the session may share that notice.
        rows = graph.read("MATCH (a:Alert) WHERE a.dag_id = 'flaky_ingest' AND a.kind IN ['digest', 'incident'] "
                          "RETURN a.status AS status, a.attempts AS attempts")
        return [dict(t) for t in sorted({tuple(r.items()) for r in rows})]
    try:
        slack_sink.fail_next(1, status=429, retry_after=15)
        lines = faulty_cycle(worker, caplog)
        assert [line for line in lines if "Slack" in line] and not delivered()
        assert alert_of_the_failed_run() == [{"status": "pending", "attempts": 1}]

        clock.advance(14)  # a cycle before Retry-After: it syncs, and the notice waits
        outcome = worker.cycle()
        assert outcome is not None and (outcome.alerts.messages, outcome.alerts.failed) == (0, 0)
        assert not delivered() and alert_of_the_failed_run() == [{"status": "pending", "attempts": 1}]

        clock.advance(1)  # Retry-After is over: the next cycle delivers
        outcome = worker.cycle()
        assert outcome.alerts.pending == 0 and len(delivered()) == outcome.alerts.messages > 0
        assert alert_of_the_failed_run() == [{"status": "sent", "attempts": 2}]
        assert any("flaky_ingest" in m.text for m in delivered())

        sent = len(delivered())
        clock.advance(600)
        assert worker.cycle() is not None and len(delivered()) == sent  # and never again
    finally:
        worker.close()


@fault("two workers on one graph; the holder dies", "only one acts; the other waits, then takes over")
def test_two_workers_one_graph(airflow_with_runs, graph_uri, graph, caplog):
    from orcai.graph.lock import GraphLock
    settings = airflow_with_runs.settings(graph_uri=graph_uri)
    clock = SteppedClock(time.time())
    first, second = Worker(settings), Worker(settings, clock=clock)
    try:
        assert first.cycle() is not None  # the first works and releases the lock
        # Now the first dies mid-cycle: it holds the lock and never releases it.
        clock.now = time.time()  # not behind the watermarks the first one wrote
        first.lock = GraphLock(first.graph, "cycle", holder="first-worker", ttl_s=60, clock=clock)
        assert first.lock.acquire()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert second.cycle() is None and second.lock_busy  # the second waits its turn
        assert "first-worker" in caplog.text and not problem_lines(caplog)
        clock.advance(61)  # the dead holder's lease runs out
        assert second.cycle() is not None and not second.lock_busy
        assert_recovers_to_truth(second, graph, airflow_with_runs)
    finally:
        first.close()
        second.close()
