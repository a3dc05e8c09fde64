"""Scoring a sync's new runs against baselines fitted on the history, without the history.

`fit_state` keeps, per task, the last few values every rolling window needs (as small
NaN-padded matrices), per task and season bucket the last seasonal residuals, and per
DAG its recent scheduled times and start delays. `judge_new` computes the same
verdicts `RobustDetector.score` would for the first new run of each task; `advance_schedule`
then moves each DAG's recent scheduled times and delays past the runs it judged, so the
next sync's runs are judged on the schedule from the newest run seen, not from the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from orcai.detect import durations, failures, schedule
from orcai.detect.tails import fit_sorted
from orcai.detect.frame import NS_PER_S, fill_elapsed, log_durations, prepare_runs
from orcai.detect.windows import GroupRolling


@dataclass
class Tails:
    """Last `width` values per key, right-aligned, NaN where there were fewer."""
    keys: pd.Index
    values: np.ndarray

    def at(self, keys) -> np.ndarray:
        position = self.keys.get_indexer(keys)
        padded = np.vstack([self.values, np.full((1, self.values.shape[1]), np.nan)])
        return padded[position]  # -1 (unknown key) picks the all-NaN row

    def with_rows(self, rows: Tails) -> Tails:
        """These tails with the rows of `rows`' keys replaced by (or added as) theirs."""
        position = self.keys.get_indexer(rows.keys)
        values, known = self.values.copy(), position >= 0
        values[position[known]] = rows.values[known]
        return Tails(self.keys.append(rows.keys[~known]), np.vstack([values, rows.values[~known]]))

    def only(self, keys) -> Tails:
        """The rows of `keys` alone (all-NaN for unknown keys): the work on a batch's keys
        then costs nothing per key the batch does not touch."""
        keys = pd.Index(pd.unique(np.asarray(keys, dtype=object)))
        return Tails(keys, self.at(keys))


