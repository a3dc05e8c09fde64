"""How busy a pool is, and the start lags a task had when its pool was as busy as now. Pure.

A pool's *load* at a moment is the number of task instances in it that are ready or
running then: scheduled or queued for one of its slots, or holding one. A task's start
lag (from ready to running) depends on it: with a pool's slots taken and three instances
ahead, a task waits for three to finish; with slots free, only for the scheduler's loop.
Each past lag is paired with the load of its task's pool when the task became ready, so
a task about to start draws its lag from the past lags whose load was most like the
load now, not from all of them.
"""

from __future__ import annotations

import numpy as np

NEAR_SHARE = 0.2  # a task's past lags with the load most like now's: the nearest fifth
MIN_NEAR = 10  # ... and at least this many, or the lags are not conditioned at all


class PoolTimeline:
    """The task instances of one pool as spans (entered, left): from scheduled (else
    queued, else started) to their end, None while still going."""

    def __init__(self, spans: list[tuple[float, float | None]]):
        self.entered = np.sort(np.asarray([s for s, _ in spans], dtype=float))
        self.left = np.sort(np.asarray([np.inf if e is None else e for _, e in spans], dtype=float))

    def load_at(self, times: np.ndarray) -> np.ndarray:
        """For each epoch ms in `times`: how many instances had entered and not left."""
        times = np.asarray(times, dtype=float)
        return (np.searchsorted(self.entered, times, side="right")
                - np.searchsorted(self.left, times, side="right")).astype(float)


def lags_like_now(lags: np.ndarray | None, loads: np.ndarray | None, load_now: float | None) -> np.ndarray | None:
    """The past lags whose pool load (aligned with `lags`, NaN where unknown) was nearest
    `load_now`: the nearest NEAR_SHARE of those with a known load, at least MIN_NEAR, all
    ties included. None when there is too little to condition on (use all the lags)."""
    if lags is None or loads is None or load_now is None or len(lags) != len(loads):
        return None
    known = ~np.isnan(loads)
    if known.sum() < 2 * MIN_NEAR:
        return None
    distance = np.abs(loads[known] - load_now)
    k = max(MIN_NEAR, int(np.ceil(NEAR_SHARE * known.sum())))
    radius = np.partition(distance, k - 1)[k - 1]
    return lags[known][distance <= radius]
