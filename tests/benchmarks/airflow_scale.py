"""Benchmark against a real Airflow 3.3: quiet-sync cost, extraction rate, worker memory.

    python -m tests.benchmarks.airflow_scale [--runs 300] [--memory-dags 1000] [--sync-only]

Starts FalkorDB and `airflow standalone` with the demo DAGs and Airflow's example DAGs
(all paused, as a fresh deployment), then:

1. Incremental sync cost (issue 14, item 1): a full sync into an empty graph (to the end
   of its catch-up), then syncs with nothing changed in Airflow; at the default
   ORCAI_AIRFLOW_MAX_RPS and unthrottled. Reports API requests, seconds and what was
   written. Targets: requests <= 3 + pages of the DAG list, nothing written, under 5% of
   the full sync's time. `--sync-only` stops after this part.
2. Extraction at scale (item 3): creates `--runs` DAG runs of etl_orders through the REST
   API (the DAG stays paused, so they stay queued with their task instances; a SQLite
   Airflow on a busy 2-core machine creates about one a second, hence the default), then
   extracts them as a sync does (`updated_at_gte` filter, pages as large as the server
   allows: ORC AI asks for 10,000 and the server caps at its maximum_page_limit, 100 by
   default). Reports runs and task instances per second.
3. Worker memory (item 5): 1,000 synthetic DAGs with 14 days of history in the graph
   (~170k task runs), the real worker process (`python -m workers.worker`) cycling every
   5 s against this Airflow with detection on; its RSS from /proc. The first cycle refits
   the detector on the whole window (peak reported); the later cycles are the steady
   state. Target: steady state under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import urllib3

from orcai.airflow import AirflowClient
from orcai.config import load_settings
from orcai.graph.load import load_dags, load_tasks
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT
from orcai.simulate import Options, structure_from_records, synthetic_deployment, synthetic_history, write_history
from orcai.sync import sync_once
from tests.benchmarks.harness import Stopwatch, Target, airflow, empty_graph, falkordb, print_table, report_targets

PORT_OFFSET = int(os.environ.get("TEST_PORT_OFFSET", "0"))  # beside other sessions on one machine
FALKOR_PORT, AIRFLOW_PORT = 6387 + PORT_OFFSET, 8287 + PORT_OFFSET
EXTRACT_DAG = "etl_orders"
QUIET_SHARE, MEMORY_MB = 0.05, 500
DEMO_DAGS = ("etl_orders", "flaky_ingest", "ml_training", "orders_dashboard", "regional_report")


def settings_for(url: str, home: Path, graph_uri: str, **overrides):
    return load_settings(airflow_url=url, airflow_username="admin", airflow_password_file=home / PASSWORDS_FILE,
                         graph_uri=graph_uri, airflow_timeout_s=60, **overrides)


def wait_for_dags(client: AirflowClient, timeout_s: float = 300) -> None:
    """Until the demo DAGs are listed and the DAG count has not moved for 10 s (Airflow's
    examples parsed too: a full sync of half the DAGs would flatter the quiet/full ratio)."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while True:
        dag_ids = {d.dag_id for d in client.list_dags()}
        seen.append(len(dag_ids))
        if set(DEMO_DAGS) <= dag_ids and len(seen) >= 3 and seen[-1] == seen[-3]:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the DAGs were not parsed in time")
        time.sleep(5)


# --- 1. incremental sync cost ---------------------------------------------------------------

def full_sync(client, graph, settings):
    """A first sync, to the end of its catch-up (several cycles' worth when the history is long)."""
    reports = [sync_once(client, graph, settings)]
    while reports[-1].catch_up is not None:
        reports.append(sync_once(client, graph, settings))
    return reports


