"""The short-term memory: FIFO eviction in characters, exact counts."""

from __future__ import annotations

import pytest

from sleep_env.memory import admit, joined_chars
from tests.sleep_env.sleep_env_testkit import act, kv_env, kv_stream


def test_admit_keeps_the_newest_whole_items() -> None:
    assert admit((), "abc", 10) == (("abc",), 0)
    assert admit(("abc",), "def", 7) == (("abc", "def"), 0)  # 3 + 1 + 3 = 7 fits exactly
    assert admit(("abc", "def"), "g", 7) == (("def", "g"), 1)
    assert admit(("a", "b", "c"), "0123456", 7) == (("0123456",), 3)


def test_an_item_longer_than_the_capacity_keeps_its_last_characters() -> None:
    assert admit(("old",), "0123456789", 4) == (("6789",), 1)


def test_joined_chars_counts_newlines() -> None:
    assert joined_chars(()) == 0
    assert joined_chars(("ab", "c", "")) == 5


def test_fifo_eviction_counts_in_the_env() -> None:
    # Study items are 12 characters: two fit in 30 (12 + 1 + 12), a third evicts one.
    env = kv_env(stream=kv_stream(n_query=0), context_chars=30)
    obs, _ = env.reset(seed=0)
    evicted, totals, contexts = [], [], []
    studied = []
    for _ in range(9):
        studied.append(obs["prompt"])
        obs, _, terminated, _, info = env.step(act())
        evicted.append(info["evicted"])
        totals.append(info["evicted_total"])
        contexts.append(obs["context"])
    assert terminated
    assert evicted == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert totals == [0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert contexts[-1] == "\n".join(studied[-2:])
    assert [r.evicted for r in env.records()] == evicted


def test_feedback_lines_enter_memory_only_with_feedback() -> None:
    for feedback in (True, False):
        env = kv_env(stream=kv_stream(n_exp=1, n_study=1, n_query=1), feedback=feedback)
        env.reset(seed=0)
        obs, *_ = env.step(act())
        question = obs["prompt"]
        env.step(act("wrong"))
        answer = env.records()[-1].answer
        expected = (env.records()[0].prompt,) + ((f"{question} {answer}",) if feedback else ())
        assert env.memory == expected


def test_memory_load_and_context_agree() -> None:
    env = kv_env(context_chars=40)
    obs, _ = env.reset(seed=2)
    for _ in range(6):
        obs, *_ = env.step(act())
        assert len(obs["context"]) <= 40
        assert obs["memory_load"][0] == pytest.approx(len(obs["context"]) / 40)


def test_long_items_are_cut_to_the_capacity() -> None:
    from sleep_env import EnvConfig, ExperienceConfig, Never, SleepEnv, StreamConfig

    stream = StreamConfig(experiences=(ExperienceConfig(task="test_long", n_study=2, n_query=0),))
    env = SleepEnv(EnvConfig(stream=stream, schedule=Never(), context_chars=25))
    obs, _ = env.reset(seed=0)
    text = obs["prompt"]
    obs, *_, info = env.step(act())
    assert obs["context"] == text[-25:] and info["evicted"] == 0
    obs, *_, info = env.step(act())
    assert info["evicted"] == 1 and len(env.memory) == 1
