"""Duration baselines per task: rolling, robust, seasonal, and judged without look-ahead.

Everything works on the prepared frame (sorted by task, then start time) and in log
seconds, so "3x slower" means the same for a 10-second and a 10-minute task. A value
"before" a run is computed only from the baseline sample strictly before it in its task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.detect import persistence
from orcai.detect.tails import judge_tails, rolling_fits
from orcai.detect.windows import GroupRolling

Z_10_75 = 1.9581  # q75 - q10 of a standard normal: (q75 - q10) / Z_10_75 estimates sigma


def before(frame: pd.DataFrame, values: pd.Series, keys: list[str]) -> pd.Series:
    """For every row, the last of `values` (given on sample rows only) strictly before it."""
    full = pd.Series(np.nan, index=frame.index)
    full.loc[values.index] = values.to_numpy()
    groups = [frame[key] for key in keys]
    return full.groupby(groups).ffill().groupby(groups).shift(1)


def _rolling(values: pd.Series, keys: list[pd.Series], window: int, min_periods: int = 1) -> GroupRolling:
    return GroupRolling(values, keys, window, min_periods)


def rolling_baseline(frame: pd.DataFrame, sample: np.ndarray, params, long_view: bool = True) -> pd.DataFrame:
    """Median, seasonal offset and spread of log duration over the sample runs before each
    run; with `long_view`, also where the last `tail_window` of them sat (shift streaks)."""
    rows = frame[sample]
    task, bucket = rows["task"], rows["bucket"]
    recent = _rolling(rows["x"], [task], params.window)
    med_after, n_after = recent.median(), recent.count()
    med = before(frame, med_after, ["task"])
    residual = rows["x"] - med[sample]
    seasonal = _rolling(residual, [task, bucket], params.season_window)
    season_after, season_n_after = seasonal.median(), seasonal.count()
    season = before(frame, season_after, ["task", "bucket"]).to_numpy()
    season_n = before(frame, season_n_after, ["task", "bucket"]).fillna(0).to_numpy()
    season = season_used(season, season_n, frame["bucket"].to_numpy(), params)
    spread_sample = residual - season[sample]
    # the long view for sustained shifts: where the task's last `tail_window` runs sat
    # (deseasonalised), which a slow ramp cannot drag along the way the 30-run median follows it
    level = rows["x"] - season[sample]
    long_med = long_high = np.full(len(frame), np.nan)
    if long_view:
        lasting = _rolling(level, [task], params.tail_window)
        long_med = before(frame, lasting.median(), ["task"]).to_numpy()
        long_high = before(frame, lasting.quantile(1 - params.tail_share), ["task"]).to_numpy()
    spread = _rolling(spread_sample, [task], params.window)
    low, mid, high = (before(frame, spread.quantile(q), ["task"]) for q in (0.1, 0.75, 0.9))
    # a run judged before its hour (or weekday) had been seen a few times was not (or badly)
    # deseasonalised: a busy night would enter the tail as a huge residual and widen every
    # later band, so the tail learns from the others only
    known = (frame["bucket"].to_numpy() < 0) | (season_n >= params.season_tail_runs)
    tail_spread = np.where(known, _on_rows(frame, spread_sample), np.nan)
    fits = rolling_fits(frame["task"].to_numpy(), sample & known, tail_spread, params)
    fits.index = frame.index
    return pd.concat([fits, pd.DataFrame({
        "med": med.to_numpy(), "season": season, "low": low.to_numpy(), "high": high.to_numpy(),
        "mid": mid.to_numpy(), "season_n": season_n, "seasonal": frame["bucket"].to_numpy() >= 0,
        "n": before(frame, n_after, ["task"]).fillna(0).to_numpy(),
        "residual": _on_rows(frame, residual), "spread": _on_rows(frame, spread_sample),
        "tail_spread": tail_spread, "long_med": long_med, "long_high": long_high,
        "level": _on_rows(frame, level),
    }, index=frame.index)], axis=1)


def season_used(season: np.ndarray, season_n: np.ndarray, bucket: np.ndarray, params) -> np.ndarray:
    """The seasonal offset where it is known and large enough to matter, else 0."""
    with np.errstate(invalid="ignore"):
        use = (bucket >= 0) & (season_n >= params.season_min_runs) & (np.abs(season) >= params.season_min_effect)
    return np.where(use, season, 0.0)


def _on_rows(frame: pd.DataFrame, values: pd.Series) -> np.ndarray:
    full = np.full(len(frame), np.nan)
    full[values.index.to_numpy()] = values.to_numpy()
    return full


def judge_durations(frame: pd.DataFrame, base: pd.DataFrame, params) -> pd.DataFrame:
    """Tail probabilities against the task's own tail, and the raw slow / fast / stuck
    verdicts (before the "new normal" rule). Adds the band at the risk, in seconds."""
    # q10..q75, not q90: a few slow runs, or a drift, in the window do not widen the band
    sigma = np.maximum((base["mid"] - base["low"]).to_numpy() / Z_10_75, params.sigma_floor)
    expected_log = (base["med"] + base["season"]).to_numpy()
    r = frame["x"].to_numpy() - expected_log
    z = r / sigma
    tail = judge_tails(r, base, params.tail_uncertainty, params.risk)
    expected_s = np.exp(expected_log)
    ratio = frame["duration"].to_numpy() / expected_s
    judged = (base["n"].to_numpy() >= params.min_history) & np.isfinite(tail["band_high"])
    # until a task on a daily or weekly rhythm has seen this hour (or weekday) a few times,
    # it may be a busy hour: only a run far beyond the usual is slow then
    season_known = ~base["seasonal"].to_numpy() | (base["season_n"].to_numpy() >= params.season_min_runs)
    min_ratio = np.where(season_known, params.min_ratio, params.unseen_season_ratio)
    # no floor in seconds here: the values may be in any unit (a share, a count), and a task
    # whose runs take 0.2 s has its own tail; `min_excess_s` decides the severity instead
    with np.errstate(invalid="ignore"):
        high = judged & (tail["p_up"] < params.risk) & (ratio >= min_ratio)
        low = judged & (tail["p_low"] < params.risk) & (ratio <= 1 / params.fast_ratio)
    success = frame["success"].to_numpy()
    level = frame["x"].to_numpy() - base["season"].to_numpy()
    with np.errstate(invalid="ignore"):
        exceeds = success & judged & (level > base["long_high"].to_numpy())
    chain = shift_streaks(frame, base, exceeds, params)
    with np.errstate(invalid="ignore", divide="ignore"):
        drift = ((chain["p_streak"] < params.risk) & (level - base["long_med"].to_numpy() >= np.log(params.drift_min_ratio))
                 & (r > 0) & success & season_known & judged & ~high)
    drift &= streak_alerts(chain, exceeds & (drift | high), success) == 0
    # failed and unfinished runs are judged on the point tail: they are a few in a hundred,
    # so a tail a few times too light adds a few hundredths of the risk in false alarms,
    # while the predictive tail's heaviest shapes would hide runs 20x their median
    point_up = judge_tails(r, base, risk=params.risk)["p_up"] if params.tail_uncertainty else tail["p_up"]
    with np.errstate(invalid="ignore"):
        long_run = judged & (point_up < params.risk) & (ratio >= params.stuck_ratio)
    stuck = long_run & ~success & (frame["failed"] | frame["unfinished"]).to_numpy()
    return pd.DataFrame({
        "z": np.where(judged, z, np.nan), "sigma": sigma, "ratio": ratio,
        "surprise_up": np.where(judged, -np.log10(tail["p_up"]), np.nan),
        "surprise_low": np.where(judged, -np.log10(tail["p_low"]), np.nan),
        "tail_n": base["tail_n"].to_numpy(),
        "expected_s": np.where(judged, expected_s, np.nan),
        "expected_low": np.where(judged, np.exp(expected_log + tail["band_low"]), np.nan),
        "expected_high": np.where(judged, np.exp(expected_log + tail["band_high"]), np.nan),
        "usual_low": np.exp(base["med"] + base["season"] + base["low"]).to_numpy(),
        "usual_high": np.exp(base["med"] + base["season"] + base["high"]).to_numpy(),
        "slow_raw": (high | drift) & success, "drift": drift & success, "fast": low & success, "stuck": stuck,
        "persist": -np.log10(np.clip(chain["p_streak"], 1e-300, 1.0)), "shift_streak": chain["streak"],
        "next_start": chain["next_start"], "next_stay": chain["next_stay"],
        "streak_alerts": streak_alerts(chain, exceeds & (drift | high), success) + (exceeds & (drift | high)),
        "exceed_s": np.exp(base["long_high"].to_numpy() + base["season"].to_numpy()),
        "exceed_share": np.full(len(frame), params.tail_share), "window": params.window,
        "season": base["season"].to_numpy(), "n": base["n"].to_numpy(), "med_log": base["med"].to_numpy(),
    }, index=frame.index)


def streak_alerts(chain: dict, alert: np.ndarray, success: np.ndarray) -> np.ndarray:
    """Per row, the flags raised earlier in the streak it belongs to (see `alerts_before`)."""
    if "alerted_prev" in chain:
        return np.where(chain["streak"] > 1, np.nan_to_num(chain["alerted_prev"]), 0)
    out = np.zeros(len(alert))
    out[success] = persistence.alerts_before(chain["group"][success], alert[success])
    return out


def shift_streaks(frame: pd.DataFrame, base: pd.DataFrame, exceeds: np.ndarray, params) -> dict:
    """Per row: the run of exceedances it ends and that run's probability under the task's
    own exceedance chain (see `persistence`); failed runs neither extend nor break a run."""
    if "streak_prev" in base:  # scoring new runs against a fitted state
        length, p = persistence.continue_streaks(exceeds, base["streak_prev"].to_numpy(),
                                                 base["next_start"].to_numpy(), base["next_stay"].to_numpy())
        return {"streak": length, "p_streak": p, "next_start": base["next_start"].to_numpy(),
                "next_stay": base["next_stay"].to_numpy(), "alerted_prev": base["alerted_prev"].to_numpy()}
    success = frame["success"].to_numpy()
    out = {"streak": np.zeros(len(frame)), "p_streak": np.ones(len(frame)), "group": np.zeros(len(frame)),
           "next_start": np.full(len(frame), np.nan), "next_stay": np.full(len(frame), np.nan)}
    # Only the first pass (no long view) skips the chain. A history with no exceedance at all
    # (a constant series, a count whose upper decile is its maximum) still has a chain: its
    # prior, which says a streak is rare. Skipping it left that task's fitted chain NaN, and
    # `score_new` then treated every streak as certain (never a drift) where `score` flagged one.
    if not np.isfinite(base["long_high"].to_numpy()).any():
        return out
    chain = persistence.streaks(frame["task"].to_numpy()[success], exceeds[success], params.tail_window)
    for name in out:
        out[name][success] = chain[name].to_numpy()
    return out


def new_normal(frame: pd.DataFrame, verdict: pd.DataFrame, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """After `confirm_runs` slow runs in a row, the task has a new normal (a code change,
    more data): for the next 2 x `window` runs a slow run at that steady level is accepted
    (not flagged; it enters the baseline) while the baseline catches up.
    Returns (accepted, slow runs in a row before each run, confirmed)."""
    rows = frame[frame["success"].to_numpy()]
    slow = pd.Series(verdict["slow_raw"].to_numpy()[rows.index], index=rows.index, dtype=float)
    k = params.confirm_runs
    slow_before = _rolling(slow, [rows["task"]], k).sum().groupby(rows["task"]).shift(1).fillna(0)
    recent = _rolling(rows["x"], [rows["task"]], k, k).median()
    recent = recent.groupby(rows["task"]).shift(1)
    confirmed = (slow_before >= k).astype(float)  # k slow runs in a row just before this one
    # remembered for two windows: the drift rule looks that far back
    shifted = _rolling(confirmed, [rows["task"]], 2 * params.window).max()
    accepted = np.zeros(len(frame), dtype=bool)
    accepted[rows.index] = accept_rule(shifted.to_numpy() > 0, rows["x"].to_numpy(), recent.to_numpy(),
                                       verdict.loc[rows.index], params)
    streak, was_confirmed = np.zeros(len(frame)), np.zeros(len(frame), dtype=bool)
    streak[rows.index] = slow_before.to_numpy()
    was_confirmed[rows.index] = confirmed.to_numpy() > 0
    return accepted, streak, was_confirmed


def accept_rule(shifted: np.ndarray, x: np.ndarray, recent_x: np.ndarray, verdict: pd.DataFrame,
                params) -> np.ndarray:
    """Slow, after a confirmed shift, and steady: within the band of the last few runs."""
    with np.errstate(invalid="ignore"):
        steady = np.abs(x - recent_x) <= params.threshold * verdict["sigma"].to_numpy()
    return shifted & steady & verdict["slow_raw"].to_numpy()


def duration_verdicts(frame: pd.DataFrame, params) -> pd.DataFrame:
    """Two passes: the second baseline leaves out the first pass's anomalies, so one
    incident does not teach the model that slow is normal. Where the second pass finds
    anomalies the first missed (the second of two slow runs hid behind the first), those
    tasks get a third pass that leaves them out too."""
    sample = frame["success"].to_numpy() & np.isfinite(frame["x"].to_numpy())
    # the first pass only decides what to leave out of the baseline: no shift streaks
    # (they flag one run per streak, which would hardly change the baseline)
    first = judge_durations(frame, rolling_baseline(frame, sample, params, long_view=False), params)
    accepted, _, _ = new_normal(frame, first, params)
    anomalous = (first["slow_raw"].to_numpy() & ~accepted) | first["fast"].to_numpy()
    base = rolling_baseline(frame, sample & ~anomalous, params)
    verdict = judge_durations(frame, base, params)
    accepted, _, _ = new_normal(frame, verdict, params)
    missed = ((verdict["slow_raw"].to_numpy() & ~accepted) | verdict["fast"].to_numpy()) & sample & ~anomalous
    if missed.any():
        anomalous = anomalous | missed
        base, verdict = _again(frame, sample & ~anomalous, np.isin(frame["task"], frame["task"][missed]),
                               base, verdict, params)
    accepted, slow_streak, confirmed = new_normal(frame, verdict, params)
    drift_before = drifts_before(frame, verdict["drift"].to_numpy() & ~accepted, params)
    verdict["in_sample"] = sample & ~anomalous
    verdict["confirmed"], verdict["accepted"] = confirmed, accepted
    verdict["residual"], verdict["spread"] = base["residual"].to_numpy(), base["spread"].to_numpy()
    verdict["tail_spread"], verdict["level"] = base["tail_spread"].to_numpy(), base["level"].to_numpy()
    return finish(verdict, accepted, slow_streak, drift_before)


def drifts_before(frame: pd.DataFrame, drift: np.ndarray, params) -> np.ndarray:
    """Per successful run, the drift alerts among the `drift_once_runs` successful runs of
    its task before it (see `finish`)."""
    success = frame["success"].to_numpy()
    rows = frame[success]
    raised = pd.Series(drift[success].astype(float), index=rows.index)
    before_run = _rolling(raised, [rows["task"]], params.drift_once_runs).sum().groupby(rows["task"]).shift(1)
    out = np.zeros(len(frame))
    out[success] = before_run.fillna(0).to_numpy()
    return out


def _again(frame: pd.DataFrame, sample: np.ndarray, tasks: np.ndarray, base: pd.DataFrame,
           verdict: pd.DataFrame, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline and verdicts recomputed on the rows of some tasks only, spliced back."""
    rows = np.flatnonzero(tasks)
    part = frame.iloc[rows].reset_index(drop=True)
    part_base = rolling_baseline(part, sample[rows], params)
    part_verdict = judge_durations(part, part_base, params)
    return _splice(base, part_base, rows), _splice(verdict, part_verdict, rows)


def _splice(whole: pd.DataFrame, part: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    out = {}
    for column in whole.columns:
        values = whole[column].to_numpy().copy()
        values[rows] = part[column].to_numpy()
        out[column] = values
    return pd.DataFrame(out, index=whole.index)


def finish(verdict: pd.DataFrame, accepted: np.ndarray, slow_streak: np.ndarray,
           drift_before: np.ndarray) -> pd.DataFrame:
    """Final slow / drift flags once the new-normal rule has spoken. A shift is announced
    once: a drift alert within `drift_once_runs` runs of the task's previous one is the same
    shift still standing above the long view (which takes half its `tail_window` runs to take
    in a new level), not news. `drift_alert` keeps every alert the rule raised, announced or
    not, so a shift that keeps re-tripping it stays quiet, whatever the order of scoring."""
    verdict["slow"] = verdict["slow_raw"].to_numpy() & ~accepted & ~verdict["drift"].to_numpy()
    verdict["drift_alert"] = verdict["drift"].to_numpy() & ~accepted
    verdict["drift"] = verdict["drift_alert"].to_numpy() & ~(drift_before > 0)
    verdict["slow_streak"] = slow_streak
    return verdict
