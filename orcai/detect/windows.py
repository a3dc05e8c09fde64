"""Rolling windows within groups, computed in one pass over a flat array.

pandas' `groupby(...).rolling(...)` asks for each group's window bounds in a Python loop,
which costs seconds once there are hundreds of thousands of groups (task x hour of day).
Here the rows are put in group order once and every window is clipped at its group's
first row, so pandas computes all windows in a single call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer


class _ClippedWindows(BaseIndexer):
    def get_window_bounds(self, num_values=0, min_periods=None, center=None, closed=None, step=None):
        return self.start, self.end


class GroupRolling:
    """`GroupRolling(values, keys, window).median()` == `values.groupby(keys).rolling(window,
    min_periods=1).median()` without the group levels, in the order of `values`. Rows of a
    group must be in time order among themselves."""

    def __init__(self, values: pd.Series, keys: list, window: int, min_periods: int = 1):
        codes = pd.Series(np.zeros(len(values), dtype=np.int64), index=values.index) if not keys else \
            values.groupby(keys, sort=False).ngroup()
        self.index, self.order = values.index, np.argsort(codes.to_numpy(), kind="stable")
        sorted_codes = codes.to_numpy()[self.order]
        position = np.arange(len(values))
        new_group = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]] if len(values) else np.array([], bool)
        group_start = np.maximum.accumulate(np.where(new_group, position, 0)) if len(values) else position
        windows = _ClippedWindows(start=np.maximum(position - window + 1, group_start).astype(np.int64),
                                  end=(position + 1).astype(np.int64))
        ordered = pd.Series(values.to_numpy(dtype=float)[self.order])
        self.rolling = ordered.rolling(windows, min_periods=min_periods)

    def _back(self, result: pd.Series) -> pd.Series:
        out = np.empty(len(result))
        out[self.order] = result.to_numpy()
        return pd.Series(out, index=self.index)

    def median(self) -> pd.Series:
        return self._back(self.rolling.median())

    def quantile(self, q: float) -> pd.Series:
        return self._back(self.rolling.quantile(q))

    def count(self) -> pd.Series:
        return self._back(self.rolling.count())

    def sum(self) -> pd.Series:
        return self._back(self.rolling.sum())

    def max(self) -> pd.Series:
        return self._back(self.rolling.max())
