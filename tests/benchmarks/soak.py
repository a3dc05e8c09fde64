"""Soak: the worker for 30 minutes against a real Airflow whose demo DAGs run every minute.

    python -m tests.benchmarks.soak [--minutes 30]      (or `make soak`)

Starts its own FalkorDB and Airflow 3.3 standalone (the demo DAGs), the real worker
(`python -m workers.worker`, syncing every 15 s) and the Streamlit app with a headless
Chromium keeping the Status page open (reloaded every 30 s, as an operator's screen
would). Every minute each demo DAG is triggered through the REST API. Samples the
worker's RSS every 10 s and reads its sync durations and problems from its log.
Targets (issue 9): RSS growth under 10% (last 5 min vs the 5 min after warm-up), no sync
slower than 2x the median, no error lines. Prints the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from orcai.airflow import AirflowClient
from orcai.config import load_settings
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT, start_airflow
from orcai.localstack.falkordb import port_open, start_falkordb
from orcai.localstack.process import start_service

FALKOR_PORT, AIRFLOW_PORT, APP_PORT, METRICS_PORT = 6387, 8389, 8621, 9477
DEMO_DAGS = ("etl_orders", "flaky_ingest", "ml_training", "regional_report")  # + the asset-triggered one
SYNC_LINE = re.compile(r"^(?P<at>\S+ \S+) .*synced .* in (?P<seconds>[\d.]+) s", re.MULTILINE)
WARMUP_S = 300


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args(argv)
    duration_s = args.minutes * 60

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        services = [start_falkordb(scratch / "falkordb", FALKOR_PORT)]
        try:
            services.append(start_airflow(scratch / "airflow", REPO_ROOT / ".orcai" / "airflow-venv",
                                          AIRFLOW_PORT, echo=lambda m: print(m, flush=True)))
            env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
            env.update({"ORCAI_AIRFLOW_URL": f"http://localhost:{AIRFLOW_PORT}",
                        "ORCAI_AIRFLOW_PASSWORD_FILE": str(scratch / "airflow" / PASSWORDS_FILE),
                        "ORCAI_GRAPH_URI": f"falkor://127.0.0.1:{FALKOR_PORT}/soak",
                        "ORCAI_SYNC_INTERVAL_S": "15", "ORCAI_METRICS_PORT": str(METRICS_PORT)})
            worker_log = scratch / "worker.log"
            worker = start_service("worker", [sys.executable, "-m", "workers.worker"], worker_log,
                                   env=env, cwd=REPO_ROOT)
            services.append(worker)
            services.append(start_service(
                "app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(APP_PORT),
                        "--server.address", "127.0.0.1", "--server.headless", "true"],
                scratch / "app.log", env=env, cwd=REPO_ROOT))
            while not port_open("127.0.0.1", APP_PORT):
                time.sleep(0.5)
            airflow = AirflowClient(load_settings(airflow_url=env["ORCAI_AIRFLOW_URL"],
                                                  airflow_password_file=env["ORCAI_AIRFLOW_PASSWORD_FILE"]))
            samples = run_soak(worker, airflow, duration_s)
            airflow.close()
            log_text = worker_log.read_text(errors="replace")
        finally:
            for service in reversed(services):
                service.stop()

    return report(samples, log_text, duration_s)


def run_soak(worker, airflow, duration_s: float) -> list[tuple[float, float]]:
    samples, started = [], time.monotonic()
    next_trigger = next_reload = started
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{APP_PORT}/")
        while (now := time.monotonic()) - started < duration_s:
            if not worker.running():
                raise RuntimeError("the worker died:\n" + worker.log_tail())
            if now >= next_trigger:
                for dag_id in DEMO_DAGS:
                    try:
                        airflow.set_paused(dag_id, False)
                        airflow.trigger_dag_run(dag_id)
                    except Exception as exc:  # SQLite "database is locked": next minute
                        print(f"trigger {dag_id} failed: {exc}", flush=True)
                next_trigger += 60
            if now >= next_reload:
                page.reload()
                next_reload += 30
            samples.append((now - started, rss_mb(worker.process.pid)))
            time.sleep(10)
        browser.close()
    return samples


def report(samples: list[tuple[float, float]], log_text: str, duration_s: float) -> int:
    matches = list(SYNC_LINE.finditer(log_text))
    syncs = [float(m["seconds"]) for m in matches]
    problems = [line for line in log_text.splitlines() if " ERROR " in line or " CRITICAL " in line]
    warmup_end = min(WARMUP_S, duration_s / 3)
    early = [rss for t, rss in samples if warmup_end <= t < warmup_end + 300] or [samples[0][1]]
    late = [rss for t, rss in samples if t >= duration_s - 300]
    growth = (statistics.mean(late) / statistics.mean(early) - 1) * 100
    median = statistics.median(syncs)
    slow = [s for s in syncs[1:] if s > 2 * median]  # the first sync reads the whole lookback
    print(f"Soak: {duration_s / 60:.0f} min, {len(syncs)} syncs, demo DAGs triggered every minute")
    print(f"  worker RSS: {statistics.mean(early):.0f} MB after warm-up -> {statistics.mean(late):.0f} MB "
          f"at the end ({growth:+.1f}%; target < 10%)")
    print(f"  sync seconds: median {median:.2f}, max after the first {max(syncs[1:], default=0):.2f}, "
          f"{len(slow)} slower than 2x the median (target 0)")
    if slow:  # when they happened, to line them up with what else the machine was doing
        print("  slow syncs at: " + ", ".join(f"{m['at'][11:19]} ({m['seconds']} s)" for m in matches[1:]
                                               if float(m["seconds"]) > 2 * median))
    print(f"  error lines in the worker log: {len(problems)} (target 0)")
    for line in problems[:5]:
        print("   ", line)
    return 0 if growth < 10 and not slow and not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
