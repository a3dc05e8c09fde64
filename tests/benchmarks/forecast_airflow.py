"""Forecasts on real Airflow 3.3 runs, side by side with Airflow's own DeadlineAlert.

    TEST_PORT_OFFSET=1300 python -m tests.benchmarks.forecast_airflow [--minutes 25] [--warm 20]
        [--screenshot docs/images/running-now.png] [--runs-json runs.json]

Starts FalkorDB and `airflow standalone` (parallelism 8) with four DAGs
(tests/benchmarks/forecast_dags/): diamonds of four tasks that sleep a lognormal time,
scaled per DAG, whose `load` task shares a pool of two slots. Each DAG also carries
Airflow's `DeadlineAlert(DeadlineReference.AVERAGE_RUNTIME(), interval=0)` — the mean of
its last 10 runs, fixed when a run is created — whose callback records when it fired.

1. Usual history: `--warm` runs per DAG, not slowed. Each DAG's deadline is then the 90th
   percentile of those runs' times (trigger to end), written as its param
   `deadline="+Ns"`; the median is the DAG's usual run time.
2. Measured: for `--minutes`, every DAG keeps two runs going; a quarter of the runs have
   one task slowed 1.5–5× (conf). The real `workers.worker.Worker` runs a cycle every few
   seconds (sync, detection, forecasts, ...); after each, the forecasts it stored are read.

ORC AI alerts when a run's breach risk is 0.7 or more on two forecasts in a row before its
deadline: the stored `breach_risk_held`, which the shipped policy reads (as in forecast_quality); Airflow alerts when its callback fires before the
deadline. Reported for both: breach-alert precision and recall, median lead time (deadline
− alert) as a share of the DAG's usual run time; for ORC AI also the p80 coverage (runs
ending by the p80 of their first forecast) and the ETA's mean absolute percentage error
at half progress (the first forecast with half the tasks done, against the run's time).
Exits non-zero when an ORC AI target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from orcai.airflow import AirflowClient
from orcai.config import load_settings
from orcai.errors import AirflowResponseError, AirflowUnreachable
from orcai.forecast.load import lags_like_now
from orcai.forecast.stage import ForecastStage
from orcai.graph import forecast_store
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT, airflow_env, start_airflow
from tests.benchmarks.harness import Target, brier_skill, falkordb, port, print_table, report_targets
from tests.conftest import trigger
from workers.worker import Worker

DAGS = Path(__file__).parent / "forecast_dags"
DAG_IDS = ["fc_orders", "fc_ledger", "fc_billing", "fc_events"]
TASKS = ["extract", "clean", "enrich", "load"]
AIRFLOW_PORT, FALKOR_PORT, APP_PORT = 8394, 7394, 8624
ACTIVE_PER_DAG = 2  # the DAGs' max_active_runs: no run waits for another run of its DAG
SLOWED_SHARE, SLOWDOWN = 0.25, (1.5, 5.0)
CYCLE_S = 3.0
THRESHOLD = 0.7  # the shipped policy's: run.breach_risk_held >= 0.7
TARGETS = {"precision": 0.9, "recall": 0.8, "lead": 0.3, "coverage": (0.75, 0.85), "mape": 0.15}


def log(message: str) -> None:
    print(f"[forecast_airflow] {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    dag_id: str
    run_id: str
    slowed: str = ""  # "clean×3.2" when a task was slowed
    created_ms: int = 0  # Airflow's run_after: the trigger
    start_ms: int | None = None
    end_ms: int | None = None
    state: str = "queued"
    # at -> (progress, p50, p80, risk, deadline, risk held over two forecasts)
    forecasts: dict[int, tuple] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in ("success", "failed")


def _ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


class Bench:
    """The Airflow client, the real worker and the runs triggered, driven one step at a time."""

    def __init__(self, client: AirflowClient, worker: Worker):
        self.client, self.worker = client, worker
        self.runs: list[Run] = []
        self.rng = random.Random(15)

    def active(self, dag_id: str | None = None) -> list[Run]:
        return [r for r in self.runs if not r.done and (dag_id is None or r.dag_id == dag_id)]

    def top_up(self, slow: bool) -> None:
        """Trigger runs until each DAG has ACTIVE_PER_DAG going; with `slow`, some slowed."""
        for dag_id in DAG_IDS:
            for _ in range(ACTIVE_PER_DAG - len(self.active(dag_id))):
                conf, slowed = {}, ""
                if slow and self.rng.random() < SLOWED_SHARE:
                    task, factor = self.rng.choice(TASKS), round(self.rng.uniform(*SLOWDOWN), 2)
                    conf, slowed = {"slow": {task: factor}}, f"{task}×{factor}"
                made = trigger(self.client, dag_id, conf=conf or None)
                self.runs.append(Run(dag_id, made.dag_run_id, slowed, _ms(made.run_after)))

    def step(self) -> None:
        """One worker cycle, the forecasts it stored, then the runs' states from Airflow."""
        began = time.monotonic()
        self.worker.cycle()
        by_id = {(r.dag_id, r.run_id): r for r in self.active()}
        for row in forecast_store.running_now(self.worker.graph):
            run = by_id.get((row["dag_id"], row["run_id"]))
            if run is not None and row["forecast_at"] is not None:
                run.forecasts[row["forecast_at"]] = (row["progress"], row["eta_p50"], row["eta_p80"],
                                                     row["breach_risk"], row["deadline"], row["breach_risk_held"])
        for run in self.active():
            try:
                got = self.client.get_dag_run(run.dag_id, run.run_id)
            except (AirflowUnreachable, AirflowResponseError):  # a busy SQLite Airflow: asked next cycle
                continue
            run.state = str(getattr(got.state, "value", got.state))
            run.start_ms, run.end_ms = _ms(got.start_date), _ms(got.end_date)
        time.sleep(max(0.0, CYCLE_S - (time.monotonic() - began)))

    def drain(self, timeout_s: float = 900) -> None:
        deadline = time.monotonic() + timeout_s
        while self.active():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.active())} runs still going after {timeout_s} s")
            self.step()