def _after_tails(past: Tails, keys: pd.Series, values: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Each key's kept row, then its new values. A row's NaN padding sits before its first
    kept value, so any window over the result sees the same values the unpadded one would."""
    width = past.values.shape[1]
    old_keys = np.repeat(past.keys.to_numpy(dtype=object), width)
    return (pd.Series(np.concatenate([old_keys, np.asarray(keys, dtype=object)])),
            np.concatenate([past.values.ravel(), np.asarray(values, dtype=float)]))


def tails(keys: pd.Series, values: np.ndarray, width: int) -> Tails:
    """`keys` in time order within each key; keeps the last `width` values of each."""
    codes, uniques = pd.factorize(keys, sort=False)
    from_end = pd.Series(codes).groupby(codes).cumcount(ascending=False).to_numpy()
    keep = from_end < width
    matrix = np.full((len(uniques), width), np.nan)
    matrix[codes[keep], width - 1 - from_end[keep]] = values[keep]
    return Tails(pd.Index(uniques), matrix)


RUNNING_AT_FIT = 3  # per DAG, its newest runs of the fit remembered by run id


@dataclass
class FittedState:
    sample_x: Tails          # baseline sample: log durations
    spread: Tails            # baseline sample: deseasonalised residuals
    season: Tails            # per task and bucket: residuals
    tail: Tails              # baseline sample: residuals the tail is fitted on
    chain: Tails             # successful runs: streak length, and the exceedance chain it continues
    level: Tails             # baseline sample: deseasonalised log durations (the long view)
    slow: Tails              # successful runs: raw slow verdicts
    drift: Tails             # successful runs: drift alerts, announced or not (durations.finish)
    success_x: Tails
    confirmed: Tails
    outcome: Tails           # finished runs: 1 failed, 0 success
    dag_times: pd.DataFrame  # per DAG: interval, and whether missing runs may be judged on it
    times: Tails             # per DAG: scheduled times of its recent runs (ns), the newest last
    floors: pd.Series        # per task: the duration floor before the log (frame.task_floors)
    delays: Tails            # per DAG: start delays, in the order of `times`
    # (dag_id, run_id) of the fit's newest DAG runs and of those judged since: one set, a
    # new one per call (the state before it stays as it was, see RobustDetector.commit); it
    # holds the DAG runs between two refits, so copying it is cheap and a lookup is one probe
    judged: frozenset = frozenset()


def _task_names(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    rows = runs.iloc[frame["row"].to_numpy()]
    return pd.Series(rows["dag_id"].astype(str).to_numpy() + "\x1f" + rows["task_id"].astype(str).to_numpy(),
                     index=frame.index)


def fit_state(params, runs: pd.DataFrame, frame: pd.DataFrame, table: pd.DataFrame,
              timing: pd.DataFrame) -> FittedState:
    names = _task_names(runs, frame)
    sample = timing["in_sample"].to_numpy()
    success = frame["success"].to_numpy() & np.isfinite(frame["x"].to_numpy())
    outcome = frame["outcome"].to_numpy()  # one per task and DAG run (frame.run_outcomes)
    w, k = params.window, params.confirm_runs
    season_keys = names + "\x1f" + frame["bucket"].astype(str)
    on = lambda mask, column, width, keys=names: tails(keys[mask], np.asarray(column)[mask], width)  # noqa: E731
    dag_times = table.groupby("dag_id").agg(interval_s=("interval_s", "last"), trusted=("trusted", "last"),
                                            fit_last_ns=("time_ns", "max"))
    return FittedState(
        sample_x=on(sample, frame["x"], w), spread=on(sample, timing["spread"], w),
        season=on(sample, timing["residual"], params.season_window, season_keys),
        tail=on(sample & np.isfinite(timing["tail_spread"].to_numpy()), timing["tail_spread"], params.tail_window),
        chain=Tails(*_chain_end(names[success], timing[success])),
        level=on(sample, timing["level"], params.tail_window),
        slow=on(success, timing["slow_raw"], k), drift=on(success, timing["drift_alert"], params.drift_once_runs),
        success_x=on(success, frame["x"], k),
        confirmed=on(success, timing["confirmed"], 2 * w - 1),
        outcome=on(outcome, frame["failed"].astype(float), params.failure_history + params.rate_window),
        dag_times=dag_times, times=tails(table["dag_id"], table["time_ns"].to_numpy(dtype=float), w),
        floors=pd.Series(frame["floor"].to_numpy(), index=names.to_numpy()).groupby(level=0).last(),
        delays=tails(table["dag_id"], table["delay_s"].to_numpy() if "delay_s" in table else
                     np.full(len(table), np.nan), w),
        # a DAG run still running at the fit is among its DAG's newest few; its later tasks,
        # without a logical date, come at their own start, so only its run id tells it
        judged=frozenset(_run_keys(runs, frame, table.groupby("dag_id", sort=False).tail(RUNNING_AT_FIT))))


def _run_keys(runs: pd.DataFrame, frame: pd.DataFrame, table: pd.DataFrame):
    """(dag_id, run_id) per DAG run of `table`: its identity whatever time it is judged at
    (without a logical date its time is its earliest task run's start in the batch at hand)."""
    rows = runs.iloc[frame.loc[table["frame_row"].to_numpy(), "row"].to_numpy()]
    return zip(rows["dag_id"].to_numpy(), rows["run_id"].to_numpy())


def _chain_end(names: pd.Series, timing: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """Per task, its last successful run's (streak, next_start, next_stay, flags in its streak)."""
    last = ~names.duplicated(keep="last").to_numpy()
    values = timing[["shift_streak", "next_start", "next_stay", "streak_alerts"]].to_numpy(dtype=float)[last]
    return pd.Index(names.to_numpy()[last]), values


def _nan(function, matrix: np.ndarray, **kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(matrix, axis=1, **kwargs)


def row_quantiles(matrix: np.ndarray, qs) -> list[np.ndarray]:
    """Per row, the linear-interpolated quantiles of its finite values (np.nanquantile
    along axis 1, without its per-row Python loop); NaN for rows without values."""
    ordered = np.sort(matrix, axis=1)  # NaN last
    n = np.isfinite(ordered).sum(axis=1)
    rows, last = np.arange(len(ordered)), max(ordered.shape[1] - 1, 0)
    out = []
    for q in qs:
        position = q * np.maximum(n - 1, 0)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, np.maximum(n - 1, 0))
        low, high = ordered[rows, np.clip(below, 0, last)], ordered[rows, np.clip(above, 0, last)]
        out.append(np.where(n > 0, low + (position - below) * (high - low), np.nan))
    return out


def judge_new(params, state: FittedState, runs: pd.DataFrame, now):
    """(frame, table, timing, failing) for new runs, as RobustDetector._verdicts gives."""
    frame = prepare_runs(runs)
    names = _task_names(runs, frame)
    known = state.floors.reindex(names.to_numpy()).to_numpy()
    frame["floor"] = np.where(np.isfinite(known), known, frame["floor"].to_numpy())
    log_durations(frame)
    if now is not None:
        fill_elapsed(frame, now)
    table = _new_schedule(params, state, runs, frame)
    frame["bucket"], frame["bucket_kind"] = schedule.season_buckets(frame, table)
    timing = _new_durations(params, state, frame, names)
    return frame, table, timing, _new_failures(params, state, frame, names)


def _new_durations(params, state: FittedState, frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    sample_x, spread = state.sample_x.at(names), state.spread.at(names)
    seasonal = state.season.at(names + "\x1f" + frame["bucket"].astype(str))
    bucket = frame["bucket"].to_numpy()
    season = durations.season_used(_nan(np.nanmedian, seasonal), np.sum(np.isfinite(seasonal), axis=1),
                                   bucket, params)
    low, mid, high = row_quantiles(spread, (0.1, 0.75, 0.9))
    x = frame["x"].to_numpy()
    base = pd.DataFrame({
        "med": _nan(np.nanmedian, sample_x), "season": season, "low": low, "mid": mid, "high": high,
        "season_n": np.sum(np.isfinite(seasonal), axis=1), "seasonal": bucket >= 0,
        "n": np.sum(np.isfinite(sample_x), axis=1)}, index=frame.index)
    fits = fit_sorted(np.sort(state.tail.at(names), axis=1), params.tail_share, params.sigma_floor, params.risk,
                      params.tail_uncertainty, params.band_max_ratio)
    base = pd.concat([base, pd.DataFrame(fits, index=frame.index)], axis=1)
    base["long_med"], base["long_high"] = row_quantiles(state.level.at(names), (0.5, 1 - params.tail_share))
    chain = state.chain.at(names)
    base["streak_prev"], base["next_start"], base["next_stay"] = chain[:, 0], chain[:, 1], chain[:, 2]
    base["alerted_prev"] = chain[:, 3]
    verdict = durations.judge_durations(frame, base, params)
    slow_before = np.nansum(state.slow.at(names), axis=1)
    recent_x = state.success_x.at(names)
    recent_x = np.where(np.isfinite(recent_x).all(axis=1), _nan(np.nanmedian, recent_x), np.nan)
    shifted = (np.nansum(state.confirmed.at(names), axis=1) > 0) | (slow_before >= params.confirm_runs)
    accepted = durations.accept_rule(shifted, x, recent_x, verdict, params) & frame["success"].to_numpy()
    return durations.finish(verdict, accepted, slow_before, np.nansum(state.drift.at(names), axis=1))


def _new_failures(params, state: FittedState, frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    outcome = frame["outcome"].to_numpy()  # one per task and DAG run (frame.run_outcomes)
    rows, past = frame[outcome], state.outcome.at(names[outcome])
    failed = rows["failed"].to_numpy().astype(float)
    task = rows["task"].to_numpy()
    trailing = np.cumprod(past[:, ::-1] == 1, axis=1).sum(axis=1)  # failures in a row at the end
    group = pd.Series(1 - failed).groupby(task).cumsum().to_numpy()
    streak = pd.Series(failed).groupby([task, group]).cumsum().to_numpy() + np.where(group == 0, trailing, 0) * failed
    earlier_n = pd.Series(np.ones(len(rows))).groupby(task).cumsum().to_numpy()  # this batch, incl. current
    earlier_fails = pd.Series(failed).groupby(task).cumsum().to_numpy()
    history, recent = params.failure_history, params.rate_window
    window = lambda width, fn: fn(past[:, past.shape[1] - width:], axis=1)  # noqa: E731
    counts = {"seen": window(history, lambda m, axis: np.isfinite(m).sum(axis)) + earlier_n,
              "fails_seen": window(history, np.nansum) + earlier_fails,
              "recent_n": np.minimum(window(recent - 1, lambda m, axis: np.isfinite(m).sum(axis)) + earlier_n, recent),
              "recent_fails": window(recent - 1, np.nansum) + earlier_fails,
              "all_n": np.isfinite(past).sum(axis=1) + earlier_n, "all_fails": np.nansum(past, axis=1) + earlier_fails}
    judged = failures.failure_rules(failed > 0, streak, counts, params)
    return failures.spread_to_frame(judged, rows.index.to_numpy(), frame.index)


def _new_schedule(params, state: FittedState, runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Missing and late verdicts for the DAG runs not judged before, each continuing from the
    newest earlier run seen: kept in the state, or earlier in this batch."""
    table = schedule.dag_runs(runs, frame)
    known = state.dag_times.reindex(table["dag_id"])
    given = table["dag_id"].map(getattr(params, "schedules_", {}) or {}).astype(float).to_numpy()
    table["interval_s"] = np.where(np.isfinite(given), given, known["interval_s"].to_numpy())
    trusted = np.isfinite(given) | known["trusted"].fillna(False).to_numpy(dtype=bool)
    time_ns, kept = table["time_ns"].to_numpy(dtype=float), state.times.at(table["dag_id"])
    # A DAG run up to the fit's newest was judged by the refit's exact `score` (one still
    # running then is among the fit's newest, known by its run id); a later one may have
    # been judged by an earlier call: the monitor re-reads runs that ended just before its
    # watermark, and a DAG run's later tasks come in later syncs (where its first
    # task run here is not its start). Neither is judged again. A run older than every kept
    # time (it arrived after more than a window of newer ones) is still judged: its delay
    # needs no gap, only its missing-run count lacks the run before it.
    seen = np.fromiter((key in state.judged for key in _run_keys(runs, frame, table)), bool, len(table))
    fresh = ~seen & ~(time_ns <= known["fit_last_ns"].to_numpy(dtype=float))
    earlier_kept = _nan(np.nanmax, np.where(kept < time_ns[:, None], kept, np.nan))
    table["prev_ns"] = np.fmax(table.groupby("dag")["time_ns"].shift(1).to_numpy(dtype=float), earlier_kept)
    gap_s = (time_ns - table["prev_ns"].to_numpy()) / NS_PER_S
    missed = schedule.missed_runs(gap_s, table["interval_s"].to_numpy(), trusted, params)
    table["fresh"], table["missed"] = fresh, np.where(fresh, missed, 0)
    table["missing"], table["late"] = table["missed"] >= 1, False
    if "logical_ns" in table:
        delay = ((table["start_ns"] - table["logical_ns"]) / NS_PER_S).where(table["logical_ns"] >= 0)
        usual, count = np.full(len(table), np.nan), np.zeros(len(table))
        usual[fresh], count[fresh] = _medians_after(state.delays, table["dag_id"][fresh], delay[fresh].to_numpy())
        table = schedule.late_rule(table, delay, pd.Series(usual, index=table.index),
                                   pd.Series(count, index=table.index), params)
        table["late"] &= fresh
    return table


def _medians_after(past: Tails, keys: pd.Series, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per new value, the median and count of the values before it in its key's window: its
    kept tail, then the key's earlier new values (as `score`'s rolling window sees them)."""
    all_keys, all_values = _after_tails(past.only(keys), keys, values)
    rolling = GroupRolling(pd.Series(all_values), [all_keys], past.values.shape[1])
    before = lambda column: column.groupby(all_keys.to_numpy()).shift(1).to_numpy()[len(all_keys) - len(keys):]  # noqa: E731
    return before(rolling.median()), np.nan_to_num(before(rolling.count()))


def advance_schedule(state: FittedState, runs: pd.DataFrame, frame: pd.DataFrame, table: pd.DataFrame) -> FittedState:
    """`state` with the DAG runs `judge_new` judged (its `table`, of `runs` and their `frame`)
    added to each DAG's recent scheduled times and start delays, and to the runs judged, so
    the next sync's runs continue from them. Only the
    batch's DAGs are touched; each keeps its newest times in time order (a run held back
    to a later sync goes where it belongs), its delays in the same order."""
    fresh = table[table["fresh"].to_numpy()]
    if fresh.empty:
        return state
    times, delays = state.times.only(fresh["dag_id"]), state.delays.only(fresh["dag_id"])
    width = times.values.shape[1]
    new_delays = fresh["delay_s"].to_numpy(dtype=float) if "delay_s" in fresh else np.full(len(fresh), np.nan)
    keys = np.concatenate([np.repeat(times.keys.to_numpy(dtype=object), width), fresh["dag_id"].to_numpy(dtype=object)])
    at = np.concatenate([times.values.ravel(), fresh["time_ns"].to_numpy(dtype=float)])
    delay = np.concatenate([delays.values.ravel(), new_delays])
    codes = times.keys.get_indexer(keys)
    order = np.lexsort((at, codes))
    order = order[np.isfinite(at[order])]  # the padding
    ordered_keys = pd.Series(keys[order])
    judged = state.judged | frozenset(_run_keys(runs, frame, fresh))
    return replace(state, times=state.times.with_rows(tails(ordered_keys, at[order], width)),
                   delays=state.delays.with_rows(tails(ordered_keys, delay[order], width)), judged=judged)
