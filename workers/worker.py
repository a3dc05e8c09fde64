"""The background worker: `python -m workers.worker [--once] [--step sync|detect|policies]`.

Every ORCAI_SYNC_INTERVAL_S it syncs Airflow into the graph and writes its heartbeat.
Airflow down, wrong credentials, graph down: one clear log line per cycle, no traceback,
and the next cycle catches up from the per-DAG watermarks. SIGTERM/SIGINT stop it
between cycles.

A cycle holds the graph lock `cycle` (`cycle:i/n` for shard i/n) while it runs, so
workers against the same graph, and the `orcai_cycle` DAG, take turns instead of acting
twice. `--once` runs one cycle and exits 0 when it succeeded, 1 when the sync or a stage
failed, and 99 when another worker held the lock (Airflow's BashOperator marks exit 99 as
skipped). `--step` runs one part of the cycle: `sync`, `detect` (anomaly detection) or
`policies` (every stage after detection); the `orcai_cycle` DAG runs one step per task.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import schedule

from orcai import __version__
from orcai.airflow import AirflowClient
from orcai.alerts.dispatch import DispatchReport, SlackAlertStage
from orcai.anomalies.monitor import AnomalyMonitor, DetectionReport
from orcai.config import Settings, load_settings
from orcai.errors import ConfigError, GraphError, OrcaiError
from orcai.forecast.stage import ForecastReport, ForecastStage
from orcai.graph import Graph, connect, describe_uri
from orcai.graph.load import ensure_schema, summarize_unsummarized_dags
from orcai.graph.worker_store import write_heartbeat
from orcai.incidents.estate import CycleEstate
from orcai.incidents.stage import IncidentReport, IncidentStage
from orcai.logs import configure_logging
from orcai.graph.lock import GraphLock
from orcai.metrics import WorkerMetrics, serve
from orcai.policy.runner import PolicyReport, PolicyRunner
from orcai.sync import SyncReport, sync_once

log = logging.getLogger("orcai.worker")


@dataclass
class CycleOutcome:
    """What one cycle did: the sync's report, then what each stage adds for the next ones."""
    now_ms: int
    sync: SyncReport
    detection: DetectionReport | None = None
    forecasts: ForecastReport | None = None
    incidents: IncidentReport | None = None
    policies: PolicyReport | None = None
    alerts: DispatchReport | None = None  # Slack: sent, failed, pending (None when Slack is off)
    failed_stages: list[str] = field(default_factory=list)
    estate: CycleEstate | None = None  # the lineage, read once for the stages that judge on it


Stage = Callable[[CycleOutcome], None]

DETECTION_STAGE = "anomaly detection"
STEPS = ("sync", "detect", "policies")
EXIT_OK, EXIT_FAILED, EXIT_LOCKED = 0, 1, 99


