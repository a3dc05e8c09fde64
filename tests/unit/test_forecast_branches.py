"""Forecasts of branching runs: each replay skips the tasks a past run like this one skipped."""

from __future__ import annotations

import numpy as np
import pytest

from orcai.forecast.branches import PastPatterns, shown_by_run, skip_masks, skipped_by_rule
from orcai.forecast.replay import TaskState, critical_path, forecast_run
from orcai.forecast.stage import task_states

NOW = 1_790_000_000_000
# branch -> (a -> a2 | b -> b2) -> join, as Airflow's example_branch_operator: the branch
# picks a or b, the other is skipped with its follower; join runs after either.
BRANCHED = {"branch": set(), "a": {"branch"}, "a2": {"a"}, "b": {"branch"}, "b2": {"b"}, "join": {"a2", "b2"}}
RULES = {"join": "none_failed_min_one_success"}
ORDER = ["branch", "a", "a2", "b", "b2", "join"]


def took(branch: str) -> dict[str, bool]:
    other = "b" if branch == "a" else "a"
    return {"branch": True, branch: True, f"{branch}2": True, other: False, f"{other}2": False, "join": True}


def durations(short_s: float = 60.0, long_s: float = 600.0) -> dict[str, np.ndarray]:
    """a's side takes a minute a task, b's side ten (b's runs from the past runs that took b)."""
    return {"branch": np.full(30, 5.0), "a": np.full(30, short_s), "a2": np.full(30, short_s),
            "b": np.full(30, long_s), "b2": np.full(30, long_s), "join": np.full(30, 5.0)}


def state(**given: TaskState) -> dict[str, TaskState]:
    return {task: given.get(task, TaskState(None)) for task in ORDER}


def test_a_run_that_took_the_short_branch_is_not_forecast_to_run_the_long_one():
    tasks = state(branch=TaskState("success", NOW - 20_000, NOW - 15_000), a=TaskState("running", NOW - 10_000),
                  b=TaskState("skipped", NOW - 15_000, NOW - 15_000))
    patterns = [took("a"), took("b")] * 10
    forecast = forecast_run(NOW, tasks, BRANCHED, durations(), patterns=patterns, trigger_rules=RULES)
    # a ends in 50 s, a2 runs 60 s, join 5 s; b2, skipped with b, takes no time
    assert NOW + 110_000 <= forecast.eta_p50 <= forecast.eta_p80 <= NOW + 120_000
    assert "b2" not in forecast.windows and set(forecast.windows) == {"a", "a2", "join"}
    assert forecast.watch_task in {"a", "a2", "join"}
    assert forecast.progress == 1 / 4  # branch done; a, a2 and join left; b skipped and b2 will be: no work


def test_before_the_branch_decides_each_replay_takes_one_branch_as_often_as_past_runs_did():
    tasks = state(branch=TaskState("running", NOW - 1_000))
    patterns = [took("a")] * 15 + [took("b")] * 5  # a in three runs of four
    masks = skip_masks(ORDER, tasks, BRANCHED, PastPatterns.of(patterns), RULES, np.random.default_rng(0), 2000)
    assert (masks["a"] != masks["b"]).all() and (masks["a"] == masks["a2"]).all()  # one branch, never both
    assert 0.70 <= masks["b"].mean() <= 0.80 and not masks["join"].any()
    forecast = forecast_run(NOW, tasks, BRANCHED, durations(), patterns=patterns, trigger_rules=RULES)
    # p50 on the short branch, p80 on the long one (a quarter of the replays take it)
    assert forecast.eta_p50 <= NOW + 140_000 and forecast.eta_p80 >= NOW + 1_200_000


def test_only_past_runs_that_agree_with_the_run_so_far_are_drawn():
    """Three branches; x's pick comes with y or z in equal shares, and this run has skipped y."""
    upstream = {"pick": set(), "x": {"pick"}, "y": {"pick"}, "z": {"pick"}}
    order = ["pick", "x", "y", "z"]
    patterns = [{"pick": True, "x": True, "y": True, "z": False}, {"pick": True, "x": False, "y": True, "z": True},
                {"pick": True, "x": False, "y": False, "z": True}] * 4
    tasks = {"pick": TaskState("success", NOW - 5_000, NOW - 4_000), "x": TaskState(None),
             "y": TaskState("skipped", NOW - 4_000, NOW - 4_000), "z": TaskState(None)}
    masks = skip_masks(order, tasks, upstream, PastPatterns.of(patterns), {}, np.random.default_rng(1), 500)
    assert masks["x"].all() and not masks["z"].any()  # the only past runs that skipped y


