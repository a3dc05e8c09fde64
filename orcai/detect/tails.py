"""Each task's own tail: how often a run this far from its usual level happened before.

Peaks over threshold (Pickands-Balkema-de Haan; SPOT, Siffer et al., KDD 2017): over a
task's last `tail_window` baseline residuals (log seconds above the rolling median), the
largest `tail_share` of them are modelled as a generalised Pareto distribution (GPD) over
the threshold `u` they exceed. Its shape comes from the excesses' mean and variance (method
of moments), shrunk towards a mildly heavy prior (`XI_PRIOR`) while there are few peaks, and
kept >= 0 (never assume a bounded tail from a few hundred runs). Then

    P(residual > r) = zeta * (1 + xi (r - u) / sigma) ** (-1 / xi)      zeta = peaks / runs

The shape is uncertain: from k peaks its standard error is about (1 + xi) / sqrt(k) (the
maximum-likelihood figure; the moments estimate is no better), here with the prior counted
as `XI_PRIOR_WEIGHT` peaks. Plugging in the point estimate makes far tails too light: half the
time xi is underestimated, and there P falls off much faster than the truth, while an
overestimate costs little (on the noise-only corpus, runs beyond the 1e-4 point threshold were
4.6 times the 1e-4 promised). So a run's tail probability is the predictive one: P averaged
over xi ~ Normal(xi, se^2) (Gauss-Hermite nodes, each clipped to [0, XI_MAX]); the threshold
at a false-alarm risk q solves that P = q. This is the detector's `tail_uncertainty` option, on
by default since robust/2.2: it halves the noise-only false alarms. Its price is on young tasks,
whose bands it widens most (a 10 %-noise task after 40 runs: runs beyond ~4x its median; after
500, ~1.9x), and on single slow runs of heavy-tailed tasks; failed and unfinished runs are
judged on the point fit (see `durations`), so stuck recall stays. The shape, in log seconds,
is kept within [0, XI_MAX]: 0 is already a Pareto tail in seconds, and a task's durations
are not believed much heavier than that (at 0.7 a 40-run task's band reached ~6x its median).
Whatever the fit says, a run no further out than the furthest of the window's runs is given
at least 1 / (n + 1) (`empirical_floor`), and no threshold lies further than
`band_max_ratio` (30x) from the expected duration unless the window's own record does
(`reach`, since robust/2.3). The lower tail is the same on the negated
residuals. Fits are vectorised: every fit's window is a row of a matrix, sorted once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

XI_PRIOR, XI_PRIOR_WEIGHT, XI_MAX = 0.25, 20.0, 0.4
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(7)
XI_NODES, XI_WEIGHTS = _NODES, _WEIGHTS / _WEIGHTS.sum()  # standard normal quadrature
ROOT_STEPS = 8  # P at the band within 1e-9 of the risk (40 bisections did no better)
MIN_PEAKS = 3
FIT_COLUMNS = ("tail_n", "up_zeta", "up_u", "up_xi", "up_sigma", "lo_zeta", "lo_u", "lo_xi", "lo_sigma",
               "up_band", "lo_band", "up_max", "lo_max")
CHUNK_ELEMENTS = 4_000_000


def fit_sorted(matrix: np.ndarray, tail_share: float, sigma_floor: float, risk: float,
               predictive: bool = False, band_max_ratio: float = np.inf) -> dict[str, np.ndarray]:
    """GPD fits of the upper and lower tail of every row (NaN-padded windows, sorted
    ascending with NaN last), and each tail's threshold at `risk` (solved once per fit;
    under the predictive tail with `predictive`; at most `band_max_ratio` away, see `reach`).
    The peaks' mean and variance come from running sums along each sorted row, so no
    masked reduction over the whole matrix is needed."""
    n = np.isfinite(matrix).sum(axis=1)
    k = np.maximum(MIN_PEAKS, np.ceil(tail_share * n)).astype(int)
    ok = n >= k + 2
    rows = np.arange(len(matrix))
    last = max(matrix.shape[1] - 1, 0)
    filled = np.nan_to_num(matrix, nan=0.0)
    sums = np.concatenate([np.zeros((len(matrix), 1)), np.cumsum(filled, axis=1)], axis=1)
    squares = np.concatenate([np.zeros((len(matrix), 1)), np.cumsum(filled * filled, axis=1)], axis=1)
    k_in = np.minimum(k, n)
    top = np.clip(n - k, 0, None)
    u_up = matrix[rows, np.clip(top - 1, 0, last)] if matrix.size else np.zeros(0)
    u_lo = -matrix[rows, np.clip(k_in, 0, last)] if matrix.size else np.zeros(0)
    up_sum, up_sq = sums[rows, n] - sums[rows, top], squares[rows, n] - squares[rows, top]
    lo_sum, lo_sq = sums[rows, k_in], squares[rows, k_in]
    fits = {"tail_n": n.astype(float)}
    fits.update(_gpd("up", up_sum - k_in * u_up, up_sq, up_sum, u_up, k_in, n, sigma_floor))
    fits.update(_gpd("lo", -lo_sum - k_in * u_lo, lo_sq, -lo_sum, u_lo, k_in, n, sigma_floor))
    for name in FIT_COLUMNS[1:9]:
        fits[name] = np.where(ok, fits[name], np.nan)
    fits["up_max"] = np.where(n > 0, matrix[rows, np.clip(n - 1, 0, last)], np.nan) if matrix.size else np.zeros(0)
    fits["lo_max"] = np.where(n > 0, -matrix[:, 0], np.nan) if matrix.size else np.zeros(0)
    for side in ("up", "lo"):
        band = quantile(risk, *(fits[f"{side}_{name}"] for name in ("zeta", "u", "xi", "sigma")),
                        n if predictive else None)
        band = np.fmin(band, reach(fits[f"{side}_max"], band_max_ratio))
        # never closer than the window's own extreme while 1 / (n + 1) is above the risk
        fits[f"{side}_band"] = np.where(1 / (n + 1) > risk, np.fmax(band, fits[f"{side}_max"]), band)
    return fits


def reach(window_max, band_max_ratio: float) -> np.ndarray:
    """How far a threshold may go: `band_max_ratio` times the expected duration (or that
    much faster), or the furthest run of the task's window when that is further. A tail
    fitted on few peaks, or on a window that holds an incident's runs (a collapse and its
    recovery, a level shift the median lagged behind), has a large scale, and the predictive
    tail's heaviest shapes multiply it: bands 10^7 to 10^16 x the median were stored, and
    drawn on the Runs page. A run 30 x its expected duration and beyond anything its task
    did in its last 500 runs is rare by any measure."""
    with np.errstate(divide="ignore"):
        return np.fmax(window_max, np.log(band_max_ratio))


def _gpd(side: str, excess_sum, square_sum, value_sum, u, k, n, floor: float) -> dict:
    """Method-of-moments GPD from the k peaks' sums: excesses over u have mean
    excess_sum / k; their variance equals the peaks' own variance."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = excess_sum / k
        var = (square_sum - value_sum ** 2 / k) / (k - 1)
        xi_hat = np.where(var > 1e-12, 0.5 * (1 - mean ** 2 / var), XI_PRIOR)
        xi = (k * np.nan_to_num(xi_hat, nan=XI_PRIOR) + XI_PRIOR_WEIGHT * XI_PRIOR) / (k + XI_PRIOR_WEIGHT)
        xi = np.clip(xi, 0.0, XI_MAX)
        sigma = np.maximum(np.nan_to_num(mean, nan=0.0) * (1 - xi), floor)
    return {f"{side}_zeta": k / np.maximum(n, 1), f"{side}_u": u, f"{side}_xi": xi, f"{side}_sigma": sigma}


