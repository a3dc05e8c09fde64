"""False alarms on quantised noise: counts and rounded values, nothing injected.

    python -m tests.benchmarks.detection_degenerate [--seeds 3]

Real series are often whole numbers (Poisson-like counts, some with zeros) or values rounded
to a few digits, each point presented as one run (the six contract columns). Per seed: five
Poisson counts (means 1, 2, 4, 10, 30), six lognormal series rounded to whole numbers (levels
3, 5, 20; spreads 0.2, 0.5), a gamma series rounded to 0.1, a 0/1 series (20 % ones) and a
normal series around 100 rounded to whole numbers; 2,000 points each. Every flag is a false
alarm. Our own generators: never public anomaly-benchmark data.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from orcai.detect import detect
from tests.benchmarks.corpus import START


def quantised_series(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(100 + seed)
    series = {f"poisson({mean})": rng.poisson(mean, 2000).astype(float) for mean in (1, 2, 4, 10, 30)}
    series.update({f"round({level} lognormal {spread})": np.round(level * rng.lognormal(0, spread, 2000))
                   for level in (3, 5, 20) for spread in (0.2, 0.5)})
    series["gamma(2, 3) to 0.1"] = np.round(rng.gamma(2, 3, 2000), 1)
    series["0/1, 20 % ones"] = rng.binomial(1, 0.2, 2000).astype(float)
    series["round(normal(100, 1))"] = np.round(100 + rng.normal(0, 1, 2000))
    return series


def series_runs(series: dict[str, np.ndarray]) -> pd.DataFrame:
    """Each series as one task's runs, a point every 5 minutes, no schedule."""
    return pd.concat([pd.DataFrame({
        "dag_id": name, "task_id": name, "run_id": [f"p{i}" for i in range(len(values))],
        "start_date": START + pd.to_timedelta(np.arange(len(values)) * 300, unit="s"),
        "duration_s": values, "state": "success"}) for name, values in series.items()], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    points, by_series = 0, {}
    for seed in range(args.seeds):
        out = detect(series_runs(quantised_series(seed)))
        points += len(out)
        for name, kind in out.loc[out["is_anomaly"], ["task_id", "kind"]].itertuples(index=False):
            by_series.setdefault(name, {}).setdefault(kind, 0)
            by_series[name][kind] += 1
    flags = sum(sum(kinds.values()) for kinds in by_series.values())
    print(f"quantised noise: {points:,} points, {flags} flags, {1000 * flags / points:.3f} per 1,000")
    for name, kinds in sorted(by_series.items()):
        print(f"  {name}: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))


if __name__ == "__main__":
    main()
