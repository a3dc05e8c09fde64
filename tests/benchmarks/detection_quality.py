"""Detection quality on labeled synthetic history: every detector, per kind and overall.

    python -m tests.benchmarks.detection_quality [--dags 40] [--days 40] [--seed 7]

Scoring follows issue 4. An episode is one injected anomaly (one or several consecutive
runs of a task; for `missing` and `late`, the task runs of one DAG run). It is detected
when any flagged run falls inside it. Every flagged run outside all episodes is one
false alarm. Precision = detected / (detected + false alarms); recall = detected /
episodes. Delay = runs from the episode's first run to its first flagged run.
Per-kind false alarms are the false alarms the detector itself named with that kind
(the seed detectors name none, so their per-kind precision is not defined: "–").
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from orcai.detect import detect
from orcai.simulate import LABELED_KINDS, DagSpec, TaskSpec, labeled_runs

NOW_MS = int(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
DAG_RUN_KINDS = ("missing", "late")
DETECTORS = (("robust", {}), ("isolation_forest", {"contamination": 0.1}), ("dbscan", {}))
TARGET_F1, TARGET_MARGIN, TARGET_FA_PER_1000 = 0.90, 0.15, 1.0


def benchmark_structure(n_dags: int, tasks_per_dag: int = 5) -> list[DagSpec]:
    """Chains of tasks on hourly and half-hourly schedules (enough runs per task)."""
    schedules = ("@hourly", "0:30:00")
    return [DagSpec(f"bench_dag_{i:03d}", schedules[i % 2],
                    tuple(TaskSpec(f"task_{j}", (f"task_{j - 1}",) if j else ())
                          for j in range(tasks_per_dag)))
            for i in range(n_dags)]


def benchmark_data(n_dags: int = 40, days: float = 40, seed: int = 7):
    return labeled_runs(benchmark_structure(n_dags), days, NOW_MS, seed)


def episode_ids(runs: pd.DataFrame) -> np.ndarray:
    """Episode number per row (-1 = normal run), from the `injected_anomaly` labels."""
    ordered = runs.sort_values(["dag_id", "task_id", "start_date"], kind="stable")
    label = ordered["injected_anomaly"].to_numpy()
    task = ordered["dag_id"].astype(str) + "." + ordered["task_id"].astype(str)
    starts = (label != "") & ((label != np.roll(label, 1)) | (task != np.roll(task, 1)).to_numpy())
    starts[0] = label[0] != ""
    task_episode = np.where(label != "", np.cumsum(starts), -1)
    ids = pd.Series(task_episode, index=ordered.index).reindex(runs.index).to_numpy()
    dag_level = runs["injected_anomaly"].isin(DAG_RUN_KINDS).to_numpy()
    run_key = runs["dag_id"].astype(str) + "/" + runs["run_id"].astype(str)
    dag_ids = pd.factorize(run_key)[0] + ids.max() + 1
    return np.where(dag_level, dag_ids, ids)


def score_episodes(runs: pd.DataFrame, flagged: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: kind, detected, delay (runs to the first flag)."""
    table = pd.DataFrame({"episode": episode_ids(runs), "kind": runs["injected_anomaly"].to_numpy(),
                          "flag": flagged["is_anomaly"].to_numpy(), "start": runs["start_date"].to_numpy()})
    table = table[table["episode"] >= 0].sort_values(["episode", "start"], kind="stable")
    table["position"] = table.groupby("episode").cumcount()
    first_flag = table[table["flag"]].groupby("episode")["position"].min()
    episodes = table.groupby("episode").agg(kind=("kind", "first"), runs=("position", "size"))
    episodes["detected"] = first_flag.reindex(episodes.index).notna()
    episodes["delay"] = first_flag.reindex(episodes.index)
    return episodes


