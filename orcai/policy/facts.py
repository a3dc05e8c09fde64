"""The facts a policy condition can use, documented once, and the pure functions that build them.

A condition sees five maps: `dag`, `run` (the DAG's newest finished run, and the forecast of
its active run most at risk of missing its deadline: `run.eta_p80`, `run.deadline`,
`run.breach_risk`, `run.late_min`, `run.watch`, `run.active_id`), `anomaly` (the most
severe open anomaly on that run), `incident` (the open incident the DAG is part of) and `now`. Every fact is always present with a value of its
declared type — never null — so a condition cannot fail on a missing value: a DAG without runs
has `run.state == ""` and `run.duration_s == 0.0`; a run without anomalies has
`anomaly.severity == "none"`. The same builders serve the worker (facts as of now) and the
backtest (facts as of each past run), so a backtest judges exactly what the worker would have.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone

from orcai.dag_health import FINISHED_STATES, consecutive_failures
from orcai.model import DAY_MS, MINUTE_MS


BASELINE_RUNS = 20  # successful runs the duration ratio compares with
MIN_BASELINE_RUNS = 3
SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "none": 0}


@dataclass(frozen=True)
class Fact:
    type: str  # CEL type: string, int, double, bool, list(string)
    meaning: str
    example: object


# The one place the facts are documented: the Policies page and docs/policies.md show this table,
# validation checks conditions against it.
FACTS: dict[str, dict[str, Fact]] = {
    "dag": {
        "id": Fact("string", "DAG id", "flaky_ingest"),
        "tags": Fact("list(string)", "DAG tags", ["ingest"]),
        "owners": Fact("list(string)", "DAG owners", ["integrations"]),
        "is_paused": Fact("bool", "paused in Airflow", False),
        "consecutive_failures": Fact("int", "failed runs in a row, newest first, up to the last success", 2),
        "failure_rate_24h": Fact("double", "failed / finished runs in the last 24 h (0.0 without runs)", 0.5),
        "runs_24h": Fact("int", "runs in the last 24 h", 4),
        "last_state": Fact("string", "state of the newest run (\"\" without runs)", "failed"),
        "criticality": Fact("int", "how much depends on it: downstream DAGs through assets", 1),
        "paused_by_policy_min": Fact("int", "minutes since a policy paused it (-1: not paused by a policy)", -1),
    },
    "run": {
        "id": Fact("string", "run id of the newest finished run (\"\" without runs)", "scheduled__2026-01-01"),
        "state": Fact("string", "its state: success or failed (\"\" without runs)", "failed"),
        "duration_s": Fact("double", "its duration in seconds (0.0 when unknown)", 42.0),
        "duration_ratio": Fact("double", "duration / median of the previous 20 successful runs (0.0 without 3 of them)", 1.1),
        "run_type": Fact("string", "scheduled, manual, backfill or asset_triggered", "scheduled"),
        "active_id": Fact("string", "run id of the queued or running run most at risk of missing its deadline "
                                    "(\"\" without an active run with a forecast); the six facts below are its", ""),
        "eta_p80": Fact("int", "minutes from now to its p80 ETA (-1 without an active run with an ETA)", 25),
        "deadline": Fact("int", "minutes from now to its deadline (0 once past; -1 without an active run "
                                "or without a `deadline:` tag)", 10),
        "breach_risk": Fact("double", "share of its forecast's replays ending after the deadline, 0.0-1.0 "
                                      "(0.0 without a deadline)", 0.9),
        "breach_risk_held": Fact("double", "the lower of its last two forecasts' breach risks: the risk that has "
                                           "held over two forecasts in a row (0.0 on a first forecast or without a "
                                           "deadline)", 0.9),
        "late_min": Fact("int", "minutes its p80 ETA is past the deadline (0 if not, or without a deadline)", 15),
        "watch": Fact("string", "the task on its critical path to watch and why (\"\" without)",
                      "transform: running for 30 min, 30× its usual 1 min"),
        "stuck_run": Fact("string", "queued or running run holding the DAG's longest-waiting task (\"\" if none)", ""),
        "stuck_task": Fact("string", "task id of that longest-waiting queued or running task (\"\" if none)", ""),
        "stuck_try": Fact("int", "that task's try number (0 if none)", 0),
        "stuck_min": Fact("int", "minutes that task has been queued (since queued) or running (since started); 0 if none", 0),
    },
    "anomaly": {
        "kind": Fact("string", "kind of the most severe open anomaly on that run (\"\" if none)", "slow"),
        "score": Fact("double", "its score (0.0 if none)", 0.0),
        "severity": Fact("string", "high, medium, low, or none", "none"),
    },
    "incident": {
        "key": Fact("string", "the open incident this DAG is part of (\"\" if none; the largest if several)", ""),
        "root_kind": Fact("string", "its root: task, asset, pool, external_system, dag, airflow (\"\" if none)", ""),
        "size": Fact("int", "symptoms it groups (0 if none)", 0),
        "dags_hit": Fact("int", "DAGs with a symptom in it (0 if none)", 0),
        "is_root": Fact("bool", "this DAG holds the incident's root (its task or its own run)", False),
        "is_victim": Fact("bool", "this DAG only suffers from a root elsewhere (upstream, a pool, a system, Airflow)", False),
    },
    "now": {
        "hour": Fact("int", "hour of the evaluation, UTC (0-23)", 14),
        "weekday": Fact("int", "day of the week, UTC (0 = Monday … 6 = Sunday)", 2),
    },
}


def sample_facts(flip: bool = False) -> dict:
    """Facts of every declared type, for type-checking a condition at save time. `flip`
    inverts the booleans so that both branches of `&&` / `||` get evaluated."""
    facts = {root: {name: fact.example for name, fact in fields.items()} for root, fields in FACTS.items()}
    if flip:
        facts["dag"]["is_paused"] = not facts["dag"]["is_paused"]
        facts["dag"]["consecutive_failures"] = 0
        facts["run"]["state"] = "success"
        facts["anomaly"].update(kind="slow", score=4.2, severity="high")
    return facts


def dag_facts(dag: dict, runs_newest_first: list[dict], now_ms: int,
              paused_by_policy_at: int | None = None) -> dict:
    """`dag` facts from a Dag row and its runs (dicts with state, at, duration_s, run_type)."""
    recent = [r for r in runs_newest_first if (r.get("at") or 0) >= now_ms - DAY_MS]
    finished = [r for r in recent if r.get("state") in FINISHED_STATES]
    failed = sum(r["state"] == "failed" for r in finished)
    return {
        "id": dag["dag_id"],
        "tags": list(dag.get("tags") or []),
        "owners": list(dag.get("owners") or []),
        "is_paused": bool(dag.get("is_paused")),
        "consecutive_failures": consecutive_failures([r.get("state") for r in runs_newest_first]),
        "failure_rate_24h": failed / len(finished) if finished else 0.0,
        "runs_24h": len(recent),
        "last_state": (runs_newest_first[0].get("state") or "") if runs_newest_first else "",
        "criticality": int(dag.get("criticality") or 0),
        "paused_by_policy_min": (-1 if paused_by_policy_at is None or not dag.get("is_paused")
                                 else max(0, (now_ms - paused_by_policy_at) // MINUTE_MS)),
    }


def run_facts(runs_newest_first: list[dict]) -> dict:
    """`run` facts of the newest finished run, with its duration against the usual."""
    finished = [r for r in runs_newest_first if r.get("state") in FINISHED_STATES]
    if not finished:
        return {"id": "", "state": "", "duration_s": 0.0, "duration_ratio": 0.0, "run_type": ""}
    last = finished[0]
    previous = [r["duration_s"] for r in finished[1:] if r["state"] == "success"
                and r.get("duration_s") is not None][:BASELINE_RUNS]
    duration = float(last.get("duration_s") or 0.0)
    median = statistics.median(previous) if len(previous) >= MIN_BASELINE_RUNS else 0.0
    return {"id": last.get("run_id") or "", "state": last["state"], "duration_s": duration,
            "duration_ratio": round(duration / median, 3) if median > 0 and duration else 0.0,
            "run_type": last.get("run_type") or ""}


def forecast_facts(forecast: dict | None, now_ms: int) -> dict:
    """The forecast `run` facts from an active run's stored forecast (orcai.graph.forecast_store
    .riskiest_forecast_by_dag rows: run_id, eta_p80, deadline, breach_risk, breach_risk_held, watch_task,
    watch_reason; times in epoch ms), or their "no active run" values."""
    if not forecast:
        return {"active_id": "", "eta_p80": -1, "deadline": -1, "breach_risk": 0.0, "breach_risk_held": 0.0,
                "late_min": 0, "watch": ""}
    eta, deadline = forecast.get("eta_p80"), forecast.get("deadline")
    watch = forecast.get("watch_task") or ""
    if watch and forecast.get("watch_reason"):
        watch = f"{watch}: {forecast['watch_reason']}"
    return {"active_id": forecast.get("run_id") or "",
            "eta_p80": -1 if eta is None else _minutes_until(eta, now_ms),
            "deadline": -1 if deadline is None else _minutes_until(deadline, now_ms),
            "breach_risk": round(float(forecast.get("breach_risk") or 0.0), 2) if deadline is not None else 0.0,
            "breach_risk_held": (round(float(forecast.get("breach_risk_held") or 0.0), 2)
                                 if deadline is not None else 0.0),
            "late_min": max(0, math.ceil((eta - deadline) / MINUTE_MS)) if eta is not None and deadline is not None else 0,
            "watch": watch}


def _minutes_until(at_ms: int, now_ms: int) -> int:
    return max(0, math.ceil((at_ms - now_ms) / MINUTE_MS))


NO_STUCK = {"stuck_run": "", "stuck_task": "", "stuck_try": 0, "stuck_min": 0}


def stuck_facts(unfinished: list[dict], now_ms: int) -> dict:
    """The stuck-work `run` facts of one DAG from its unfinished task runs (rows of
    orcai.graph.run_store.unfinished_task_runs): its longest-waiting task and that task's run.
    A queued task waits since it was queued, a running one since it started."""
    waiting = [(since, r["run_id"], r["task_id"], r) for r in unfinished if (since := _waiting_since(r)) is not None]
    if not waiting:
        return dict(NO_STUCK)
    since, run_id, task_id, row = min(waiting, key=lambda w: w[:3])
    return {"stuck_run": run_id, "stuck_task": task_id, "stuck_try": int(row.get("try_number") or 0),
            "stuck_min": max(0, (now_ms - since) // MINUTE_MS)}


def _waiting_since(row: dict) -> int | None:
    if row.get("state") == "running":
        return row.get("start_date") or row.get("queued_when")
    return row.get("queued_when") if row.get("state") == "queued" else None


def anomaly_facts(anomalies: list[dict]) -> dict:
    """`anomaly` facts: the most severe (then highest-scoring) of the given anomalies."""
    if not anomalies:
        return {"kind": "", "score": 0.0, "severity": "none"}
    worst = max(anomalies, key=lambda a: (SEVERITY_RANK.get(a.get("severity"), 0), a.get("score") or 0.0))
    return {"kind": worst.get("kind") or "", "score": float(worst.get("score") or 0.0),
            "severity": worst.get("severity") or "none"}


def incident_facts(dag_id: str, incident: dict | None) -> dict:
    """`incident` facts of one DAG from the open incident it is part of (orcai.graph.incident_store
    .open_incidents_by_dag rows: key, root_kind, root_dag, size, dags_hit)."""
    if not incident:
        return {"key": "", "root_kind": "", "size": 0, "dags_hit": 0, "is_root": False, "is_victim": False}
    is_root = incident.get("root_dag") == dag_id
    return {"key": incident.get("key") or "", "root_kind": incident.get("root_kind") or "",
            "size": int(incident.get("size") or 0), "dags_hit": len(incident.get("dags_hit") or []),
            "is_root": is_root, "is_victim": not is_root}


def now_facts(now_ms: int) -> dict:
    moment = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    return {"hour": moment.hour, "weekday": moment.weekday()}


def facts_for(dag: dict, runs_newest_first: list[dict], anomalies_by_run: dict[str, list[dict]],
              now_ms: int, paused_by_policy_at: int | None = None, incident: dict | None = None,
              forecast: dict | None = None, unfinished: list[dict] | None = None) -> dict:
    """Everything a condition sees about one DAG at `now_ms` (`forecast`: its active run's, if
    any; `unfinished`: its queued or running task runs, for the stuck-work facts; none in a
    backtest)."""
    run = {**run_facts(runs_newest_first), **forecast_facts(forecast, now_ms),
           **stuck_facts(unfinished or [], now_ms)}
    return {"dag": dag_facts(dag, runs_newest_first, now_ms, paused_by_policy_at), "run": run,
            "anomaly": anomaly_facts(anomalies_by_run.get(run["id"], [])),
            "incident": incident_facts(dag["dag_id"], incident), "now": now_facts(now_ms)}


def facts_reference() -> list[dict]:
    """The facts table for the page and docs/policies.md."""
    return [{"fact": f"{root}.{name}", "type": fact.type, "meaning": fact.meaning}
            for root, fields in FACTS.items() for name, fact in fields.items()]