def sync_cost(settings, label: str = "") -> tuple[list[dict], list[Target]]:
    graph = empty_graph(settings_port(settings), "sync_cost_unthrottled" if label else "sync_cost")
    client = AirflowClient(settings)
    fulls = full_sync(client, graph, settings)
    full = fulls[-1]
    full_requests, full_s = sum(r.requests for r in fulls), sum(r.duration_s for r in fulls)
    # Right after a full sync the scheduler may still update a DAG (next run dates): a real
    # change. Once Airflow is still, a sync must write nothing.
    for _ in range(3):
        quiet = sync_once(client, graph, settings)
        if quiet.written.total == 0:
            break
    # The median of three quiet syncs: one answer of Airflow's can take twice the others.
    quiet_s = statistics.median([quiet.duration_s] + [sync_once(client, graph, settings).duration_s
                                                      for _ in range(2)])
    client.close()
    rows = [{"sync": f"full{label}", "DAGs": full.dags, "cycles": len(fulls), "requests": full_requests,
             "seconds": full_s, "written": sum(r.written.total for r in fulls)},
            {"sync": f"quiet{label} (median of 3)", "DAGs": quiet.dags, "cycles": 1, "requests": quiet.requests,
             "seconds": quiet_s, "written": quiet.written.total}]
    allowed = 3 + math.ceil(quiet.dags / 100)  # the DAG list's pages + versions + two streams
    return rows, [
        Target(f"quiet sync{label}: requests <= 3 + pages of the DAG list ({allowed})", quiet.requests <= allowed,
               f"{quiet.requests} requests for {quiet.dags} DAGs"),
        Target(f"quiet sync{label} writes nothing", quiet.written.total == 0, f"{quiet.written.total} writes"),
        Target(f"quiet sync{label} < {QUIET_SHARE:.0%} of a full sync", quiet_s < QUIET_SHARE * full_s,
               f"{quiet_s:.2f} s vs {full_s:.2f} s ({quiet_s / full_s:.1%})"),
    ]


def settings_port(settings) -> int:
    from urllib.parse import urlparse
    return urlparse(settings.graph_uri).port


# --- 2. extraction at scale ------------------------------------------------------------------

def create_runs(url: str, home: Path, dag_id: str, count: int, concurrency: int = 4) -> float:
    """POST `count` DAG runs (retrying SQLite's 'database is locked' 500s); returns seconds."""
    password = json.loads((home / PASSWORDS_FILE).read_text())["admin"]
    http = urllib3.PoolManager(maxsize=concurrency)
    token = http.request("POST", f"{url}/auth/token", json={"username": "admin", "password": password},
                         timeout=30).json()["access_token"]
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def post(index: int) -> None:
        body = {"dag_run_id": f"bench__{index:06d}", "logical_date": (base + timedelta(minutes=index)).isoformat()}
        for attempt in range(8):
            response = http.request("POST", f"{url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=60,
                                    headers={"Authorization": f"Bearer {token}"})
            if response.status in (200, 409):  # 409: already there from an earlier attempt
                return
            time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"creating run {index} failed: HTTP {response.status} {response.data[:200]!r}")

    with Stopwatch() as watch, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(count)))
    return watch.seconds


def extraction(settings, dag_id: str) -> tuple[dict, dict]:
    client = AirflowClient(settings.model_copy(update={"page_size": 10_000}))
    since = datetime.now(timezone.utc) - timedelta(days=1)
    with Stopwatch() as runs_watch:
        runs = client.list_dag_runs(dag_id, since)
    requests_runs = client.requests_made
    with Stopwatch() as tis_watch:
        task_instances = client.list_task_instances(dag_id, since)
    requests_tis = client.requests_made - requests_runs
    client.close()
    return ({"what": "DAG runs", "items": len(runs), "requests": requests_runs, "seconds": runs_watch.seconds,
             "items/s": len(runs) / runs_watch.seconds},
            {"what": "task instances", "items": len(task_instances), "requests": requests_tis,
             "seconds": tis_watch.seconds, "items/s": len(task_instances) / tis_watch.seconds})


# --- 3. worker memory ------------------------------------------------------------------------

MEMORY_SCHEDULE = "12:00:00"  # every 12 h: 14 days of 1,000 DAGs x 6 tasks = ~170k task runs


