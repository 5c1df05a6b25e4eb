"""Streams are pure functions of the seed; schedules are pure functions of the clock."""

from __future__ import annotations

from collections import Counter

import pytest

from sleep_env import FixedInterval, Never, TaskBoundary
from sleep_env.stream import build_stream, make_tasks, task_seed
from tests.sleep_env.sleep_env_testkit import clock as _clock
from tests.sleep_env.sleep_env_testkit import kv_stream


def _build(config, seed):
    return build_stream(config, seed, make_tasks(config))


def test_build_stream_is_a_pure_function_of_the_seed() -> None:
    config = kv_stream()
    a, b = _build(config, 9), _build(config, 9)
    assert a.items == b.items and a.probes == b.probes
    assert _build(config, 10).items != a.items


def test_layout_study_then_queries_per_experience() -> None:
    stream = _build(kv_stream(n_exp=2, n_study=3, n_query=2), 0)
    assert [(i.experience, i.kind) for i in stream.items] == [
        (0, "study"), (0, "study"), (0, "study"), (0, "query"), (0, "query"),
        (1, "study"), (1, "study"), (1, "study"), (1, "query"), (1, "query"),
    ]  # fmt: skip
    assert [i.last_of_experience for i in stream.items].count(True) == 2
    assert stream.items[4].last_of_experience and stream.items[9].last_of_experience


def test_experiences_use_distinct_task_seeds() -> None:
    stream = _build(kv_stream(n_exp=2), 5)
    assert stream.items[0].problem.context != stream.items[5].problem.context
    assert task_seed(5, 0) != task_seed(5, 1) and task_seed(5, 0) != task_seed(6, 0)
    assert stream.items[0].problem == make_tasks(kv_stream())[0].problem(task_seed(5, 0), 0)


def test_queries_ask_studied_items_without_replacement() -> None:
    stream = _build(kv_stream(n_exp=1, n_study=6, n_query=6), 3)
    studied = [i.problem.idx for i in stream.items if i.kind == "study"]
    asked = [i.problem.idx for i in stream.items if i.kind == "query"]
    assert studied == list(range(6)) and sorted(asked) == studied


def test_more_queries_than_items_repeat_evenly() -> None:
    stream = _build(kv_stream(n_exp=1, n_study=3, n_query=7), 3)
    counts = Counter(i.problem.idx for i in stream.items if i.kind == "query")
    assert sorted(counts.values()) == [2, 2, 3]


def test_probes_are_the_first_n_probe_studied_items() -> None:
    stream = _build(kv_stream(n_exp=2, n_study=3, n_probe=2), 0)
    assert [[p.idx for p in ps] for ps in stream.probes] == [[0, 1], [0, 1]]
    assert stream.probes[0][0].answer == stream.items[0].problem.answer
    assert stream.probes[0][0].prompt != stream.items[0].problem.prompt



@pytest.mark.parametrize("seen", [1, 2, 3, 4, 5, 6, 7, 8])
def test_fixed_interval(seen: int) -> None:
    decision = FixedInterval(period=4).decide(_clock(items_seen=seen))
    assert decision.may_sleep == decision.due == (seen % 4 == 0)
    assert decision.level == (1 if seen % 4 == 0 else 0)


def test_fixed_interval_allows_sleep_at_stream_end() -> None:
    assert FixedInterval(period=100).decide(_clock(items_seen=15, stream_ended=True)).may_sleep


def test_task_boundary_and_never() -> None:
    assert TaskBoundary().decide(_clock(experience_ended=True)).due
    assert not TaskBoundary().decide(_clock(items_seen=24)).may_sleep
    assert not Never().decide(_clock(experience_ended=True, stream_ended=True)).may_sleep
