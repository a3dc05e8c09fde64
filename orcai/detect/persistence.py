"""Sustained shifts: a run of exceedances of the task's usual upper decile, judged by how
often the task's own history produced runs of exceedances that long.

Each successful run either exceeds the task's long-view upper quantile (the deseasonalised
log duration its last `tail_window` baseline runs exceeded `tail_share` of the time; a slow
ramp cannot drag it along the way it drags the 30-run median) or not. Exceedances are modelled
as a two-state Markov chain fitted on the task's own history: `p_start`, the chance that a
run starts a streak, and `p_stay`, the chance that an exceedance is followed by another
(Beta(1, 1) prior, so a young task assumes streaks are common until it has shown
otherwise). A streak of L exceedances then has probability

    p_start * p_stay ** (L - 1)

and is flagged once that falls below the false-alarm risk. A task whose busy spells run
ten deep has a high `p_stay` and needs a long streak; a task whose exceedances are
isolated flags a shift after a handful of runs. The chain is fitted on the history up to
the streak's first run, so the streak does not vouch for itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.detect.windows import GroupRolling

PRIOR_STAY, PRIOR_LEAVE = 1.0, 1.0


def chain_after(task: np.ndarray, exceeds: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(p_start, p_stay) over the last `window` runs of each task, this run included
    (rows sorted by task, then time)."""
    same_task = np.r_[False, task[1:] == task[:-1]]
    pair = exceeds & np.r_[False, exceeds[:-1]] & same_task
    keys = [pd.Series(task)]
    n = GroupRolling(pd.Series(np.ones(len(task))), keys, window).sum().to_numpy()
    n_e = GroupRolling(pd.Series(exceeds.astype(float)), keys, window).sum().to_numpy()
    n_ee = GroupRolling(pd.Series(pair.astype(float)), keys, window).sum().to_numpy()
    return start_and_stay(n, n_e, n_ee)


def start_and_stay(n, n_e, n_ee) -> tuple[np.ndarray, np.ndarray]:
    p_start = (n_e - n_ee + 0.5) / (n + 1.0)
    p_stay = (n_ee + PRIOR_STAY) / (n_e + PRIOR_STAY + PRIOR_LEAVE)
    return p_start, p_stay


def streaks(task: np.ndarray, exceeds: np.ndarray, window: int) -> pd.DataFrame:
    """Per run: the streak length (0 when it does not exceed), the streak's probability
    under the chain fitted before it, and the chain a following run continues with."""
    if not len(task):
        return pd.DataFrame({name: np.zeros(0) for name in ("streak", "p_streak", "group", "next_start", "next_stay")})
    p_start, p_stay = chain_after(task, exceeds, window)
    new_task = np.r_[True, task[1:] != task[:-1]]
    group = np.cumsum(~exceeds | new_task)  # a group: the run before a streak, then the streak
    length = pd.Series(exceeds.astype(int)).groupby(group).cumsum().to_numpy()
    start = pd.Series(p_start).groupby(group).transform("first").to_numpy()
    stay = pd.Series(p_stay).groupby(group).transform("first").to_numpy()
    probability = np.where(length > 0, start * stay ** np.maximum(length - 1, 0), 1.0)
    # the chain a next run continues: the streak's own while in one, else this run's
    return pd.DataFrame({"streak": length, "p_streak": probability, "group": group,
                         "next_start": np.where(length > 0, start, p_start),
                         "next_stay": np.where(length > 0, stay, p_stay)})


def alerts_before(group: np.ndarray, alert: np.ndarray) -> np.ndarray:
    """Per run, how many runs of its streak before it were already flagged: a streak is
    announced once (a lasting shift is one incident, not one per run)."""
    count = pd.Series(alert.astype(int)).groupby(group).cumsum().to_numpy()
    return count - alert.astype(int)


def continue_streaks(exceeds: np.ndarray, previous: np.ndarray, start: np.ndarray, stay: np.ndarray):
    """The streak verdicts of one new run per task from the fitted end of each task."""
    length = np.where(exceeds, np.nan_to_num(previous) + 1, 0)
    probability = np.where(length > 0, start * stay ** np.maximum(length - 1, 0), 1.0)
    return length, np.where(np.isfinite(probability), probability, 1.0)