def load_synthetic_deployment(graph, n_dags: int) -> int:
    """`n_dags` DAGs of 6 tasks on a 12-hour schedule with the detector's 14 days of history,
    every run on its schedule (no thinning, so no run looks missing)."""
    dags, tasks = synthetic_deployment(n_dags)
    dags = [replace(dag, schedule=MEMORY_SCHEDULE) for dag in dags]
    load_dags(graph, dags)
    load_tasks(graph, [d.dag_id for d in dags], tasks)
    history = synthetic_history(structure_from_records(dags, tasks), 14, int(time.time() * 1000),
                                options=Options(max_runs_per_dag=28))
    write_history(graph, history)
    return len(history.task_runs)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_memory(url: str, home: Path, graph_uri: str, cycles: int = 4, timeout_s: float = 600) -> dict:
    """Run the real worker. Its first cycle refits the detector on the whole window (as it
    does again every ORCAI_DETECT_REFIT_MIN); the cycles after it are the steady state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_AIRFLOW_URL": url, "ORCAI_AIRFLOW_PASSWORD_FILE": str(home / PASSWORDS_FILE),
                "ORCAI_GRAPH_URI": graph_uri, "ORCAI_SYNC_INTERVAL_S": "5", "ORCAI_METRICS_PORT": "0",
                "ORCAI_AIRFLOW_TIMEOUT_S": "60",
                "ORCAI_WORKER_NAME": "bench"})
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        worker = subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=REPO_ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        first, steady, done = [], [], 0
        deadline = time.monotonic() + timeout_s
        try:
            while done < cycles and time.monotonic() < deadline and worker.poll() is None:
                (steady if done >= 2 else first).append(rss_mb(worker.pid))  # done: sync lines so far
                time.sleep(0.5)
                done = Path(log.name).read_text().count(" synced ")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        text = Path(log.name).read_text()
    judged = [line.split("judged ")[1].split(" runs")[0] for line in text.splitlines() if "judged " in line]
    if done < cycles:
        raise RuntimeError(f"the worker finished only {done} cycles; its log:\n{text[-3000:]}")
    return {"cycles": done, "first cycle (refit) peak MB": max(first), "steady-state peak MB": max(steady),
            "runs judged (first cycle)": judged[0] if judged else "0"}


def progress(message: str) -> None:
    print(f"[airflow_scale] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.airflow_scale")
    parser.add_argument("--runs", type=int, default=300, help="DAG runs to create for the extraction test")
    parser.add_argument("--memory-dags", type=int, default=1000)
    parser.add_argument("--sync-only", action="store_true", help="only the full and quiet sync costs")
    args = parser.parse_args(argv)
    env = {"AIRFLOW__CORE__LOAD_EXAMPLES": "True", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
           "ORC_DEMO_INTERVAL_MIN": "600", "ORCAI_CYCLE_SCHEDULE": ""}
    with falkordb(FALKOR_PORT) as falkor_port, airflow(AIRFLOW_PORT, env) as (url, home):
        graph_uri = f"falkor://127.0.0.1:{falkor_port}/sync_cost"
        settings = settings_for(url, home, graph_uri)
        wait_for_dags(AirflowClient(settings))
        progress("Airflow is up: full and quiet syncs")
        sync_rows, targets = sync_cost(settings)
        # The default ORCAI_AIRFLOW_MAX_RPS (10) throttles a full sync; unthrottled too, for a fair ratio.
        unthrottled = settings.model_copy(update={"airflow_max_rps": 1000.0})
        more_rows, more_targets = sync_cost(unthrottled, " (max 1000 rps)")
        sync_rows, targets = sync_rows + more_rows, targets + more_targets
        if args.sync_only:
            print(f"Incremental sync against Airflow 3.3 ({sync_rows[0]['DAGs']} DAGs: demo + Airflow's examples)")
            print_table(sync_rows)
            return report_targets(targets)
        progress(f"creating {args.runs} DAG runs through the API")
        create_s = create_runs(url, home, EXTRACT_DAG, args.runs)
        progress("extracting them")
        extracted = extraction(settings, EXTRACT_DAG)
        progress(f"loading {args.memory_dags} synthetic DAGs with history for the worker memory test")
        memory_graph = empty_graph(falkor_port, "memory")
        with Stopwatch() as load_watch:
            history_runs = load_synthetic_deployment(memory_graph, args.memory_dags)
        progress("running the worker")
        memory = worker_memory(url, home, f"falkor://127.0.0.1:{falkor_port}/memory")

    print(f"Incremental sync against Airflow 3.3 ({sync_rows[0]['DAGs']} DAGs: demo + Airflow's examples)")
    print_table(sync_rows)
    print(f"\nExtraction: {args.runs:,} runs of {EXTRACT_DAG} created through the API in {create_s:.0f} s; "
          f"read back with updated_at_gte, pages of up to 10,000 asked (server caps at its maximum_page_limit)")
    print_table(list(extracted))
    print(f"\nWorker memory: {args.memory_dags:,} synthetic DAGs with {history_runs:,} task runs "
          f"(14 days, loaded in {load_watch.seconds:.0f} s) plus the Airflow deployment; worker every 5 s")
    print_table([memory])
    runs_per_s = extracted[0]["items/s"]
    targets += [
        Target("extraction rate (reported; no target)", True,
               f"{runs_per_s:,.0f} runs/s, {extracted[1]['items/s']:,.0f} task instances/s"),
        Target(f"worker steady-state RSS < {MEMORY_MB} MB", memory["steady-state peak MB"] < MEMORY_MB,
               f"{memory['steady-state peak MB']:.0f} MB (first cycle, refitting on the whole window: "
               f"{memory['first cycle (refit) peak MB']:.0f} MB)"),
    ]
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
