"""Which of a run's tasks will run and which will be skipped, drawn from the DAG's past runs. Pure.

Branching DAGs (a branch operator, a short-circuit, a task that skips itself, trigger rules)
skip part of their tasks in every run, and a skipped task takes no time. Each replay of a
forecast draws one of the DAG's past runs and follows its pattern of which tasks ran and
which were skipped: a whole pattern, so that the alternatives of a branch stay exclusive
(the run takes branch a or branch b, not both or neither). Only the past runs that agree
with what this run already shows are drawn from (a task it already skipped was skipped
in them, a task it already ran ran in them; a task that skipped itself after running a
while ran). When none agree, or there are too few past
runs to say, or a task is missing from the pattern drawn (a new task), the skips this run
shows spread downstream by the tasks' trigger rules, and a task with no skipped upstream
task runs, as it did before branches were forecast.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # replay.py imports this module
    from orcai.forecast.replay import TaskState

MIN_PATTERNS = 3  # past runs needed before their patterns are drawn from
UNKNOWN, SKIPPED, RAN = -1, 0, 1

# Airflow 3's trigger rules (airflow/ti_deps/deps/trigger_rule_dep.py) in a run without
# failures, by which of a task's direct upstream tasks are skipped. The others (all_done,
# none_failed, always) run whatever their upstream tasks did.
SKIPPED_IF_ANY = ("all_success", "none_skipped", "all_done_min_one_success")  # skipped as soon as one is
# skipped only when all are; all_done_setup_success is skipped when all its upstream setup
# tasks are, and the graph does not say which are setups: the rule is a teardown's, and
# when every upstream task is skipped so are its setups
SKIPPED_IF_ALL = ("one_success", "none_failed_min_one_success", "one_done", "all_done_setup_success")
SKIPPED_ALWAYS = ("all_failed", "one_failed")  # they wait for a failure: skipped once upstream is done without one
SKIPPED_IF_ANY_RAN = ("all_skipped",)  # skipped as soon as one upstream task ran


def shown_by_run(states: dict[str, TaskState]) -> dict[str, bool]:
    """What the run already shows, task -> ran (False: skipped); tasks not decided yet (no
    state, not started) are left out. A task that skipped itself, however long it took
    first (an operator raising AirflowSkipException, a soft_fail sensor timing out), is
    skipped for its downstream tasks' trigger rules like any skip: on a busy machine even
    an instant skip takes seconds from start to end, so its time cannot tell the two apart."""
    return {task: state.state != "skipped"
            for task, state in states.items() if state.state is not None or state.start_ms is not None}


@dataclass(frozen=True)
class PastPatterns:
    """A DAG's past runs' patterns, built once per DAG a cycle and shared by its runs'
    forecasts: the distinct patterns (a DAG has a few, one per branch taken, however many
    runs the lookback holds) as rows of RAN / SKIPPED / UNKNOWN, one column per task, and
    how many past runs had each."""
    columns: dict[str, int]
    matrix: np.ndarray
    counts: np.ndarray
    runs: int

    @classmethod
    def of(cls, patterns: list[dict[str, bool]]) -> "PastPatterns":
        """`patterns`: past runs, each task -> ran (False: skipped); distinct ones in the
        order first seen, so that a run's replays draw the same ones cycle after cycle."""
        counts = Counter(frozenset(pattern.items()) for pattern in patterns)
        columns = {task: col for col, task in enumerate(sorted({task for pattern in patterns for task in pattern}))}
        matrix = np.full((len(counts), len(columns)), UNKNOWN, dtype=np.int8)
        for row, pattern in enumerate(counts):
            for task, ran in pattern:
                matrix[row, columns[task]] = RAN if ran else SKIPPED
        return cls(columns, matrix, np.asarray(list(counts.values()), dtype=float), len(patterns))

    def agreeing(self, shown: dict[str, bool]) -> np.ndarray:
        """Indexes of the distinct patterns that agree with every task this run has decided
        (a task the past run did not have agrees with anything)."""
        ok = np.ones(len(self.matrix), dtype=bool)
        for task, ran in shown.items():
            if task in self.columns:
                column = self.matrix[:, self.columns[task]]
                ok &= (column == UNKNOWN) | (column == (RAN if ran else SKIPPED))
        return np.flatnonzero(ok)


NO_PATTERNS = PastPatterns({}, np.empty((0, 0), dtype=np.int8), np.empty(0), 0)


def skipped_by_rule(rule: str | None, upstream_count: int, skipped_count: np.ndarray) -> np.ndarray:
    """Per replay, whether a task whose `skipped_count` of `upstream_count` direct upstream
    tasks are skipped is skipped too, by its trigger rule (Airflow's default: all_success)."""
    if upstream_count == 0:
        return np.zeros(len(skipped_count), dtype=bool)
    rule = rule or "all_success"
    if rule in SKIPPED_IF_ANY:
        return skipped_count > 0
    if rule in SKIPPED_IF_ALL:
        return skipped_count == upstream_count
    if rule in SKIPPED_ALWAYS:
        return np.ones(len(skipped_count), dtype=bool)
    if rule in SKIPPED_IF_ANY_RAN:
        return skipped_count < upstream_count
    return np.zeros(len(skipped_count), dtype=bool)


def skip_masks(order: list[str], states: dict[str, TaskState], upstream: dict[str, set[str]],
               patterns: PastPatterns, trigger_rules: dict[str, str | None],
               rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per task (in topological `order`), which of the `n` replays skip it."""
    shown = shown_by_run(states)
    pool = patterns.agreeing(shown) if patterns.runs >= MIN_PATTERNS else np.empty(0, dtype=int)
    drawn = None
    if len(pool):
        drawn = patterns.matrix[rng.choice(pool, size=n, p=patterns.counts[pool] / patterns.counts[pool].sum())]
    masks: dict[str, np.ndarray] = {}
    for task in order:
        if task in shown:
            masks[task] = np.full(n, not shown[task])
            continue
        parents = [p for p in upstream.get(task, ()) if p in masks]
        skipped_count = np.sum([masks[p] for p in parents], axis=0) if parents else np.zeros(n, dtype=int)
        by_rule = skipped_by_rule(trigger_rules.get(task), len(parents), skipped_count)
        column = patterns.columns.get(task)
        if drawn is None or column is None:
            masks[task] = by_rule
        else:
            masks[task] = np.where(drawn[:, column] == UNKNOWN, by_rule, drawn[:, column] == SKIPPED)
    return masks