def create_pool(home: Path, dags: Path) -> None:
    venv = (REPO_ROOT / ".orcai" / "airflow-venv").resolve()
    env = airflow_env(home, venv / "bin", port(AIRFLOW_PORT), dags)
    subprocess.run([str(venv / "bin" / "airflow"), "pools", "set", "forecast_db", "2", "the benchmark's contention"],
                   env=env, check=True, capture_output=True, timeout=180)


def wait_for_tags(client: AirflowClient, want: dict[str, str], timeout_s: float = 300) -> None:
    """Until Airflow lists each DAG with its tag: it has parsed them."""
    deadline = time.monotonic() + timeout_s
    while True:
        tags = {d.dag_id: {t.name for t in d.tags or ()} for d in client.list_dags()}
        if all(tag in tags.get(dag_id, ()) for dag_id, tag in want.items()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the DAGs were not parsed within {timeout_s} s: {tags}")
        time.sleep(3)


def wait_for_params(client: AirflowClient, want: dict[str, str], timeout_s: float = 300) -> None:
    """Until Airflow has re-parsed the DAGs with their deadline params."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {dag_id: ((client.list_tasks(dag_id)[0].params or {}).get("deadline") or {}).get("value")
                for dag_id in want}
        if seen == want:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"deadline params not parsed within {timeout_s} s: {seen}")
        time.sleep(3)


def set_deadlines(bench: Bench, dags: Path) -> tuple[dict[str, int], dict[str, float]]:
    """Each DAG's deadline (s after the trigger): the p90 of its usual runs; and their median."""
    deadlines, usual = {}, {}
    for dag_id in DAG_IDS:
        took = [(r.end_ms - r.created_ms) / 1000 for r in bench.runs if r.dag_id == dag_id and r.state == "success"]
        deadlines[dag_id] = int(np.ceil(np.quantile(took, 0.9)))
        usual[dag_id] = float(np.median(took))
    (dags / "deadlines.json").write_text(json.dumps(deadlines))
    wait_for_params(bench.client, {d: f"+{s}s" for d, s in deadlines.items()})
    return deadlines, usual


def orcai_alert(run: Run, deadline_ms: int) -> int | None:
    """When ORC AI alerts: the first forecast whose stored risk held over two forecasts in a
    row (`breach_risk_held`, what the shipped policy reads) is at or over the threshold."""
    for at in sorted(run.forecasts):
        if at >= deadline_ms:
            return None
        if (run.forecasts[at][5] or 0) >= THRESHOLD:
            return at
    return None


def airflow_alerts(path: Path) -> dict[tuple[str, str], int]:
    fired = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        fired.setdefault((row["dag_id"], row["run_id"]), int(row["fired_at"] * 1000))
    return fired


def score(runs: list[Run], alerts: dict, deadlines: dict, usual: dict) -> dict:
    tp = fp = fn = 0
    lead = []
    for run in runs:
        deadline_ms = run.created_ms + 1000 * deadlines[run.dag_id]
        at, breached = alerts.get((run.dag_id, run.run_id)), run.end_ms > deadline_ms
        fired = at is not None and at < deadline_ms
        tp, fp, fn = tp + (fired and breached), fp + (fired and not breached), fn + (breached and not fired)
        if fired and breached:
            lead.append((deadline_ms - at) / 1000 / usual[run.dag_id])
    return {"precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
            "lead": statistics.median(lead) if lead else 0.0, "alerts": tp + fp}


def lag_check(worker: Worker) -> list[dict]:
    """How well each task run's start lag is told by its task's other lags (leave one out):
    all of them, or only those with its pool's load most like the load as it became ready
    (what the forecast does for the tasks to start next). Per pool: mean absolute error of
    the median lag, and the mean pinball loss of the p80 (seconds; lower is better)."""
    history = ForecastStage(worker.settings)._history(worker.graph, DAG_IDS, int(time.time() * 1000))
    errors: dict[str, list[tuple]] = {}
    for dag, per_task in history.waits.items():
        for task, lags in per_task.items():
            loads = history.loads[dag][task]
            for i, lag in enumerate(lags):
                rest, rest_loads = np.delete(lags, i), np.delete(loads, i)
                near = lags_like_now(rest, rest_loads, None if np.isnan(loads[i]) else loads[i])
                row = []
                for told in (rest, rest if near is None else near):
                    p80 = np.quantile(told, 0.8)
                    row += [abs(np.median(told) - lag), 0.8 * (lag - p80) if lag > p80 else 0.2 * (p80 - lag)]
                errors.setdefault(history.pool_of.get((dag, task), "?"), []).append(tuple(row))
    return [{"pool": pool, "lags": len(rows), "median error, all": float(np.mean([r[0] for r in rows])),
             "median error, load like then": float(np.mean([r[2] for r in rows])),
             "p80 pinball, all": float(np.mean([r[1] for r in rows])),
             "p80 pinball, load like then": float(np.mean([r[3] for r in rows]))} for pool, rows in errors.items()]


def calibration(runs: list[Run]) -> tuple[float, float, float]:
    """p80 coverage of the first forecast; mean and median APE of the ETA at half progress."""
    covered, errors = [], []
    for run in runs:
        ordered = sorted(run.forecasts.items())
        if ordered and ordered[0][1][2] is not None:
            covered.append(run.end_ms <= ordered[0][1][2])
        half = next((f for at, f in ordered if (f[0] or 0) >= 0.5 and f[1] is not None and at < run.end_ms), None)
        if half is not None:
            errors.append(abs(half[1] - run.end_ms) / (run.end_ms - run.created_ms))
    return float(np.mean(covered)), float(np.mean(errors)), float(np.median(errors))


class RunningNowShot:
    """The Status page (the real app on this benchmark's graph) in Chromium, saved once a
    slowed run is forecast past its deadline."""

    def __init__(self, path: Path, graph_uri: str, logs: Path):
        import os
        from playwright.sync_api import sync_playwright
        from orcai.localstack.process import start_service
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
        env.update({"ORCAI_GRAPH_URI": graph_uri, "ORCAI_METRICS_PORT": "0"})
        self.path, self.url = path, f"http://127.0.0.1:{port(APP_PORT)}/"
        self.app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                                         "true", "--server.port", str(port(APP_PORT)), "--server.address",
                                         "127.0.0.1"], logs / "app.log", env=env, cwd=REPO_ROOT)
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                       args=["--no-sandbox", "--disable-dev-shm-usage"])
        self.taken = False

    def maybe(self, bench: Bench) -> None:
        latest = {r.run_id: r.forecasts[max(r.forecasts)] for r in bench.active() if r.slowed and r.forecasts}
        at_risk = [r for r in bench.active() if r.run_id in latest  # under way, forecast past its deadline
                   and (latest[r.run_id][0] or 0) > 0 and (latest[r.run_id][3] or 0) >= THRESHOLD]
        if self.taken or not at_risk:
            return
        page = self.browser.new_page(viewport={"width": 1900, "height": 1000})  # wide enough for Watch and Why
        try:
            page.goto(self.url, timeout=60_000)
            page.get_by_text("Running now").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3_000)  # the panel's data grid paints after its heading
            page.screenshot(path=str(self.path), full_page=True)
            self.taken = True
            log(f"screenshot of Running now ({at_risk[0].dag_id} {at_risk[0].slowed}) saved to {self.path}")
        finally:
            page.close()

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()
        self.app.stop()


