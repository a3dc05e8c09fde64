"""Real-Airflow fault injection: does the incident ORC AI opens name the injected root?

    TEST_PORT_OFFSET=800 python -m tests.benchmarks.fault_injection [--rounds 1]

Starts FalkorDB and `airflow standalone` with three DAGs linked by assets across three
levels (tests/benchmarks/fault_dags/). Each round: a clean run of the chain (the baseline,
then one worker cycle), then for each level a fault injected there (that level triggered
with conf {"fail": true}), the real worker's cycle (sync, detection, incidents), and what
the open incidents name as root against the truth (the failed task); a clean chain run
recovers before the next fault. Small by design: one fault class (a task failure, at each
of three levels), not the ≥ 30 faults of five classes issue 17 asks for.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from orcai.airflow import AirflowClient
from orcai.config import load_settings
from orcai.graph import incident_store
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT, start_airflow
from tests.benchmarks.harness import falkordb, port, print_table
from workers.worker import Worker

DAGS = Path(__file__).parent / "fault_dags"
LEVELS = [("fault_extract", "extract"), ("fault_transform", "transform"), ("fault_report", "report")]
AIRFLOW_PORT, FALKOR_PORT = 8390, 7390
TOP1_TARGET = 0.80  # issue 17's target; exits non-zero below it


def log(message: str) -> None:
    print(f"[fault_injection] {message}", file=sys.stderr, flush=True)


def state(run) -> str:
    return str(getattr(run.state, "value", run.state))


def wait_quiet(client: AirflowClient, timeout_s: float = 300) -> None:
    """Until every run of the chain has finished (asset-triggered runs appear a little later)."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        busy = [r for d, _ in LEVELS for r in client.list_dag_runs(d, None) if state(r) not in ("success", "failed")]
        quiet_since = (quiet_since or time.monotonic()) if not busy else None
        if quiet_since and time.monotonic() - quiet_since > 15:
            return
        time.sleep(3)
    raise TimeoutError(f"the fault chain did not settle within {timeout_s} s")


def inject(client: AirflowClient, dag_id: str | None) -> None:
    """A clean chain run (dag_id None) or a failure injected at `dag_id`."""
    client.trigger_dag_run(dag_id or "fault_extract", conf={"fail": True} if dag_id else None)
    time.sleep(5)
    wait_quiet(client)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.fault_injection")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with falkordb(FALKOR_PORT) as falkor_port, tempfile.TemporaryDirectory() as home:
        home = Path(home)
        service = start_airflow(home, REPO_ROOT / ".orcai" / "airflow-venv", port(AIRFLOW_PORT), dags_folder=DAGS,
                                extra_env={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}, timeout_s=400,
                                echo=log)
        try:
            settings = load_settings(airflow_url=f"http://localhost:{port(AIRFLOW_PORT)}", airflow_username="admin",
                                     airflow_password_file=home / PASSWORDS_FILE, airflow_timeout_s=60,
                                     graph_uri=f"falkor://127.0.0.1:{falkor_port}/faults", sync_lookback_days=1,
                                     metrics_port=0)
            client = AirflowClient(settings)
            deadline = time.monotonic() + 240
            while {d for d, _ in LEVELS} - {d.dag_id for d in client.list_dags()}:
                assert time.monotonic() < deadline, "the fault DAGs were not parsed within 240 s"
                time.sleep(2)
            worker = Worker(settings)
            inject(client, None)
            worker.cycle()
            for round_no in range(1, args.rounds + 1):
                for dag_id, task_id in LEVELS:
                    log(f"round {round_no}: failure injected at {dag_id}.{task_id}")
                    inject(client, dag_id)
                    worker.cycle()
                    incidents = sorted(incident_store.open_incidents(worker.graph), key=lambda i: -(i["size"] or 0))
                    named = [f"{i['root_kind']}:{i['root_key']}" for i in incidents]
                    truth = f"task:{dag_id}.{task_id}"
                    rows.append({"round": round_no, "fault": f"{dag_id}.{task_id} fails", "truth": truth,
                                 "incidents": len(incidents), "named_root": named[0] if named else "(none)",
                                 "top1": bool(named) and named[0] == truth, "top3": truth in named[:3]})
                    inject(client, None)  # recover: a clean chain run
                    worker.cycle()
            worker.close()
            client.close()
        finally:
            service.stop()
    print_table(rows)
    right = sum(r["top1"] for r in rows)
    print(f"\n{len(rows)} faults injected on a real Airflow 3.3; top-1 root right for {right}/{len(rows)}, "
          f"top-3 for {sum(r['top3'] for r in rows)}/{len(rows)}; faults without an incident: "
          f"{sum(r['incidents'] == 0 for r in rows)}")
    return 0 if rows and right / len(rows) >= TOP1_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
