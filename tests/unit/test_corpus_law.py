"""The labeled corpus's normal law (tests/benchmarks/corpus.py `with_law`) and the exact tails
that tests/benchmarks/detection_bound.py builds on it."""

from __future__ import annotations

import numpy as np

from tests.benchmarks.corpus import LAW_COLUMNS, labeled_corpus
from tests.benchmarks.detection_bound import check_against_draws, tail_probabilities


def test_asking_for_the_law_does_not_change_the_runs():
    plain, schedules = labeled_corpus(n_dags=4, days=10, seed=3)
    with_law, same_schedules = labeled_corpus(n_dags=4, days=10, seed=3, with_law=True)
    assert list(with_law.columns) == list(plain.columns) + list(LAW_COLUMNS)
    assert with_law[plain.columns].equals(plain) and schedules == same_schedules


def test_normal_runs_are_drawn_from_their_law():
    runs, _ = labeled_corpus(n_dags=8, days=20, seed=5, with_law=True)
    tails = tail_probabilities(runs)
    normal = (runs["injected_anomaly"] == "").to_numpy() & tails["p_up"].notna().to_numpy()
    for tail in ("p_up", "p_low"):  # the probability integral transform of the law is uniform
        share = (tails.loc[normal, tail] < 0.1).mean()
        assert abs(share - 0.1) < 0.01, (tail, share)
    slow = (runs["injected_anomaly"] == "slow").to_numpy()
    assert (tails.loc[slow, "p_up"] < 0.01).all()


def test_the_closed_form_tails_match_the_generators_draws():
    assert check_against_draws(samples=400_000) < 0.1


def test_runs_without_a_duration_have_no_tail():
    runs, _ = labeled_corpus(n_dags=4, days=10, seed=3, with_law=True)
    tails = tail_probabilities(runs)
    no_duration = (runs["state"] == "upstream_failed").to_numpy()
    assert no_duration.any() and tails.loc[no_duration, "p_up"].isna().all()
    assert np.isfinite(tails.loc[~no_duration, ["p_up", "p_low"]].to_numpy()).all()