def test_with_no_past_run_like_this_one_skips_spread_by_trigger_rule():
    """Only the a branch was ever taken; this run took b. No past run agrees: a2 (all_success)
    is skipped with a, join (none_failed_min_one_success) runs after b2."""
    tasks = state(branch=TaskState("success", NOW - 20_000, NOW - 15_000), b=TaskState("running", NOW - 10_000),
                  a=TaskState("skipped", NOW - 15_000, NOW - 15_000))
    for patterns in ([took("a")] * 10, [took("b")] * 2):  # none agree; too few to draw from
        masks = skip_masks(ORDER, tasks, BRANCHED, PastPatterns.of(patterns), RULES, np.random.default_rng(2), 100)
        assert masks["a2"].all() and not masks["b2"].any() and not masks["join"].any()
    forecast = forecast_run(NOW, tasks, BRANCHED, durations(long_s=60.0), patterns=[took("a")] * 10,
                            trigger_rules=RULES)
    assert NOW + 110_000 <= forecast.eta_p50 <= NOW + 120_000  # b 50 s more, b2 60 s, join 5 s; a2 nothing


@pytest.mark.parametrize(("rule", "skipped_when"), [
    # whether the task is skipped with 0, 1 and 3 of its 3 upstream tasks skipped, as Airflow 3's
    # trigger_rule_dep.py decides in a run without failures
    (None, (False, True, True)),  # all_success, Airflow's default
    ("all_success", (False, True, True)),
    ("none_skipped", (False, True, True)),
    ("all_done_min_one_success", (False, True, True)),  # a skipped upstream task is not "done" for it
    ("one_success", (False, False, True)),
    ("none_failed_min_one_success", (False, False, True)),
    ("one_done", (False, False, True)),  # done and neither failed nor succeeded: all skipped
    ("all_done_setup_success", (False, False, True)),  # its upstream setups all skipped
    ("all_failed", (True, True, True)),  # no failure to wait for
    ("one_failed", (True, True, True)),
    ("all_skipped", (True, True, False)),  # skipped as soon as one upstream task ran
    ("all_done", (False, False, False)),
    ("none_failed", (False, False, False)),
    ("always", (False, False, False)),
])
def test_trigger_rules_of_a_run_without_failures(rule, skipped_when):
    assert tuple(bool(v) for v in skipped_by_rule(rule, 3, np.array([0, 1, 3]))) == skipped_when
    assert not skipped_by_rule(rule, 0, np.array([0]))[0]  # a first task is never skipped by a rule


def test_a_dag_that_never_skips_is_forecast_exactly_as_without_patterns():
    rng = np.random.default_rng(5)
    history = {t: rng.lognormal(np.log(60), 0.3, 40) for t in ORDER}
    tasks = state(branch=TaskState("success", NOW - 20_000, NOW - 15_000), a=TaskState("running", NOW - 10_000))
    plain = forecast_run(NOW, tasks, BRANCHED, history, deadline_ms=NOW + 200_000)
    every_task_ran = [{t: True for t in ORDER}] * 20
    patterned = forecast_run(NOW, tasks, BRANCHED, history, deadline_ms=NOW + 200_000, patterns=every_task_ran,
                             trigger_rules=RULES)
    assert np.array_equal(plain.samples, patterned.samples) and plain.windows == patterned.windows
    assert (plain.watch_task, plain.breach_risk) == (patterned.watch_task, patterned.breach_risk)


def test_the_critical_path_looks_through_skipped_tasks():
    finish = {"branch": np.array([5.0]), "a": np.array([8.0]), "a2": np.array([10.0]),
              "b": np.array([20.0]), "b2": np.array([80.0]), "join": np.array([90.0])}
    assert critical_path(finish, BRANCHED) == ["join", "b2", "b", "branch"]
    assert critical_path(finish, BRANCHED, skipped={"b", "b2"}) == ["join", "a2", "a", "branch"]
    skip_all_but_join = {"a", "a2", "b", "b2"}
    assert critical_path(finish, BRANCHED, skipped=skip_all_but_join) == ["join", "branch"]


def test_a_runs_task_states_keep_what_it_skipped_and_what_is_bound_to_run():
    rows = [{"task_id": "b", "state": "skipped", "start_date": NOW, "end_date": NOW},
            {"task_id": "m", "state": "skipped", "start_date": NOW, "end_date": NOW},
            {"task_id": "m", "state": "success", "start_date": NOW, "end_date": NOW + 1},  # a mapped task: ran
            {"task_id": "q", "state": "queued"}, {"task_id": "n", "state": None}]
    states = task_states(rows)
    assert (states["b"].state, states["m"].state, states["q"].state, states["n"].state) == (
        "skipped", "success", "queued", None)
    assert shown_by_run(states) == {"b": False, "m": True, "q": True}


def test_a_run_whose_median_replay_skips_every_task_left_is_forecast():
    """Nothing done yet and every past run skipped the DAG's only task: no task is work left."""
    forecast = forecast_run(NOW, {"t": TaskState(None)}, {}, {"t": np.full(5, 60.0)}, patterns=[{"t": False}] * 5)
    assert forecast.progress == 1.0 and forecast.eta_p50 == NOW and forecast.windows == {}