def measure(args, home: Path, falkor_port: int) -> tuple[list[Run], dict, dict, dict, list[dict]]:
    dags = home / "dags"
    shutil.copytree(DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    service = start_airflow(home / "airflow", REPO_ROOT / ".orcai" / "airflow-venv", port(AIRFLOW_PORT),
                            dags_folder=dags, timeout_s=420, echo=log,
                            extra_env={"PYTHONPATH": str(dags), "AIRFLOW__CORE__PARALLELISM": "8",
                                       "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10"})
    shot = None
    try:
        create_pool(home / "airflow", dags)
        graph_uri = f"falkor://127.0.0.1:{falkor_port}/forecasts"
        settings = load_settings(airflow_url=f"http://localhost:{port(AIRFLOW_PORT)}", airflow_username="admin",
                                 airflow_password_file=home / "airflow" / PASSWORDS_FILE, airflow_timeout_s=60,
                                 graph_uri=graph_uri, sync_lookback_days=1, metrics_port=0, sync_interval_s=5)
        bench = Bench(AirflowClient(settings), Worker(settings))
        wait_for_tags(bench.client, {dag_id: "forecast-bench" for dag_id in DAG_IDS})
        log(f"usual history: {args.warm} runs per DAG")
        while sum(r.dag_id == DAG_IDS[0] for r in bench.runs) < args.warm:
            bench.top_up(slow=False)
            bench.step()
        bench.drain()
        deadlines, usual = set_deadlines(bench, dags)
        log(f"deadlines (s after the trigger) {deadlines}; usual run times {usual}")
        bench.step()  # the worker reads the new DAG versions' params before the measured runs start
        bench.step()
        warm = len(bench.runs)
        if args.screenshot:
            shot = RunningNowShot(args.screenshot.resolve(), graph_uri, home)
        log(f"measured runs for {args.minutes} min")
        stop_at = time.monotonic() + 60 * args.minutes
        while time.monotonic() < stop_at:
            bench.top_up(slow=True)
            bench.step()
            if shot is not None:
                shot.maybe(bench)
        bench.drain()
        measured = bench.runs[warm:]
        misses = airflow_alerts(dags / "deadline_misses.jsonl")
        lags = lag_check(bench.worker)
        bench.worker.close()
        bench.client.close()
        return measured, misses, deadlines, usual, lags
    finally:
        if shot is not None:
            shot.close()
        service.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.forecast_airflow")
    parser.add_argument("--minutes", type=float, default=25)
    parser.add_argument("--warm", type=int, default=20,
                        help="usual runs per DAG before measuring (Airflow's mean needs 10; a p90 deadline wants more)")
    parser.add_argument("--screenshot", type=Path, help="save the Status page during a slowed run here")
    parser.add_argument("--runs-json", type=Path, help="write every measured run with its forecasts here")
    args = parser.parse_args(argv)
    with falkordb(FALKOR_PORT) as falkor_port, tempfile.TemporaryDirectory() as home:
        runs, misses, deadlines, usual, lags = measure(args, Path(home), falkor_port)
    if args.runs_json:
        args.runs_json.write_text(json.dumps({"deadlines": deadlines, "usual": usual, "airflow_alerts": [
            [*key, at] for key, at in misses.items()], "runs": [asdict(r) for r in runs], "lags": lags}))
    print("\nStart lags told by the task's other lags (leave one out, seconds):")
    print_table(lags)
    return report(runs, misses, deadlines, usual)


def report(runs: list[Run], misses: dict, deadlines: dict, usual: dict) -> int:
    """The side-by-side table and one MET/MISS line per ORC AI target; the exit code."""
    done = [r for r in runs if r.state == "success"]
    due = {(r.dag_id, r.run_id): r.created_ms + 1000 * deadlines[r.dag_id] for r in done}
    breached = sum(r.end_ms > due[(r.dag_id, r.run_id)] for r in done)
    orcai = score(done, {(r.dag_id, r.run_id): orcai_alert(r, due[(r.dag_id, r.run_id)]) for r in done},
                  deadlines, usual)
    airflow = score(done, misses, deadlines, usual)
    coverage, mape, median_ape = calibration(done)
    before = [(f[3], r.end_ms > due[(r.dag_id, r.run_id)]) for r in done for at, f in r.forecasts.items()
              if at < due[(r.dag_id, r.run_id)] and f[3] is not None]  # every forecast made before its deadline
    skill = brier_skill([p for p, _ in before], [m for _, m in before])
    # ORC AI read each deadline from the DAG's param: its stored deadline is the benchmark's
    wrong = sum(f[4] != due[(r.dag_id, r.run_id)] for r in done for f in r.forecasts.values())
    print(f"\n{len(done)} real runs on Airflow 3.3 ({len(runs) - len(done)} failed, left out), "
          f"{sum(bool(r.slowed) for r in done)} slowed, {breached} missed their deadline; "
          f"{np.mean([len(r.forecasts) for r in done]):.1f} forecasts per run, {wrong} with another deadline")
    side_by_side = [("breach alert precision", "precision"), ("breach alert recall", "recall"),
                    ("median lead / usual run", "lead"), ("alerts", "alerts")]
    print_table([{"": label, "ORC AI": orcai[key], "Airflow AVERAGE_RUNTIME": airflow[key]}
                 for label, key in side_by_side]
                + [{"": label, "ORC AI": value, "Airflow AVERAGE_RUNTIME": "—"}
                   for label, value in (("p80 coverage", coverage), ("ETA MAPE at 50 % progress", mape),
                                        ("ETA median APE at 50 %", median_ape),
                                        ("breach risk Brier skill", skill))])
    low, high = TARGETS["coverage"]
    return report_targets([
        Target("ORC AI breach alert precision ≥ 0.9", orcai["precision"] >= TARGETS["precision"],
               f"{orcai['precision']:.2f}"),
        Target("ORC AI breach alert recall ≥ 0.8", orcai["recall"] >= TARGETS["recall"], f"{orcai['recall']:.2f}"),
        Target("ORC AI median lead ≥ 30 % of the usual run", orcai["lead"] >= TARGETS["lead"],
               f"{orcai['lead']:.2f}"),
        Target("p80 coverage 75–85 %", low <= coverage <= high, f"{coverage:.2f}"),
        Target("ETA MAPE at 50 % progress ≤ 15 %", mape <= TARGETS["mape"], f"{mape:.1%}"),
        Target("every forecast used the DAG's deadline param", wrong == 0, f"{wrong} did not"),
    ])


if __name__ == "__main__":
    sys.exit(main())