def exceedance(r: np.ndarray, zeta, u, xi, sigma, n=None) -> np.ndarray:
    """P(residual > r) under the fitted tail; above the threshold the GPD, below it an
    exponential continuation (monotone, capped at 1). NaN where there is no fit. With the
    window size `n`, the predictive P: averaged over the uncertainty of xi (module doc)."""
    if n is None:
        return _exceedance(r, zeta, u, xi, sigma)
    p = _exceedance(r, zeta, u, xi, sigma)
    with np.errstate(invalid="ignore"):
        above = np.flatnonzero(np.broadcast_to(r > u, np.shape(p)))  # below u, xi plays no part
    parts = [np.broadcast_to(np.asarray(v, dtype=float), np.shape(p))[above] for v in (r, zeta, u, xi, sigma, n)]
    r_a, zeta_a, u_a, xi_a, sigma_a, n_a = parts
    spread = xi_error(zeta_a, xi_a, n_a)
    p[above] = sum(w * _exceedance(r_a, zeta_a, u_a, np.clip(xi_a + t * spread, 0.0, XI_MAX), sigma_a)
                   for t, w in zip(XI_NODES, XI_WEIGHTS))
    return np.clip(p, 1e-300, 1.0)


def xi_error(zeta, xi, n) -> np.ndarray:
    """Standard error of the shape from zeta * n peaks plus the prior's pseudo-peaks."""
    with np.errstate(invalid="ignore"):
        return (1 + xi) / np.sqrt(zeta * n + XI_PRIOR_WEIGHT)


