"""Are the duration tails calibrated? On the noise-only corpus (nothing injected), a run
judged at risk q should fall beyond its task's band with probability about q.

    python -m tests.benchmarks.detection_calibration [--dags 40] [--days 40] [--seed 8] [--point-tail]

Prints, for several q, the judged successful runs whose upper (slow) or lower (fast) tail
probability is below q, against the q x runs a calibrated tail would give; and the flags
per kind against risk x runs at the default risk. Ratios near 1 mean calibrated; above 1,
the tails are too light (more false alarms than the risk promises).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from orcai.detect import RobustDetector
from tests.benchmarks.corpus import noise_corpus

LEVELS = (1e-2, 1e-3, 1e-4, 1e-5)


def tail_calibration(runs: pd.DataFrame, schedules: dict, detector: RobustDetector) -> pd.DataFrame:
    """Observed vs expected exceedances of the fitted tails, per level and side."""
    frame, _, timing, _ = detector._verdicts(runs, schedules, None)
    judged = frame["success"].to_numpy() & np.isfinite(timing["surprise_up"].to_numpy())
    rows = []
    for side in ("up", "low"):
        p = 10 ** -timing[f"surprise_{side}"].to_numpy()[judged]
        for level in LEVELS:
            seen, expected = int((p < level).sum()), level * judged.sum()
            rows.append({"tail": side, "level": level, "judged runs": int(judged.sum()),
                         "beyond": seen, "expected": round(expected, 1), "ratio": round(seen / expected, 2)})
    return pd.DataFrame(rows)


def flag_calibration(runs: pd.DataFrame, schedules: dict, detector: RobustDetector) -> pd.DataFrame:
    """Flags per kind on noise only, against risk x runs."""
    flagged = detector.score(runs, schedules=schedules)
    expected = detector.risk * len(runs)
    kinds = flagged.loc[flagged["is_anomaly"], "kind"].value_counts()
    return pd.DataFrame([{"kind": kind, "flags": int(n), "risk x runs": round(expected, 1),
                          "ratio": round(n / expected, 2)} for kind, n in kinds.items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.detection_calibration")
    parser.add_argument("--dags", type=int, default=40)
    parser.add_argument("--days", type=float, default=40)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--point-tail", action="store_true",
                        help="the point GPD fit, without the predictive tail (see orcai.detect.tails)")
    args = parser.parse_args(argv)
    runs, schedules = noise_corpus(args.dags, args.days, args.seed)
    detector = RobustDetector(tail_uncertainty=not args.point_tail)
    print(f"== tail calibration, noise-only corpus ({len(runs):,} runs, seed {args.seed}), {detector.label}"
          f"{', predictive tail' if detector.tail_uncertainty else ', point tail'}")
    print(tail_calibration(runs, schedules, detector).to_string(index=False))
    print(f"\n== flags per kind at risk {detector.risk:g}")
    print(flag_calibration(runs, schedules, detector).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
