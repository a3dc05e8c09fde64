"""Forecasts of branching runs: with the branches drawn from past runs, and counting every branch.

    python -m tests.benchmarks.forecast_branches [--runs 300] [--seed 5]

A simulated DAG shaped like Airflow's example_branch_operator plus a short-circuit:
`start` -> `branching`, which picks branch a (short, half the runs), b (three in ten) or c
(long, one in five), each two tasks -> `join` (none_failed_min_one_success) -> `publish`
(none_failed); beside it `check`, a short-circuit that skips `backfill` in two runs of five,
-> `publish`. Lognormal durations, one task slowed 1.5–5× in a fifth of the runs, short
queue waits. The branches not taken are skipped as the branch operator ends, their
followers a few seconds later (Airflow's scheduler spreads a skip one task per loop).
Each run's deadline is the 90th percentile of the DAG's run times. Every run is forecast
every 30 s from its start, from the 200 runs before it, twice:

- "every branch": as ORC AI did before branches were forecast (a task skipped already
  takes no time, every task not decided yet runs);
- "branches drawn": each replay draws which tasks it skips from the past runs that agree
  with the run so far (orcai/forecast/branches.py), trigger rules for the rest.

Reported for each: ETA error (median absolute error over the run's time) at the first
forecast and at the first one after the branch decided, p80 coverage at the first
forecast, breach alert precision / recall / lead at 0.7 two forecasts in a row (as the
shipped policy), and the breach risk's Brier skill over every forecast. Simulated runs.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from orcai.forecast.replay import TaskState, forecast_run
from tests.benchmarks.forecast_quality import CONFIRM, SLOW_FACTOR, SLOWED_SHARE, THRESHOLD, alert_figures
from tests.benchmarks.harness import brier_skill

UPSTREAM = {"start": set(), "branching": {"start"}, "a1": {"branching"}, "a2": {"a1"}, "b1": {"branching"},
            "b2": {"b1"}, "c1": {"branching"}, "c2": {"c1"}, "join": {"a2", "b2", "c2"}, "check": {"start"},
            "backfill": {"check"}, "publish": {"join", "backfill"}}
ORDER = ["start", "branching", "a1", "a2", "b1", "b2", "c1", "c2", "join", "check", "backfill", "publish"]
RULES = {"join": "none_failed_min_one_success", "publish": "none_failed"}
EVERY_BRANCH_RULES = {t: "always" for t in ORDER}  # nothing skipped but what the run already skipped
MEDIANS_S = {"start": 30, "branching": 10, "a1": 60, "a2": 60, "b1": 150, "b2": 150, "c1": 400, "c2": 400,
             "join": 5, "check": 10, "backfill": 240, "publish": 60}
BRANCHES, BRANCH_SHARES = ("a", "b", "c"), (0.5, 0.3, 0.2)
SHORT_CIRCUIT_SHARE = 0.4  # check skips backfill in two runs of five
SIGMA, WAIT_S, SKIP_LAG_S, STEP_S = 0.25, 3.0, 5.0, 30


def simulate_run(rng: np.random.Generator) -> dict[str, tuple[str, float, float]]:
    """Each task's (state, start, end) in seconds from the run's start: a skipped task's
    start and end are when Airflow skipped it."""
    branch = rng.choice(BRANCHES, p=BRANCH_SHARES)
    skipped = {f"{b}1" for b in BRANCHES if b != branch}
    if rng.random() < SHORT_CIRCUIT_SHARE:
        skipped.add("backfill")
    duration = {t: MEDIANS_S[t] * rng.lognormal(0, SIGMA) for t in ORDER}
    if rng.random() < SLOWED_SHARE:
        duration[rng.choice(ORDER)] *= rng.uniform(*SLOW_FACTOR)
    span: dict[str, tuple[str, float, float]] = {}
    for task in ORDER:
        parents = [span[u] for u in UPSTREAM[task]]
        ready = max((end for _, _, end in parents), default=0.0)
        spread = any(state == "skipped" for state, _, _ in parents) and task not in RULES
        if task in skipped or spread:  # skipped by its upstream operator, or a skip spread by all_success
            at = ready + (SKIP_LAG_S if spread else 0.0)
            span[task] = ("skipped", at, at)
        else:
            begin = ready + rng.uniform(0, WAIT_S)
            span[task] = ("success", begin, begin + duration[task])
    return span


def states_at(t: float, span: dict, start_ms: int) -> dict[str, TaskState]:
    states = {}
    for task, (state, begin, end) in span.items():
        if end <= t:
            states[task] = TaskState(state, start_ms + int(1000 * begin), start_ms + int(1000 * end))
        elif begin <= t:
            states[task] = TaskState("running", start_ms + int(1000 * begin))
        else:
            states[task] = TaskState(None)
    return states


def evaluate(runs: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    history = [simulate_run(rng) for _ in range(100)]
    ends = sorted(max(end for _, _, end in span.values()) for span in history)
    deadline_s, usual_s = float(np.quantile(ends, 0.9)), float(np.median(ends))
    seen = {name: {"first": [], "decided": [], "covered": [], "scored": [], "risks": []}
            for name in ("every branch", "branches drawn")}
    for index in range(runs):
        span = simulate_run(rng)
        recent = history[-200:]
        durations = {t: np.array([s[t][2] - s[t][1] for s in recent if s[t][0] == "success"]) for t in ORDER}
        waits = {t: np.full(len(recent), WAIT_S / 2) for t in ORDER}
        patterns = [{t: s[t][0] == "success" for t in ORDER} for s in recent]
        start_ms = 1_800_000_000_000 + index * 86_400_000
        deadline_ms = start_ms + int(1000 * deadline_s)
        end_s = max(end for _, _, end in span.values())
        breached = end_s > deadline_s
        decided_s = span["branching"][2]
        options = {"every branch": {"trigger_rules": EVERY_BRANCH_RULES},
                   "branches drawn": {"patterns": patterns, "trigger_rules": RULES}}
        for name, extra in options.items():
            figures, risks, after_branch = seen[name], [], False
            for t in np.arange(0, min(end_s, deadline_s), STEP_S):
                forecast = forecast_run(start_ms + int(1000 * t), states_at(t, span, start_ms), UPSTREAM, durations,
                                        waits, deadline_ms, samples=300, seed=index, run_start_ms=start_ms, **extra)
                error = abs(forecast.eta_p50 - (start_ms + 1000 * end_s)) / (1000 * end_s)
                if t == 0:
                    figures["first"].append(error)
                    figures["covered"].append(start_ms + 1000 * end_s <= forecast.eta_p80)
                if not after_branch and t >= decided_s:
                    after_branch = True
                    figures["decided"].append(error)
                risks.append(forecast.breach_risk or 0.0)
                figures["scored"].append((risks[-1], breached))
            figures["risks"].append((risks, breached))
        history.append(span)
    result = {"runs": runs, "breaches": sum(b for _, b in seen["every branch"]["risks"])}
    for name, f in seen.items():
        result[name] = {"first": float(np.median(f["first"])), "decided": float(np.median(f["decided"])),
                        "coverage": float(np.mean(f["covered"])),
                        "brier_skill": brier_skill([r for r, _ in f["scored"]], [m for _, m in f["scored"]]),
                        **alert_figures(f["risks"], STEP_S, deadline_s, usual_s, THRESHOLD, CONFIRM)}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    r = evaluate(args.runs, args.seed)
    before, after = r["every branch"], r["branches drawn"]
    print(f"Branching runs: {r['runs']} simulated ({r['breaches']} missed their deadline), seed {args.seed}")
    print(f"{'':34} {'every branch':>13} {'branches drawn':>15}")
    for key, label, fmt in (("first", "ETA error, first forecast", "{:13.1%}"),
                            ("decided", "ETA error, branch just decided", "{:13.1%}"),
                            ("coverage", "p80 coverage, first forecast", "{:13.2f}"),
                            ("precision", "breach alert precision", "{:13.2f}"),
                            ("recall", "breach alert recall", "{:13.2f}"),
                            ("lead", "median lead / usual run", "{:13.2f}"),
                            ("alerts", "alerts", "{:13d}"),
                            ("brier_skill", "breach risk Brier skill", "{:13.3f}")):
        print(f"{label:34} {fmt.format(before[key])} {fmt.format(after[key]):>15}")
    better = after["first"] < before["first"] and after["brier_skill"] > before["brier_skill"]
    print("branches drawn: better" if better else "branches drawn: NOT better")
    return 0 if better else 1


if __name__ == "__main__":
    sys.exit(main())