def _exceedance(r, zeta, u, xi, sigma) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        z = (r - u) / sigma
        heavy = zeta * np.power(np.maximum(1 + xi * z, 1e-300), -1 / np.where(xi > 0, xi, 1.0))
        light = zeta * np.exp(-z)
        p = np.where(xi > 1e-6, heavy, light)
        p = np.where(z < 0, np.minimum(1.0, zeta * np.exp(-z)), p)
    return np.clip(p, 1e-300, 1.0)


def quantile(risk: float, zeta, u, xi, sigma, n=None) -> np.ndarray:
    """The residual exceeded with probability `risk` (the threshold at that risk); with
    `n`, under the predictive tail (solved by bisection between two point quantiles)."""
    if n is None:
        return _quantile(risk, zeta, u, xi, sigma)
    low = _quantile(risk, zeta, u, xi, sigma)
    high = _quantile(risk, zeta, u, np.full_like(np.asarray(xi, dtype=float), XI_MAX), sigma)
    # regula falsi on log P (Illinois variant): log P is smooth and monotone in r, so a
    # few steps reach what 40 bisections did
    target = np.log(risk)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_low = np.log(exceedance(low, zeta, u, xi, sigma, n)) - target
        f_high = np.log(exceedance(high, zeta, u, xi, sigma, n)) - target
        side = np.zeros(np.shape(low))
        for _ in range(ROOT_STEPS):
            step = np.where(f_low != f_high, f_low / (f_low - f_high), 0.5)
            mid = low + np.clip(np.nan_to_num(step, nan=0.5), 0.0, 1.0) * (high - low)
            f_mid = np.log(exceedance(mid, zeta, u, xi, sigma, n)) - target
            beyond = f_mid > 0
            low, f_low = np.where(beyond, mid, low), np.where(beyond, f_mid, np.where(side > 0, f_low / 2, f_low))
            high, f_high = np.where(beyond, high, mid), np.where(beyond, np.where(side < 0, f_high / 2, f_high), f_mid)
            side = np.where(beyond, -1.0, 1.0)
    return np.where(np.abs(f_low) < np.abs(f_high), low, high)


def _quantile(risk: float, zeta, u, xi, sigma) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = risk / zeta
        heavy = u + sigma / np.where(xi > 0, xi, 1.0) * (np.power(ratio, -xi) - 1)
        light = u - sigma * np.log(ratio)
        return np.where(xi > 1e-6, heavy, light)