class Worker:
    def __init__(self, settings: Settings, airflow: AirflowClient | None = None,
                 graph: Graph | None = None, clock=time.time):
        self.settings = settings
        self.airflow = airflow or AirflowClient(settings)
        self.graph = graph or connect(settings)
        self.clock = clock
        self.started_at = int(clock() * 1000)
        self.last_error: str | None = None
        self.last_ok_at: int | None = None
        self.monitor = AnomalyMonitor(settings)
        self.metrics = WorkerMetrics(settings.worker_name, settings.sync_interval_s, clock)
        self.policies = PolicyRunner(settings)
        self.forecaster = ForecastStage(settings)
        self.incidents = IncidentStage(settings)
        self._schema_ready = False
        # What runs after each successful sync, in order; each stage is isolated from the others.
        self.stages: list[tuple[str, Stage]] = [
            (DETECTION_STAGE, self._detect),
            ("forecasts", self._forecast),
            ("incidents", self._group_incidents),
            ("policies", self._apply_policies),
            ("slack alerts", SlackAlertStage(settings, self.graph, clock)),
            ("metrics", lambda outcome: self.metrics.observe_cycle(outcome, self.graph)),  # last: sees every stage
        ]
        shard = settings.dag_shard
        self.lock = GraphLock(self.graph, "cycle" if shard.is_whole else f"cycle:{shard}",
                              holder=f"{settings.worker_name}@{socket.gethostname()}:{os.getpid()}", clock=clock)
        self.lock_busy = False  # the last cycle found another worker holding the lock

    def cycle(self, step: str | None = None) -> CycleOutcome | None:
        """One sync, then each stage, then the heartbeat, holding the cycle lock (or only
        `step` of it). Never raises: failures are one log line. None when the sync failed
        or another worker holds the lock (`lock_busy`)."""
        self.lock_busy = False
        try:
            if not self._schema_ready:
                ensure_schema(self.graph)
                summarize_unsummarized_dags(self.graph)  # a graph from before summaries were kept
                self._schema_ready = True
            if not self.lock.acquire():
                self.lock_busy = True
                log.info("skipping this cycle: %s is running one", self.lock.current_holder())
                return None
        except OrcaiError as exc:
            self._record_failure(str(exc), graph_down=isinstance(exc, GraphError), error=exc)
            return None
        try:
            return self._locked_cycle(step)
        finally:
            try:
                self.lock.release()
            except GraphError:
                pass  # already reported by the cycle; the lock expires on its own

    def _locked_cycle(self, step: str | None) -> CycleOutcome | None:
        if step in (None, "sync"):
            report = self._sync()
            if report is None:
                return None
        else:  # a later step in its own process: the sync ran in an earlier one
            report = SyncReport(started_at=int(self.clock() * 1000))
        outcome = CycleOutcome(now_ms=int(self.clock() * 1000), sync=report, estate=CycleEstate(self.graph))
        for name, stage in self._stages_of(step):
            if not self._extend_lock():
                log.warning("lost the cycle lock to another worker: stopping before %s", name)
                outcome.failed_stages.append(name)
                break
            if not self._run_stage(name, stage, outcome):
                outcome.failed_stages.append(name)
        if step in (None, "sync"):
            self._beat(report, detection=outcome.detection)
        return outcome

    def _extend_lock(self) -> bool:
        """Extend the lock before a stage; lost only if a stage outlived the lock's expiry.
        A graph outage here is left to the stage, which reports it in its own line."""
        try:
            return self.lock.acquire()
        except GraphError:
            return True

    def _stages_of(self, step: str | None) -> list[tuple[str, Stage]]:
        if step is None:
            return self.stages
        if step == "sync":
            return []
        detection = [(name, stage) for name, stage in self.stages if name == DETECTION_STAGE]
        if step == "detect":
            return detection
        if step == "policies":
            return [entry for entry in self.stages if entry not in detection]
        raise ValueError(f"unknown step {step!r}: use one of {', '.join(STEPS)}")

    def _sync(self) -> SyncReport | None:
        try:
            report = sync_once(self.airflow, self.graph, self.settings, self.clock)
        except OrcaiError as exc:
            self._record_failure(str(exc), graph_down=isinstance(exc, GraphError), error=exc)
            return None
        except Exception as exc:  # a bug, not an outage: keep the traceback, keep running
            log.exception("sync crashed unexpectedly")
            self._record_failure(f"unexpected {type(exc).__name__}: {exc}", error=exc)
            return None
        if self.last_error:
            log.info("recovered after: %s", self.last_error)
        self.last_error, self.last_ok_at = None, int(self.clock() * 1000)
        # A sync where some DAGs failed is one warning line naming them, not one line per DAG.
        log.log(logging.WARNING if report.dag_errors else logging.INFO, report.summary())
        return report

    def _run_stage(self, name: str, stage: Stage, outcome: CycleOutcome) -> bool:
        """A stage that fails is logged in one line; the sync and the other stages still count."""
        try:
            stage(outcome)
            return True
        except OrcaiError as exc:
            log.error("%s failed: %s", name, exc)
        except Exception:  # a bug in one stage must not stop syncing: keep the traceback
            log.exception("%s crashed unexpectedly", name)
        return False

    def _detect(self, outcome: CycleOutcome) -> None:
        """Score the runs that are new since the last cycle."""
        started = self.clock()
        detection = self.monitor.run(self.graph, outcome.now_ms)
        outcome.detection = detection
        if detection.judged:
            log.info("judged %d runs, %d anomalous%s in %.1f s", detection.judged, detection.flagged,
                     " (baselines refitted)" if detection.refitted else "", self.clock() - started)

    def _forecast(self, outcome: CycleOutcome) -> None:
        """Re-forecast every queued and running DAG run: ETA band, deadline, breach risk."""
        report = self.forecaster.run(self.graph, outcome.now_ms)
        outcome.forecasts = report
        if report.at_risk:
            log.info("forecast %d active runs; %d likely to miss their deadline", report.forecast, report.at_risk)

    def _group_incidents(self, outcome: CycleOutcome) -> None:
        """Group the active symptoms into incidents with a root cause; open, grow, resolve."""
        report = self.incidents.run(self.graph, outcome.now_ms, outcome.estate)
        outcome.incidents = report
        if report.opened or report.grew or report.resolved or report.reopened:
            log.info("incidents: %d open (%d new, %d grew, %d came back), %d resolved", report.open,
                     report.opened, report.grew, report.reopened, report.resolved)

    def _apply_policies(self, outcome: CycleOutcome) -> None:
        """Evaluate enabled policies on the freshly synced and scored DAGs; act, record, notify."""
        report = self.policies.run(self.graph, self.airflow, outcome.now_ms)
        outcome.policies = report
        if report.fired or report.disabled:
            log.info(report.summary())

    def _record_failure(self, message: str, error: BaseException, graph_down: bool = False) -> None:
        log.error("sync failed: %s", message)
        self.last_error = message
        self.metrics.sync_failed(error)
        self._beat(None, graph_down)

    def _beat(self, report: SyncReport | None, graph_down: bool = False,
              detection: DetectionReport | None = None) -> None:
        now = int(self.clock() * 1000)
        props = {
            "last_sync_at": now, "last_ok_at": self.last_ok_at, "last_error": self.last_error,
            "last_error_at": now if self.last_error else None, "started_at": self.started_at,
            "version": __version__, "host": socket.gethostname(), "pid": os.getpid(),
            "sync_interval_s": self.settings.sync_interval_s, "airflow_url": self.settings.airflow_url,
        }
        if report is not None:
            props.update({
                "last_sync_s": round(report.duration_s, 3), "dags": report.dags,
                "dag_runs_seen": report.dag_runs_seen, "task_runs_seen": report.task_runs_seen,
                "nodes_created": report.written.nodes_created, "api_requests": report.requests,
                "dag_errors": len(report.dag_errors),
                # "" once caught up: a string, never null (see orcai.graph.sync_store on nulls)
                "catch_up": report.catch_up.to_json() if report.catch_up is not None else "",
            })
        if detection is not None:
            props.update({"runs_judged": detection.judged, "anomalies_flagged": detection.flagged})
        try:
            write_heartbeat(self.graph, self.settings.worker_name, props)
        except GraphError as exc:
            if not graph_down:  # a graph outage was already logged as the sync failure
                log.error("cannot write heartbeat: %s", exc)

    def close(self) -> None:
        self.airflow.close()
        self.policies.close()
        self.graph.close()


