"""The default detector: robust per-task baselines, failure rules and the DAG's schedule.

    RobustDetector().score(runs, schedules={"etl": 3600})

Each run is judged only on the runs of its task (and DAG) that started before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.detect import durations, failures, incremental, schedule
from orcai.detect.frame import empty_output, fill_elapsed, prepare_runs, validate_runs
from orcai.detect.schedule import season_buckets
from orcai.detect.verdicts import ALL_KINDS, choose_kind, choose_score, write_output

# every kind is on: each catches incidents no other kind does on the labeled corpus or the
# metric series (slow alone costs labeled F1, but without it the series lose most catches;
# see the ablation in tests/benchmarks/detection_quality.py and docs/detection.md)
DEFAULT_KINDS = ALL_KINDS

class RobustDetector:
    """Per-task baselines in log seconds (rolling median with seasonality) and thresholds
    from each task's own tail (peaks over threshold, see `tails`) at a stated false-alarm
    `risk`; failure streaks and rate jumps judged at the same risk; stuck, late and missing
    runs. `score` is -log10 of the run's tail probability: higher = rarer, on every task.
    scikit-learn style: parameters in `__init__`; `fit` returns self. `kinds` lists the
    kinds that may flag (see the ablation in tests/benchmarks/detection_quality.py).
    `min_excess_s`: a slow, fast, stuck or drifting run off its expected duration by less
    than this many seconds is still flagged (its values may be in another unit, or it is a
    tiny task with a tail of its own) but at low severity only: the Anomalies page shows it,
    Slack is not paged for it."""

    name, version = "robust", "2.6"

    def __init__(self, risk: float = 1e-4, kinds: tuple[str, ...] = DEFAULT_KINDS, window: int = 30,
                 min_history: int = 30, tail_window: int = 500, tail_share: float = 0.1,
                 tail_budget: int = 40_000_000, threshold: float = 4.5, min_ratio: float = 2.0,
                 min_excess_s: float = 10.0, fast_ratio: float = 10.0, stuck_ratio: float = 3.0,
                 sigma_floor: float = 0.05, confirm_runs: int = 2,
                 drift_min_ratio: float = 2.5, season_window: int = 7, season_min_runs: int = 2,
                 unseen_season_ratio: float = 3.0, season_min_effect: float = 0.15,
                 season_tail_runs: int = 4, streak_min: int = 2,
                 failure_history: int = 500, failure_rate_floor: float = 0.005, rate_window: int = 20,
                 rate_min_failures: int = 3, late_min_s: float = 600.0, late_share: float = 0.25,
                 missing_max_runs: int = 24, tail_uncertainty: bool = True,
                 band_max_ratio: float = 30.0, drift_once_runs: int = 100):
        self.risk, self.kinds, self.window, self.min_history = risk, tuple(kinds), window, min_history
        self.tail_window, self.tail_share, self.tail_budget = tail_window, tail_share, tail_budget
        self.threshold, self.min_ratio, self.min_excess_s, self.fast_ratio = threshold, min_ratio, min_excess_s, fast_ratio
        self.stuck_ratio, self.sigma_floor, self.confirm_runs = stuck_ratio, sigma_floor, confirm_runs
        self.season_window, self.season_min_runs = season_window, season_min_runs
        self.drift_min_ratio, self.unseen_season_ratio = drift_min_ratio, unseen_season_ratio
        self.season_min_effect, self.season_tail_runs = season_min_effect, season_tail_runs
        self.streak_min, self.failure_history = streak_min, failure_history
        self.failure_rate_floor, self.rate_window, self.rate_min_failures = failure_rate_floor, rate_window, rate_min_failures
        self.late_min_s, self.late_share, self.missing_max_runs = late_min_s, late_share, missing_max_runs
        self.tail_uncertainty = tail_uncertainty  # predictive tails over the GPD shape's error (see tails)
        self.band_max_ratio = band_max_ratio  # no threshold further out than this x expected (see tails.reach)
        self.drift_once_runs = drift_once_runs  # one drift alert per shift (see durations.finish)

    @property
    def surprise_threshold(self) -> float:
        """The score at the risk: -log10(risk) (4 at the default 1e-4)."""
        return float(-np.log10(self.risk))

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    def fit(self, runs: pd.DataFrame, y=None, schedules: dict[str, float] | None = None) -> RobustDetector:
        """Remember where every task's and DAG's baselines stand at the end of `runs`, so
        `score_new` can judge a sync's new runs without recomputing the history."""
        validate_runs(runs)
        frame, table, timing, failing = self._verdicts(runs, schedules, None)
        self.schedules_ = dict(schedules or {})
        self.state_ = incremental.fit_state(self, runs, frame, table, timing)
        self.next_state_ = self.state_  # a commit() before the next score_new keeps the fit
        return self

    def score(self, runs: pd.DataFrame, schedules: dict[str, float] | None = None,
              now: pd.Timestamp | None = None) -> pd.DataFrame:
        """`runs` plus is_anomaly, score, reason, kind, severity, detector, expected band."""
        validate_runs(runs)
        if runs.empty:
            return empty_output(runs, self.label)
        frame, table, timing, failing = self._verdicts(runs, schedules, now)
        return write_output(runs, self._detail(frame, table, timing, failing), self.label, self.surprise_threshold,
                            self.min_excess_s)

    def score_new(self, new_runs: pd.DataFrame, now: pd.Timestamp | None = None,
                  commit: bool = True) -> pd.DataFrame:
        """Judge runs that came after the fitted history against the fitted baselines.
        Several new runs of one task are each judged against the fitted state (their
        failures do count towards streaks and rates); refit to fold them in. The schedule
        is the exception: each call moves every DAG's recent scheduled times and start
        delays past the DAG runs it judged, and a DAG run already judged (passed again, as
        the monitor's overlapping reads do) gets no second missing or late verdict. Without
        this, a DAG's next runs counted their gap from the fit's last run, and every
        on-time run after a gap was flagged again with a growing number of missed runs.
        `commit=False` keeps the state as it was until `commit()`: a caller whose storing
        of the verdicts fails passes the same runs again and gets the same verdicts."""
        validate_runs(new_runs)
        if not hasattr(self, "state_"):
            raise ValueError("score_new needs a fitted detector: call fit(history) first")
        if new_runs.empty:
            return empty_output(new_runs, self.label)
        frame, table, timing, failing = incremental.judge_new(self, self.state_, new_runs, now)
        self.next_state_ = incremental.advance_schedule(self.state_, new_runs, frame, table)
        if commit:
            self.commit()
        return write_output(new_runs, self._detail(frame, table, timing, failing), self.label, self.surprise_threshold,
                            self.min_excess_s)

    def commit(self) -> None:
        """Adopt the schedule state the last `score_new` advanced to (see its `commit`)."""
        self.state_ = self.next_state_

    def _verdicts(self, runs: pd.DataFrame, schedules, now):
        frame = prepare_runs(runs)
        if now is not None:
            fill_elapsed(frame, now)
        table = schedule.schedule_verdicts(runs, frame, schedules, self)
        frame["bucket"], frame["bucket_kind"] = season_buckets(frame, table)
        return frame, table, durations.duration_verdicts(frame, self), failures.failure_verdicts(frame, self)

    def _detail(self, frame, table, timing, failing) -> pd.DataFrame:
        dag_level = _dag_level_columns(table, len(frame))
        flags = {"stuck": timing["stuck"].to_numpy(), "slow": timing["slow"].to_numpy(),
                 "drift": timing["drift"].to_numpy(),
                 "fast": timing["fast"].to_numpy(), "failure_streak": failing["failure_streak"].to_numpy(),
                 "failure_rate": failing["failure_rate"].to_numpy(),
                 "missing": dag_level["missing"].to_numpy(), "late": dag_level["late"].to_numpy()}
        kind = choose_kind({name: flag if name in self.kinds else np.zeros_like(flag) for name, flag in flags.items()})
        up, low = timing["surprise_up"].to_numpy(), timing["surprise_low"].to_numpy()
        scores = {"stuck": up, "slow": up, "drift": timing["persist"].to_numpy(), "fast": low, "failure_streak": failing["streak_score"].to_numpy(),
                  "failure_rate": failing["rate_score"].to_numpy(),
                  "missing": self.surprise_threshold + np.log10(1 + dag_level["missed"].to_numpy()),
                  "late": dag_level["late_score"].to_numpy()}
        z = np.fmax(up, low)
        detail = pd.concat([frame.drop(columns=["bucket"]), timing[_REASON_TIMING_COLUMNS],
                            failing.drop(columns=["failure_streak", "failure_rate"]), dag_level], axis=1)
        detail["kind"] = kind
        detail["score"] = choose_score(kind, scores, z)
        detail["med"] = timing["med_log"].to_numpy()
        return detail


_REASON_TIMING_COLUMNS = ["z", "surprise_up", "surprise_low", "tail_n", "sigma", "ratio", "expected_s", "expected_low", "expected_high", "usual_low",
                          "usual_high", "exceed_s", "exceed_share", "persist", "shift_streak", "window", "season", "n",
                          "slow_streak"]


def _dag_level_columns(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The schedule verdicts placed on the first task run of each DAG run."""
    columns = {"missing": False, "late": False, "missed": 0.0, "late_score": 0.0, "interval_s": np.nan,
               "prev_ns": np.nan, "time_ns": np.nan, "delay_s": np.nan, "usual_delay_s": np.nan}
    out = pd.DataFrame({name: np.full(n, value) for name, value in columns.items()})
    rows = table["frame_row"].to_numpy()
    for name in columns:
        if name in table:
            out.loc[rows, name] = table[name].to_numpy()
    return out
