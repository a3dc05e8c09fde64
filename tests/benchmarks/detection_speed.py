"""Detection speed and memory: a full score of 1,000,000 runs over 20,000 tasks, the
incremental scoring of one sync's new runs for 1,000 DAGs, and the schedule state a small
sync (40 DAG runs of 20 DAGs) moves forward against 20,000 DAGs' state.

    python -m tests.benchmarks.detection_speed [--runs 1000000] [--tasks 20000] [--dags 1000] [--state-only]

Targets (issue 4): full score < 20 s with peak memory < 2 GB on two cores; one sync's new
runs for 1,000 DAGs scored in < 1 s. Peak memory is the process's peak resident set
size (resource.getrusage), which also counts the generated input: an upper bound.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd

from orcai.detect import RobustDetector, detect

TARGET_FULL_S, TARGET_MEMORY_GB, TARGET_NEW_S = 20.0, 2.0, 1.0
# a small sync's schedule work must not grow with the DAGs it does not touch (0.9 s at 20,000 DAGs before)
TARGET_STATE_S = 0.05
START = pd.Timestamp("2026-01-01", tz="UTC")


def synthetic_runs(n_dags: int, tasks_per_dag: int, runs_per_task: int, interval_s: int = 3600,
                   seed: int = 1, first_run: int = 0) -> pd.DataFrame:
    """Hourly DAG runs with lognormal task durations, 1% failures, 3% retries; vectorised."""
    rng = np.random.default_rng(seed + first_run)
    dag = np.repeat(np.arange(n_dags), tasks_per_dag * runs_per_task)
    task = np.tile(np.repeat(np.arange(tasks_per_dag), runs_per_task), n_dags)
    run = np.tile(np.arange(first_run, first_run + runs_per_task), n_dags * tasks_per_dag)
    typical = np.exp(np.random.default_rng(seed).normal(np.log(60), 1.2, n_dags * tasks_per_dag))
    duration = typical[dag * tasks_per_dag + task] * rng.lognormal(0, 0.15, len(dag))
    logical = START + pd.to_timedelta(run * interval_s, unit="s")
    start = logical + pd.to_timedelta(interval_s + 2 + task * 90 + rng.uniform(0, 3, len(dag)), unit="s")
    failed = rng.random(len(dag)) < 0.01
    return pd.DataFrame({
        "dag_id": pd.Categorical.from_codes(dag, [f"dag_{i:05d}" for i in range(n_dags)]),
        "task_id": pd.Categorical.from_codes(task, [f"task_{i}" for i in range(tasks_per_dag)]),
        "run_id": pd.Categorical.from_codes(run - first_run,
                                            [f"scheduled__{r}" for r in range(first_run, first_run + runs_per_task)]),
        "start_date": start, "duration_s": np.round(duration, 3),
        "state": np.where(failed, "failed", "success"), "queued_s": rng.uniform(0.5, 5, len(dag)),
        "try_number": np.where(rng.random(len(dag)) < 0.03, 2, 1), "run_type": "scheduled",
        "logical_date": logical,
    })


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # kB on Linux


def full_score(n_runs: int, n_tasks: int) -> dict:
    tasks_per_dag = 5
    n_dags, per_task = n_tasks // tasks_per_dag, n_runs // n_tasks
    runs = synthetic_runs(n_dags, tasks_per_dag, per_task)
    schedules = {f"dag_{i:05d}": 3600 for i in range(n_dags)}
    before_gb = peak_rss_gb()
    started = time.perf_counter()
    flagged = detect(runs, schedules=schedules)
    seconds = time.perf_counter() - started
    return {"case": f"full score: {len(runs):,} runs, {n_tasks:,} tasks", "seconds": seconds,
            "peak_gb": peak_rss_gb(), "input_gb": before_gb, "flagged": int(flagged["is_anomaly"].sum())}


def incremental_score(n_dags: int, tasks_per_dag: int = 6, history_runs: int = 100) -> dict:
    history = synthetic_runs(n_dags, tasks_per_dag, history_runs)
    new = synthetic_runs(n_dags, tasks_per_dag, 1, first_run=history_runs)
    schedules = {f"dag_{i:05d}": 3600 for i in range(n_dags)}
    started = time.perf_counter()
    detector = RobustDetector().fit(history, schedules=schedules)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    flagged = detector.score_new(new)
    seconds = time.perf_counter() - started
    return {"case": f"one sync: {len(new):,} new runs of {n_dags:,} DAGs ({tasks_per_dag} tasks each)",
            "seconds": seconds, "peak_gb": peak_rss_gb(), "input_gb": np.nan,
            "flagged": int(flagged["is_anomaly"].sum()),
            "note": f"fit on {len(history):,} history runs beforehand: {fit_s:.1f} s"}


def schedule_state_cost(n_dags: int = 20_000, width: int = 30, reps: int = 5) -> dict:
    """`score_new`'s per-DAG schedule work for a sync touching 20 DAGs: the delay medians
    and the advanced state. It should not grow with the DAGs the sync does not touch."""
    import dataclasses

    from orcai.detect import incremental
    rng = np.random.default_rng(0)
    keys = pd.Index([f"dag_{i:05d}" for i in range(n_dags)])
    fields = {field.name: None for field in dataclasses.fields(incremental.FittedState) if field.name != "judged"}
    fields.update(times=incremental.Tails(keys, np.sort(rng.random((n_dags, width)) * 1e18, axis=1)),
                  delays=incremental.Tails(keys, rng.random((n_dags, width)) * 10))
    state = incremental.FittedState(**fields)
    batch = pd.Series(keys[:20].tolist() * 2)
    table = pd.DataFrame({"dag_id": batch, "time_ns": 2e18 + np.arange(len(batch)) * 1e9,
                          "delay_s": rng.random(len(batch)), "fresh": True, "frame_row": np.arange(len(batch))})
    runs = pd.DataFrame({"dag_id": batch, "run_id": [f"run_{i}" for i in range(len(batch))]})
    frame = pd.DataFrame({"row": np.arange(len(batch))})
    started = time.perf_counter()
    for _ in range(reps):
        incremental._medians_after(state.delays, batch, table["delay_s"].to_numpy())
        incremental.advance_schedule(state, runs, frame, table)
    seconds = (time.perf_counter() - started) / reps
    return {"case": f"schedule state: {len(batch)} DAG runs of 20 DAGs against {n_dags:,} DAGs",
            "seconds": seconds, "peak_gb": peak_rss_gb(), "input_gb": np.nan, "flagged": 0,
            "note": f"mean of {reps}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.detection_speed")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--dags", type=int, default=1_000)
    parser.add_argument("--state-only", action="store_true", help="only the schedule state case (seconds)")
    args = parser.parse_args(argv)
    state = schedule_state_cost()
    if args.state_only:
        print(f"{state['case']}: {state['seconds'] * 1000:.1f} ms")
        ok = state["seconds"] < TARGET_STATE_S
        print(f"{'MET ' if ok else 'MISS'}  schedule state < {TARGET_STATE_S * 1000:g} ms: {state['seconds'] * 1000:.1f} ms")
        return 0 if ok else 1
    full = full_score(args.runs, args.tasks)
    new = incremental_score(args.dags)
    table = pd.DataFrame([full, new, state])
    table["seconds"] = table["seconds"].map(lambda s: f"{s:.2f} s")
    table["peak_gb"] = table["peak_gb"].map(lambda g: f"{g:.2f} GB")
    table["input_gb"] = table["input_gb"].map(lambda g: "" if pd.isna(g) else f"{g:.2f} GB")
    table = table.rename(columns={"peak_gb": "peak RSS", "input_gb": "RSS before scoring"}).fillna("")
    print(table.to_string(index=False))
    checks = [(f"full score < {TARGET_FULL_S:g} s", full["seconds"] < TARGET_FULL_S, f"{full['seconds']:.2f} s"),
              (f"peak memory < {TARGET_MEMORY_GB:g} GB", full["peak_gb"] < TARGET_MEMORY_GB, f"{full['peak_gb']:.2f} GB"),
              (f"one sync's new runs < {TARGET_NEW_S:g} s", new["seconds"] < TARGET_NEW_S, f"{new['seconds']:.3f} s"),
              (f"schedule state < {TARGET_STATE_S * 1000:g} ms", state["seconds"] < TARGET_STATE_S,
               f"{state['seconds'] * 1000:.1f} ms")]
    for text, ok, value in checks:
        print(f"{'MET ' if ok else 'MISS'}  {text}: {value}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