def window_matrix(values: np.ndarray, segment_start: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
    """Rows of the last `width` entries of `values` before position `end` (global), not
    reaching before `segment_start`; NaN-padded on the left."""
    if not len(values):
        return np.full((len(end), width), np.nan)
    offsets = np.arange(-width, 0)[None, :]
    index = end[:, None] + offsets
    valid = index >= segment_start[:, None]
    return np.where(valid, values[np.clip(index, 0, max(len(values) - 1, 0))], np.nan)


def rolling_fits(frame_task: np.ndarray, sample: np.ndarray, residual: np.ndarray, params) -> pd.DataFrame:
    """Per frame row (sorted by task, then time): the tail fit over the last
    `tail_window` sample residuals of its task before it. Fits are shared by blocks of
    consecutive runs of a task, sized so the work stays within a fixed budget (one run
    per block on small inputs: exact)."""
    n_rows = len(frame_task)
    sample_values = residual[sample]
    before = np.cumsum(sample) - sample  # sample rows strictly before, across tasks
    task_first = np.r_[0, np.flatnonzero(np.diff(frame_task)) + 1] if n_rows else np.zeros(0, int)
    task_of_row = np.repeat(np.arange(len(task_first)), np.diff(np.r_[task_first, n_rows]))
    segment_start = before[task_first][task_of_row]
    position = np.arange(n_rows) - task_first[task_of_row]
    width = int(min(params.tail_window, max(1, np.bincount(task_of_row[sample]).max() if sample.any() else 1)))
    block = max(1, int(np.ceil(n_rows * width / params.tail_budget)))
    block_first = np.arange(n_rows) - position % block
    end = before[block_first]
    keys = task_of_row.astype(np.int64) * (n_rows + 1) + end
    unique_keys, first_row, inverse = np.unique(keys, return_index=True, return_inverse=True)
    fit_end, fit_start = end[first_row], segment_start[first_row]
    columns = {name: np.empty(len(unique_keys)) for name in FIT_COLUMNS}
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    for lo in range(0, len(unique_keys), step):
        matrix = np.sort(window_matrix(sample_values, fit_start[lo:lo + step], fit_end[lo:lo + step], width), axis=1)
        for name, values in fit_sorted(matrix, params.tail_share, params.sigma_floor, params.risk,
                                       params.tail_uncertainty, params.band_max_ratio).items():
            columns[name][lo:lo + step] = values
    return pd.DataFrame({name: values[inverse] for name, values in columns.items()})


def judge_tails(r: np.ndarray, fits: pd.DataFrame, predictive: bool = False,
                risk: float | None = None) -> dict[str, np.ndarray]:
    """Upper and lower tail probabilities of residuals `r` (predictive ones with
    `predictive`), and the band at the fits' risk (`risk`: beyond a band `reach` capped,
    see `_within_reach`)."""
    n = fits["tail_n"].to_numpy()
    up = [fits[f"up_{name}"].to_numpy() for name in ("zeta", "u", "xi", "sigma")] + [n if predictive else None]
    lo = [fits[f"lo_{name}"].to_numpy() for name in ("zeta", "u", "xi", "sigma")] + [n if predictive else None]
    return {"p_up": _within_reach(empirical_floor(exceedance(r, *up), r, fits["up_max"].to_numpy(), n), r, up,
                                  fits["up_band"].to_numpy(), fits["up_max"].to_numpy(), risk),
            "p_low": _within_reach(empirical_floor(exceedance(-r, *lo), -r, fits["lo_max"].to_numpy(), n), -r, lo,
                                   fits["lo_band"].to_numpy(), fits["lo_max"].to_numpy(), risk),
            "band_high": fits["up_band"].to_numpy(), "band_low": -fits["lo_band"].to_numpy()}


def _within_reach(p: np.ndarray, r: np.ndarray, model: list, band: np.ndarray, window_max: np.ndarray,
                  risk: float) -> np.ndarray:
    """Beyond a threshold that `reach` capped, the tail keeps its shape but is scaled down so
    that the threshold sits at the risk: the band stays the line between flagged and not,
    and the score still ranks runs beyond it."""
    if risk is None:
        return p
    zeta, u, xi, sigma, n = model
    with np.errstate(invalid="ignore"):
        capped = np.flatnonzero((r > band) & (p >= risk) & (band >= window_max))
    if not len(capped):
        return p
    at_band = exceedance(band[capped], *(None if v is None else np.broadcast_to(v, np.shape(r))[capped]
                                         for v in (zeta, u, xi, sigma, n)))
    out = p.copy()
    out[capped] = np.clip(p[capped] * risk / np.maximum(at_band, risk), 1e-300, 1.0)
    return out


def empirical_floor(p: np.ndarray, r: np.ndarray, window_max: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A run no further out than the furthest of the task's last n runs is at least as
    common as 1 in n + 1, whatever the fitted tail says: a mixture (a light body with rare
    bursts) fools a tail fitted mostly on the body, never the task's own record."""
    with np.errstate(invalid="ignore"):
        return np.where(r <= window_max, np.fmax(p, 1 / (n + 1)), p)


def share_below(window: np.ndarray, value: float) -> tuple[float, int]:
    """(share of `window`'s finite values below `value`, how many there are): for reasons."""
    finite = window[np.isfinite(window)]
    return (float((finite < value).mean()) if len(finite) else np.nan), len(finite)