def test_a_forecast_needs_one_replay_at_least():
    with pytest.raises(ValueError):
        forecast_run(NOW, {"t": TaskState(None)}, {}, {"t": np.full(5, 60.0)}, samples=0)


def test_a_task_skipped_with_one_upstream_task_is_skipped_without_waiting_for_the_others():
    """j (all_success) after x (a minute to go) and y (skipped now): Airflow skips j as y is
    skipped, so z (none_failed), after j, starts now rather than when x ends."""
    upstream = {"x": set(), "y": set(), "j": {"x", "y"}, "z": {"j"}}
    tasks = {"x": TaskState("running", NOW - 10_000), "y": TaskState(None), "j": TaskState(None),
             "z": TaskState(None)}
    history = {"x": np.full(30, 70.0), "y": np.full(30, 5.0), "j": np.full(30, 5.0), "z": np.full(30, 300.0)}
    patterns = [{"x": True, "y": False, "j": False, "z": True}] * 5
    forecast = forecast_run(NOW, tasks, upstream, history, patterns=patterns, trigger_rules={"z": "none_failed"})
    assert forecast.windows["z"] == (NOW, NOW + 300_000) and forecast.eta_p50 == NOW + 300_000


def test_a_task_of_this_run_that_skipped_itself_is_skipped_however_long_it_took():
    # an operator raising AirflowSkipException takes seconds from start to end on a busy
    # machine: read as "ran", its downstream all_success tasks stayed in the forecast
    states = {"sensor": TaskState("skipped", NOW - 600_000, NOW), "skip_operator": TaskState("skipped", NOW - 2_500, NOW),
              "branch_not_taken": TaskState("skipped", NOW, NOW)}
    assert shown_by_run(states) == {"sensor": False, "skip_operator": False, "branch_not_taken": False}


def test_a_mapped_task_whose_instances_were_all_skipped_or_removed_was_skipped():
    rows = [{"task_id": "m", "map_index": 0, "state": "skipped", "start_date": NOW, "end_date": NOW},
            {"task_id": "m", "map_index": 1, "state": "removed"},
            {"task_id": "gone", "map_index": 0, "state": "removed"}]
    states = task_states(rows)
    assert states["m"].state == "skipped" and states["gone"].state == "success"


def test_progress_leaves_skipped_tasks_out_when_a_task_failed_too():
    tasks = {"a": TaskState("success", NOW - 2_000, NOW - 1_000), "b": TaskState("skipped", NOW - 1_000, NOW - 1_000),
             "c": TaskState("failed", NOW - 1_000, NOW)}
    forecast = forecast_run(NOW, tasks, {"b": {"a"}, "c": {"a"}}, {})
    assert forecast.eta_p50 is None and forecast.progress == 1 / 2  # a of a and c; b is no work


def test_a_tasks_window_is_read_from_every_replay_that_runs_it():
    """Six independent short-circuits, each skipping its task in half the past runs: few
    replays skip exactly what the median replay skips; w's window is read from all of them,
    as in a forecast of a DAG that never skips."""
    gates = [f"d{i}" for i in range(6)]
    upstream = {t: set() for t in ["w", *gates]}
    tasks = {t: TaskState(None) for t in upstream}
    history = {"w": np.random.default_rng(3).lognormal(np.log(300), 0.5, 200), **{g: np.full(30, 5.0) for g in gates}}
    patterns = [{"w": True, **{g: bool(bits >> i & 1) for i, g in enumerate(gates)}} for bits in range(64)]
    plain = forecast_run(NOW, tasks, upstream, history)
    patterned = forecast_run(NOW, tasks, upstream, history, patterns=patterns)
    assert patterned.windows["w"] == plain.windows["w"]


def test_a_dags_past_patterns_built_once_serve_each_of_its_runs_as_the_runs_themselves():
    """The stage builds a DAG's PastPatterns once a cycle; each run's forecast only picks
    the agreeing ones and draws: the same forecast as from the past runs themselves."""
    patterns = [took("a")] * 15 + [took("b")] * 5
    built = PastPatterns.of(patterns)
    assert built.runs == 20 and sorted(built.counts) == [5.0, 15.0]
    for tasks in (state(branch=TaskState("running", NOW - 1_000)),
                  state(branch=TaskState("success", NOW - 20_000, NOW - 15_000), b=TaskState("skipped", NOW, NOW))):
        once = forecast_run(NOW, tasks, BRANCHED, durations(), patterns=built, trigger_rules=RULES)
        listed = forecast_run(NOW, tasks, BRANCHED, durations(), patterns=patterns, trigger_rules=RULES)
        assert np.array_equal(once.samples, listed.samples) and once.windows == listed.windows