def run_forever(worker: Worker, stop_requested) -> None:
    schedule.every(worker.settings.sync_interval_s).seconds.do(worker.cycle)
    worker.cycle()
    while not stop_requested():
        schedule.run_pending()
        time.sleep(0.5)
    schedule.clear()


def run_once(worker: Worker, step: str | None) -> int:
    """One cycle (or one step of it); the exit code says how it went."""
    outcome = worker.cycle(step)
    if worker.lock_busy:
        return EXIT_LOCKED
    return EXIT_OK if outcome is not None and not outcome.failed_stages else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.worker", description="ORC AI's background worker.")
    parser.add_argument("--once", action="store_true",
                        help="run one cycle and exit: 0 ok, 1 failed, 99 another worker holds the cycle lock")
    parser.add_argument("--step", choices=STEPS, help="with --once: run only this part of the cycle")
    args = parser.parse_args(argv)
    if args.step and not args.once:
        parser.error("--step needs --once")
    configure_logging()  # INFO until the settings are read: a bad setting is logged too
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    configure_logging(settings.log_level)
    worker = Worker(settings)
    log.info("ORC AI worker %s: Airflow %s, graph %s, shard %s, %s", __version__, settings.airflow_url,
             describe_uri(settings.graph_uri), settings.shard,
             f"once ({args.step or 'whole cycle'})" if args.once else f"every {settings.sync_interval_s} s")
    if args.once:
        try:
            return run_once(worker, args.step)
        finally:
            worker.close()
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    metrics_server = serve(worker.metrics.registry, settings.metrics_host, settings.metrics_port)
    try:
        run_forever(worker, lambda: bool(stopping))
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        worker.close()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
