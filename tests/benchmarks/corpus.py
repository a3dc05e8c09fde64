"""Benchmark corpora for the detectors: realistic, adversarial, labeled, and made here.

    runs, schedules = labeled_corpus(n_dags=40, days=40, seed=7)   # injected anomalies
    runs, schedules = noise_corpus(n_dags=40, days=40, seed=8)     # none: every flag is false
    series = ops_series_corpus(n_series=30, seed=11)                # single metric series

Normal history is deliberately hard: lognormal bodies with Pareto bursts, bimodal tasks
(cache hit / miss), time-of-day and weekday load, slow trends, level shifts after deploys
(up to 1.6x, unlabeled: a deploy is not an incident), clusters of slow runs, irregular
manual runs, pauses, retries and flaky tasks. Labeled anomalies (`injected_anomaly`) are
what an operator would want to hear about. No public anomaly benchmark is used or
imitated from data: the shapes come from how Airflow workloads behave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LABELED_KINDS = ("slow", "fast", "failure_streak", "stuck", "level_shift", "drift", "failure_rate",
                 "missing", "late")
DAG_RUN_KINDS = ("missing", "late")
LASTING_KINDS = ("level_shift", "drift")
# Each run's normal law (what its duration would be drawn from were nothing injected):
# log seconds = law_mu + N(0, law_sigma²) + log(law_miss_x) with probability law_miss_p
# (a cache miss) + log(1 + Pareto(law_burst_alpha)) with probability law_burst_p (a burst;
# that term is exponential with rate law_burst_alpha). law_mu holds the task's base, time
# of day, weekday, trend, deploy steps (law_deploy), busy clusters (law_cluster) and, past
# the labeled runs of an injected level shift or drift, its lasting level (law_shifted);
# law_day_load and law_trend are the task's character, for reading which tasks mislead.
LAW_COLUMNS = ("law_mu", "law_sigma", "law_miss_p", "law_miss_x", "law_burst_p", "law_burst_alpha",
               "law_day_load", "law_trend", "law_deploy", "law_cluster", "law_shifted")
SCHEDULES_S = (3600, 1800, 600, 3600, 1800, 86_400)
START = pd.Timestamp("2025-12-01", tz="UTC")
TASKS_PER_DAG = 5
MAX_RUNS = 3000


def _task_character(rng: np.random.Generator) -> dict:
    """How one task behaves when nothing is wrong."""
    return {"base": float(np.clip(rng.lognormal(np.log(60), 1.2), 5, 1200)),
            "sigma": rng.uniform(0.05, 0.35), "burst_p": rng.choice([0.0, 0.005, 0.01, 0.03]),
            "burst_alpha": rng.uniform(1.5, 3.0),
            "miss_p": rng.uniform(0.1, 0.4) if rng.random() < 0.2 else 0.0, "miss_x": rng.uniform(2, 4),
            "day_load": rng.uniform(0, 0.6), "weekend": rng.uniform(0.7, 1.0),
            "trend": rng.uniform(-0.2, 0.5), "fail_p": rng.choice([0.0, 0.005, 0.02, 0.1], p=[.3, .4, .2, .1]),
            "deploys": rng.integers(0, 3), "clusters": rng.integers(0, 4)}


def _normal_durations(c: dict, t_s: np.ndarray, rng: np.random.Generator, law: dict | None = None) -> np.ndarray:
    """Seconds for runs at epoch seconds `t_s`: everything an ordinary week holds. With `law`,
    also fills it with each run's normal law (see `LAW_COLUMNS`): the same draws, in the same
    order and summed in the same order, so the durations do not change."""
    n = len(t_s)
    hour = (t_s % 86_400) / 3600
    weekday = ((t_s // 86_400) + 3) % 7  # 1970-01-01 was a Thursday
    log = np.log(c["base"]) + rng.normal(0, c["sigma"], n)
    day = np.log1p(c["day_load"] * np.exp(-((hour - 14) ** 2) / 18))
    log += day
    weekend = np.where(weekday >= 5, np.log(c["weekend"]), 0.0)
    log += weekend
    trend = c["trend"] * (t_s - t_s[0]) / max(1.0, t_s[-1] - t_s[0])
    log += trend
    log += np.where(rng.random(n) < c["miss_p"], np.log(c["miss_x"]), 0.0)
    bursts = rng.random(n) < c["burst_p"]
    log += np.where(bursts, np.log1p(rng.pareto(c["burst_alpha"], n)), 0.0)
    deploy, cluster = np.zeros(n), np.zeros(n)
    for at in rng.integers(0, n, c["deploys"]):
        step = np.log(rng.uniform(0.7, 1.6))
        log[at:] += step
        deploy[at:] += step
    for at in rng.integers(0, n, c["clusters"]):  # a busy warehouse for a few runs
        end = at + rng.integers(3, 10)
        bump = np.log(rng.uniform(1.3, 2.2))
        log[at:end] += bump
        cluster[at:end] += bump
    if law is not None:
        law.update(law_mu=np.log(c["base"]) + day + weekend + trend + deploy + cluster, law_sigma=c["sigma"],
                   law_miss_p=c["miss_p"], law_miss_x=c["miss_x"], law_burst_p=c["burst_p"],
                   law_burst_alpha=c["burst_alpha"], law_day_load=c["day_load"], law_trend=c["trend"],
                   law_deploy=deploy, law_cluster=cluster, law_shifted=np.zeros(n))
    return np.exp(log)


def _dag_grid(interval_s: int, days: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Logical dates (epoch s) on the grid, with a pause (a gap of days) in some DAGs."""
    every = interval_s * int(np.ceil(days * 86_400 / MAX_RUNS / interval_s))
    logical = START.value // 10 ** 9 + np.arange(int(days * 86_400 // every)) * every
    keep = np.ones(len(logical), dtype=bool)
    if rng.random() < 0.3:
        at = rng.integers(len(logical) // 5, len(logical) * 4 // 5)
        keep[at:at + int(rng.uniform(1, 4) * 86_400 / every)] = False
    return logical[keep], np.full(keep.sum(), every)


def _plan(n_runs: int, kinds: tuple[str, ...], per_week: float, days: float, rng) -> list[tuple[str, int, int]]:
    """(kind, first run, task) per injected anomaly, in separate slots after a clean start."""
    count = int(round(per_week * days / 7)) if kinds else 0
    start, stop = n_runs // 5, n_runs - 40
    if count == 0 or stop - start < 60 * count:
        return []
    slot = (stop - start) // count
    return [(str(rng.choice(kinds)), start + i * slot + int(rng.integers(0, slot - 40)),
             int(rng.integers(0, TASKS_PER_DAG))) for i in range(count)]


def _inject(kind: str, at: int, seconds: np.ndarray, state: np.ndarray, label: np.ndarray, rng) -> None:
    """One anomaly on one task's arrays, in place."""
    if kind == "slow":
        seconds[at], label[at] = seconds[at] * rng.uniform(4, 10), kind
    elif kind == "fast":  # the task did nothing
        seconds[at], label[at] = seconds[at] * rng.uniform(0.005, 0.05), kind
    elif kind == "stuck":
        seconds[at] = max(1800.0, seconds[at] * rng.uniform(20, 40))
        state[at], label[at] = "failed", kind
    elif kind == "failure_streak":
        length = rng.integers(3, 7)
        state[at:at + length], label[at:at + length] = "failed", kind
    elif kind == "failure_rate":
        burst = at + np.flatnonzero(rng.random(24) < 0.4)
        state[burst[burst < len(state)]] = "failed"
        label[at:at + 24] = kind
    elif kind == "level_shift":
        seconds[at:] *= rng.uniform(2.5, 4.0)
        label[at:at + 10] = kind
    elif kind == "drift":
        ramp = np.minimum(1.0, np.arange(1, len(seconds) - at + 1) / 24)
        seconds[at:] *= 1 + (rng.uniform(3, 4) - 1) * ramp
        label[at:at + 32] = kind


def _dag_frame(index: int, days: float, rng, kinds, per_week: float) -> tuple[pd.DataFrame, int]:
    interval = int(SCHEDULES_S[index % len(SCHEDULES_S)])
    logical, every = _dag_grid(interval, days, rng)
    n = len(logical)
    plan = _plan(n, kinds, per_week, days, rng)
    offset = np.where(rng.random(n) < 0.97, rng.uniform(2, 30, n), rng.uniform(30, 600, n))
    dag_label = np.full(n, "", dtype=object)
    skipped = np.zeros(n, dtype=bool)
    for kind, at, _ in plan:
        if kind == "late":
            offset[at], dag_label[at] = max(900.0, rng.uniform(0.5, 0.9) * every[at]), kind
        elif kind == "missing":
            length = int(rng.integers(1, 4))
            skipped[at:at + length], dag_label[at + length] = True, kind
    start = logical + every + offset
    frames, clock = [], start.copy()
    failed_upstream = np.zeros(n, dtype=bool)
    for task in range(TASKS_PER_DAG):
        character, law = _task_character(rng), {}
        seconds = _normal_durations(character, clock, rng, law)
        state = np.where(rng.random(n) < character["fail_p"], "failed", "success").astype(object)
        label = np.full(n, "", dtype=object)
        for kind, at, which in plan:
            if which == task and kind not in DAG_RUN_KINDS:
                before = seconds.copy()
                _inject(kind, at, seconds, state, label, rng)
                if kind in LASTING_KINDS:  # past its labeled runs, the shifted level is the task's normal
                    law["law_shifted"] += np.where(label == kind, 0.0, np.log(seconds / before))
        law["law_mu"] = law["law_mu"] + law["law_shifted"]
        retried = (rng.random(n) < 0.03) & (state == "success")
        task_start = clock + np.where(retried, 300 + seconds * rng.uniform(0.1, 1, n), 0) + rng.uniform(0.5, 5, n)
        state = np.where(failed_upstream, "upstream_failed", state)
        seconds = np.where(failed_upstream, 0.0, seconds)
        label = _labels_that_ran(label, failed_upstream)
        frames.append(pd.DataFrame({
            "dag_id": f"bench_dag_{index:03d}", "task_id": f"task_{task}", "start_s": task_start,
            "duration_s": np.round(seconds, 3), "state": state, "try_number": np.where(retried, 2, 1),
            "logical_s": logical, "run_no": np.arange(n), "injected_anomaly": np.where(dag_label != "", dag_label, label),
            "skipped": skipped, **law}))
        failed_upstream |= state == "failed"
        clock = task_start + seconds
    frame = pd.concat(frames, ignore_index=True)
    return frame[~frame.pop("skipped")], int(every[0])


def _labels_that_ran(label: np.ndarray, upstream_failed: np.ndarray) -> np.ndarray:
    """A run that never ran (upstream failed) cannot show an anomaly: its label goes, unless
    it sits inside an episode other runs of which ran (clearing it there split one injected
    level shift, drift or failure-rate jump into several episodes: a bug until 2026-11-29)."""
    out = label.copy()
    start = 0
    for end in range(1, len(label) + 1):
        if end == len(label) or label[end] != label[start]:
            if label[start] != "" and upstream_failed[start:end].all():
                out[start:end] = ""
            elif label[start] != "":
                ran = np.flatnonzero(~upstream_failed[start:end])
                out[start:start + ran[0]] = ""  # no episode starts before its first run that ran
                out[start + ran[-1] + 1:end] = ""
            start = end
    return out


SINGLE_RUN_KINDS = ("slow", "fast", "stuck")


def _manual_labels(scheduled: pd.DataFrame, manual: pd.DataFrame) -> np.ndarray:
    """A manual run copies a scheduled run's durations and states, injected ones included.
    A copy of a slow, fast or stuck run is as anomalous as the original; a manual run that
    lands inside a longer episode (a level shift, a drift, a failure-rate jump) belongs to
    it; a manual run is neither late nor a missing run. Until 2026-11-29 every manual run was
    labeled normal: its copy of an injected run counted as a false alarm when flagged, and
    one landing inside an episode split it in two."""
    out = np.where(manual["injected_anomaly"].isin(SINGLE_RUN_KINDS), manual["injected_anomaly"], "").astype(object)
    for task, rows in manual.groupby("task_id"):
        own = scheduled[scheduled["task_id"] == task].sort_values("start_s")
        labels = own["injected_anomaly"].to_numpy()
        after = np.searchsorted(own["start_s"].to_numpy(), rows["start_s"].to_numpy())
        before_label = labels[np.clip(after - 1, 0, len(labels) - 1)]
        after_label = labels[np.clip(after, 0, len(labels) - 1)]
        inside = (after > 0) & (after < len(labels)) & (before_label == after_label) & (before_label != "") \
            & ~np.isin(before_label, DAG_RUN_KINDS)
        position = manual.index.get_indexer(rows.index)
        out[position] = np.where(inside, before_label, out[position])
    return out


def _manual_runs(frame: pd.DataFrame, rng) -> pd.DataFrame:
    """About 1% of DAG runs get an extra manual run at a random moment, off the grid."""
    runs = frame["run_no"].unique()
    chosen = rng.choice(runs, max(1, len(runs) // 100), replace=False)
    extra = frame[frame["run_no"].isin(chosen)].copy()
    shift = pd.Series(rng.uniform(600, 20_000, len(chosen)), index=chosen)
    extra["start_s"] += extra["run_no"].map(shift).to_numpy()
    extra["logical_s"] = extra["start_s"] - 1
    extra["run_type"] = "manual"
    extra["injected_anomaly"] = _manual_labels(frame, extra)
    extra["run_no"] = extra["run_no"] + 10_000_000
    return extra


def _runs_corpus(n_dags: int, days: float, seed: int, kinds: tuple[str, ...], per_week: float,
                 with_law: bool = False):
    rng = np.random.default_rng(seed)
    frames, schedules = [], {}
    for index in range(n_dags):
        frame, every = _dag_frame(index, days, rng, kinds, per_week)
        frame["run_type"] = "scheduled"
        frames += [frame, _manual_runs(frame, rng)]
        schedules[f"bench_dag_{index:03d}"] = every
    runs = pd.concat(frames, ignore_index=True)
    prefix = np.where(runs["run_type"] == "manual", "manual__", "scheduled__")
    runs["run_id"] = prefix + runs["run_no"].astype(str)
    runs["start_date"] = pd.to_datetime(runs.pop("start_s"), unit="s", utc=True)
    runs["logical_date"] = pd.to_datetime(runs.pop("logical_s"), unit="s", utc=True)
    runs["queued_s"] = np.round(rng.uniform(0.5, 5, len(runs)), 3)
    runs = runs.drop(columns=["run_no"]).sort_values(["start_date", "dag_id", "task_id"], ignore_index=True)
    columns = ["dag_id", "task_id", "run_id", "start_date", "duration_s", "state", "queued_s", "try_number",
               "run_type", "logical_date", "injected_anomaly"]
    return runs[columns + (list(LAW_COLUMNS) if with_law else [])], schedules


def labeled_corpus(n_dags: int = 40, days: float = 40, seed: int = 7, per_week: float = 2.0,
                   with_law: bool = False):
    """Realistic history with every kind in LABELED_KINDS injected; and DAG intervals (s).
    `with_law` adds each run's normal law (`LAW_COLUMNS`); the runs are the same either way."""
    return _runs_corpus(n_dags, days, seed, LABELED_KINDS, per_week, with_law)


def noise_corpus(n_dags: int = 40, days: float = 40, seed: int = 8, with_law: bool = False):
    """The same realism with no anomaly injected: every flag is a false alarm."""
    return _runs_corpus(n_dags, days, seed, (), 0.0, with_law)


# --- operational metric series ---------------------------------------------------------

INCIDENT_SHAPES = ("level_shift", "spike_run", "degradation", "collapse")


def _one_series(n: int, rng) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A positive metric every 5 minutes with daily load, bursts and 1-3 incidents, in any
    unit: its level is anywhere from 1e-3 (a share) to 1e5 (a count), log-uniformly.
    Returns values and incident (first, last) positions."""
    t = np.arange(n)
    level = rng.uniform(np.log(1e-3), np.log(1e5))
    walk = np.cumsum(rng.normal(0, rng.uniform(0.0, 0.01), n))
    log = level + walk + rng.uniform(0, 0.4) * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 6))
    log += rng.normal(0, rng.uniform(0.03, 0.3), n)
    log += np.where(rng.random(n) < rng.uniform(0, 0.02), np.log1p(rng.pareto(rng.uniform(1.5, 3), n)), 0)
    for at in rng.integers(0, n, rng.integers(0, 5)):  # ordinary busy spells
        log[at:at + rng.integers(3, 20)] += np.log(rng.uniform(1.2, 1.8))
    incidents = []
    for i in range(int(rng.integers(1, 4))):
        at = int(rng.integers(n * (0.25 + 0.25 * i), n * (0.25 + 0.25 * i) + n // 6))
        shape = INCIDENT_SHAPES[int(rng.integers(0, len(INCIDENT_SHAPES)))]
        if shape == "level_shift":
            length = int(rng.integers(100, 400))
            log[at:at + length] += np.log(rng.uniform(2, 4))
        elif shape == "spike_run":
            length = int(rng.integers(5, 30))
            log[at:at + length] += np.log(rng.uniform(3, 8))
        elif shape == "degradation":
            length = int(rng.integers(100, 300))
            log[at:at + length] += np.linspace(0, np.log(rng.uniform(3, 5)), length)
        else:  # the metric falls to almost nothing (a feed stopped, a consumer died)
            length = int(rng.integers(5, 60))
            log[at:at + length] += np.log(rng.uniform(0.01, 0.08))
        incidents.append((at, min(n - 1, at + length - 1)))
    return np.exp(log), incidents


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Rounded to `digits` significant digits, as a metric is reported in any unit."""
    magnitude = 10.0 ** (np.floor(np.log10(values)) - digits + 1)
    return np.round(values / magnitude) * magnitude


def ops_series_corpus(n_series: int = 30, seed: int = 11, length: tuple[int, int] = (3000, 9000)):
    """Single series shaped like operational metrics, each as one task's runs (six contract
    columns, no schedule), with NAB-like incident windows: (runs, windows) where windows has
    task_id, first, last (row positions within the series) and the window's last position."""
    rng = np.random.default_rng(seed)
    frames, windows = [], []
    for index in range(n_series):
        n = int(rng.integers(*length))
        values, incidents = _one_series(n, rng)
        start = START + pd.to_timedelta(np.arange(n) * 300 + rng.integers(0, 3, n), unit="s")
        task = f"series_{index:02d}"
        frames.append(pd.DataFrame({"dag_id": task, "task_id": task, "run_id": [f"p{i}" for i in range(n)],
                                    "start_date": start, "duration_s": _significant(values, 4), "state": "success"}))
        span = max(1, n // 10 // len(incidents))
        for first, last in incidents:
            windows.append({"task_id": task, "first": first, "end": max(last, first + span), "n": n})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(windows)