def quality_rows(name: str, runs: pd.DataFrame, flagged: pd.DataFrame, seconds: float) -> list[dict]:
    episodes = score_episodes(runs, flagged)
    normal = runs["injected_anomaly"].to_numpy() == ""
    false = flagged["is_anomaly"].to_numpy() & normal
    false_kinds = flagged.loc[false, "kind"].value_counts()
    rows = []
    for kind in [*LABELED_KINDS, "overall"]:
        chosen = episodes if kind == "overall" else episodes[episodes["kind"] == kind]
        alarms = int(false.sum()) if kind == "overall" else int(false_kinds.get(kind, 0))
        known = kind == "overall" or name == "robust"
        rows.append(_metrics(name, kind, chosen, alarms if known else None))
    rows[-1].update(flagged_share=flagged["is_anomaly"].mean(), fa_per_1000=1000 * false.sum() / normal.sum(),
                    seconds=seconds)
    return rows


def _metrics(name: str, kind: str, episodes: pd.DataFrame, alarms: int | None) -> dict:
    detected, total = int(episodes["detected"].sum()), len(episodes)
    recall = detected / total if total else np.nan
    precision = detected / (detected + alarms) if alarms is not None and detected + alarms else np.nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else np.nan
    return {"detector": name, "kind": kind, "episodes": total, "detected": detected,
            "missed": total - detected, "false_alarms": alarms, "precision": precision,
            "recall": recall, "f1": f1, "median_delay": episodes["delay"].median(),
            "mean_delay": episodes["delay"].mean()}


def evaluate(runs: pd.DataFrame, schedules: dict[str, int], detectors=DETECTORS) -> pd.DataFrame:
    rows = []
    for name, params in detectors:
        started = time.perf_counter()
        flagged = detect(runs.drop(columns=["injected_anomaly"]), detector=name, schedules=schedules, **params)
        rows += quality_rows(name, runs, flagged, time.perf_counter() - started)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in ("precision", "recall", "f1"):
        shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.3f}")
    shown["false_alarms"] = shown["false_alarms"].map(lambda v: "–" if pd.isna(v) else str(int(v)))
    shown["delay (median/mean runs)"] = [
        "–" if pd.isna(a) else f"{a:.0f} / {b:.1f}" for a, b in zip(shown["median_delay"], shown["mean_delay"])]
    shown["flagged"] = shown["flagged_share"].map(lambda v: "" if pd.isna(v) else f"{100 * v:.2f}%")
    shown["FA/1000 normal"] = shown["fa_per_1000"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    shown["time"] = shown["seconds"].map(lambda v: "" if pd.isna(v) else f"{v:.1f} s")
    columns = ["detector", "kind", "episodes", "detected", "missed", "false_alarms", "precision", "recall",
               "f1", "delay (median/mean runs)", "flagged", "FA/1000 normal", "time"]
    return shown[columns].to_string(index=False)


def targets(table: pd.DataFrame) -> list[tuple[str, bool, str]]:
    overall = table[table["kind"] == "overall"].set_index("detector")
    robust, forest = overall.loc["robust"], overall.loc["isolation_forest"]
    return [
        (f"robust overall F1 >= {TARGET_F1}", robust["f1"] >= TARGET_F1, f"{robust['f1']:.3f}"),
        (f"robust F1 >= IsolationForest F1 + {TARGET_MARGIN}", robust["f1"] >= forest["f1"] + TARGET_MARGIN,
         f"{robust['f1']:.3f} vs {forest['f1']:.3f}"),
        (f"robust false alarms <= {TARGET_FA_PER_1000} per 1000 normal runs",
         robust["fa_per_1000"] <= TARGET_FA_PER_1000, f"{robust['fa_per_1000']:.2f}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.detection_quality")
    parser.add_argument("--dags", type=int, default=40)
    parser.add_argument("--days", type=float, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    runs, schedules = benchmark_data(args.dags, args.days, args.seed)
    normal = int((runs["injected_anomaly"] == "").sum())
    print(f"{len(runs):,} task runs ({normal:,} normal) over {runs.groupby(['dag_id', 'task_id']).ngroups} "
          f"tasks in {args.dags} DAGs, {args.days:g} days, seed {args.seed}")
    table = evaluate(runs, schedules)
    print(format_table(table))
    met = targets(table)
    for text, ok, value in met:
        print(f"{'MET ' if ok else 'MISS'}  {text}: {value}")
    return 0 if all(ok for _, ok, _ in met) else 1


if __name__ == "__main__":
    sys.exit(main())
