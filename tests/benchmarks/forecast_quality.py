"""How good are ORC AI's run forecasts? Simulated runs, side by side with the rule of
Airflow's `DeadlineAlert(AVERAGE_RUNTIME)`.

    python -m tests.benchmarks.forecast_quality [--runs 300] [--seed 5]

Each simulated DAG (a diamond of six tasks) runs a few hundred times: lognormal task
durations, one task slowed 1.5–5× in a fifth of the runs, and some queue waits (pool
contention). Each run has a deadline: the 90th percentile of the DAG's normal run times
after its logical date. The run is replayed minute by minute as ORC AI's worker sees it
(the tasks done, the one running and for how long), and forecast from the runs before it.

- ORC AI alerts when the breach risk is 0.7 or more on two forecasts in a row (a minute
  apart) before the deadline.
- Airflow's rule (the mean of the last 10 runs, fixed when the run is created) alerts
  when the run has run longer than that mean, whatever the deadline.

Reported: breach alert precision / recall, median lead time (deadline − alert) as a
share of the usual run time, p80 coverage (runs ending by the p80 ETA), and the ETA's
absolute percentage error at half progress. These are simulated runs, not real Airflow.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from orcai.forecast.replay import TaskState, forecast_run
from tests.benchmarks.harness import brier_skill

UPSTREAM = {"extract": set(), "clean": {"extract"}, "enrich": {"extract"}, "join": {"clean", "enrich"},
            "load": {"join"}, "report": {"load"}}
ORDER = ["extract", "clean", "enrich", "join", "load", "report"]
MEDIANS_S = {"extract": 120, "clean": 300, "enrich": 240, "join": 180, "load": 150, "report": 60}
STEP_S = 60
THRESHOLD = 0.7
CONFIRM = 2  # consecutive forecasts at or over the threshold before ORC AI alerts
TARGETS = {"precision": 0.9, "recall": 0.8, "lead": 0.3, "coverage": (0.75, 0.85), "mape": 0.15}


def simulate_run(rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """Durations, queue waits and (start, end) offsets in seconds of one run."""
    duration = {t: MEDIANS_S[t] * rng.lognormal(0, 0.3) for t in ORDER}
    if rng.random() < 0.2:
        duration[rng.choice(ORDER)] *= rng.uniform(1.5, 5.0)
    wait = {t: rng.exponential(20) if rng.random() < 0.3 else rng.uniform(0, 3) for t in ORDER}
    span = {}
    for task in ORDER:
        ready = max((span[u][1] for u in UPSTREAM[task]), default=0.0)
        span[task] = (ready + wait[task], ready + wait[task] + duration[task])
    return duration, wait, span


def states_at(t: float, span: dict, start_ms: int) -> dict[str, TaskState]:
    states = {}
    for task, (begin, end) in span.items():
        if end <= t:
            states[task] = TaskState("success", start_ms + int(1000 * begin), start_ms + int(1000 * end))
        elif begin <= t:
            states[task] = TaskState("running", start_ms + int(1000 * begin))
        else:
            states[task] = TaskState(None)
    return states


def evaluate(runs: int, seed: int, threshold: float = THRESHOLD, confirm: int = CONFIRM) -> dict:
    rng = np.random.default_rng(seed)
    history = [simulate_run(rng) for _ in range(100)]
    normal_ends = sorted(max(end for _, end in span.values()) for _, _, span in history)
    deadline_s = float(np.quantile(normal_ends, 0.9))
    usual_s = float(np.median(normal_ends))
    tally = {"orcai": {"tp": 0, "fp": 0, "fn": 0, "lead": []}, "airflow": {"tp": 0, "fp": 0, "fn": 0, "lead": []}}
    covered, errors, scored = [], [], []  # scored: (breach risk, missed) of every forecast
    for index in range(runs):
        duration, wait, span = simulate_run(rng)
        recent = history[-200:]
        durations = {t: np.array([d[t] for d, _, _ in recent]) for t in ORDER}
        waits = {t: np.array([w[t] for _, w, _ in recent]) for t in ORDER}
        start_ms = 1_800_000_000_000 + index * 86_400_000
        end_s = max(end for _, end in span.values())
        breached = end_s > deadline_s
        alert_at, streak = None, 0
        halfway_checked = False
        for t in np.arange(0, min(end_s, deadline_s), STEP_S):
            states = states_at(t, span, start_ms)
            forecast = forecast_run(start_ms + int(1000 * t), states, UPSTREAM, durations, waits,
                                    start_ms + int(1000 * deadline_s), samples=300, seed=index, run_start_ms=start_ms)
            if t == 0:
                covered.append(start_ms + 1000 * end_s <= forecast.eta_p80)
            if not halfway_checked and forecast.progress >= 0.5:
                halfway_checked = True
                errors.append(abs(forecast.eta_p50 - (start_ms + 1000 * end_s)) / (1000 * end_s))
            scored.append((forecast.breach_risk or 0.0, breached))
            streak = streak + 1 if (forecast.breach_risk or 0) >= threshold else 0
            if alert_at is None and streak >= confirm:
                alert_at = t
        mean_10 = statistics.mean(max(end for _, end in s.values()) for _, _, s in history[-10:])
        airflow_at = mean_10 if end_s > mean_10 else None  # fires once the run outlives the mean
        for name, at in (("orcai", alert_at), ("airflow", airflow_at)):
            fired = at is not None and at < deadline_s
            score = tally[name]
            if fired and breached:
                score["tp"] += 1
                score["lead"].append((deadline_s - at) / usual_s)
            elif fired:
                score["fp"] += 1
            elif breached:
                score["fn"] += 1
        history.append((duration, wait, span))
    result = {"runs": runs, "breaches": tally["orcai"]["tp"] + tally["orcai"]["fn"],
              "coverage": float(np.mean(covered)), "mape": float(np.median(errors)),
              "brier_skill": brier_skill([r for r, _ in scored], [m for _, m in scored])}
    for name, score in tally.items():
        result[name] = {"precision": score["tp"] / max(1, score["tp"] + score["fp"]),
                        "recall": score["tp"] / max(1, score["tp"] + score["fn"]),
                        "lead": statistics.median(score["lead"]) if score["lead"] else 0.0}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--confirm", type=int, default=CONFIRM)
    args = parser.parse_args(argv)
    r = evaluate(args.runs, args.seed, args.threshold, args.confirm)
    print(f"Forecasts on {r['runs']} simulated runs ({r['breaches']} missed their deadline)")
    print(f"{'':28} {'ORC AI':>8} {'Airflow AVERAGE_RUNTIME':>24}  target (ORC AI)")
    for key, label in (("precision", "breach alert precision"), ("recall", "breach alert recall"),
                       ("lead", "median lead / usual run")):
        print(f"{label:28} {r['orcai'][key]:8.2f} {r['airflow'][key]:24.2f}  ≥ {TARGETS[key]}")
    print(f"{'p80 coverage':28} {r['coverage']:8.2f} {'—':>24}  {TARGETS['coverage'][0]}–{TARGETS['coverage'][1]}")
    print(f"{'ETA error at 50 % progress':28} {r['mape']:8.1%} {'—':>24}  ≤ {TARGETS['mape']:.0%} (median APE)")
    print(f"{'breach risk Brier skill':28} {r['brier_skill']:8.3f} {'—':>24}  (every forecast; higher is better)")
    ok = (r["orcai"]["precision"] >= TARGETS["precision"] and r["orcai"]["recall"] >= TARGETS["recall"]
          and r["orcai"]["lead"] >= TARGETS["lead"] and TARGETS["coverage"][0] <= r["coverage"] <= TARGETS["coverage"][1]
          and r["mape"] <= TARGETS["mape"])
    print("targets met" if ok else "targets MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
