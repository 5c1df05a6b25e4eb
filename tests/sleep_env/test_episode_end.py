"""C3: terminated vs truncated, and no steps before reset or after the end."""

from __future__ import annotations

import pytest

from sleep_env import FixedInterval, SleepEnv, TaskBoundary
from sleep_env.errors import ResetNeeded, SleepEnvError, StreamExhausted
from tests.sleep_env.sleep_env_testkit import OracleAgent, act, kv_env

N_ITEMS = 15  # 3 experiences x (3 study + 2 query)


def _run_out(env: SleepEnv, agent=None):
    obs, _ = env.reset(seed=0)
    steps = []
    while True:
        action = act() if agent is None else agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((reward, terminated, truncated, info))
        if terminated or truncated:
            return steps


def test_step_before_reset_raises_reset_needed() -> None:
    env = kv_env()
    with pytest.raises(ResetNeeded, match=r"reset\(\)"):
        env.step(act("x"))


def test_stream_end_terminates_and_later_steps_raise() -> None:
    env = kv_env()
    steps = _run_out(env)
    assert len(steps) == N_ITEMS
    _, terminated, truncated, _ = steps[-1]
    assert terminated is True and truncated is False
    assert all(t is False and u is False for _, t, u, _ in steps[:-1])
    with pytest.raises(StreamExhausted, match=r"reset\(\)"):
        env.step(act("x"))
    assert issubclass(StreamExhausted, ResetNeeded) and issubclass(ResetNeeded, SleepEnvError)


def test_return_is_bounded_by_the_number_of_queries() -> None:
    env = kv_env()
    steps = _run_out(env, OracleAgent())
    assert sum(r for r, *_ in steps) == 6.0  # 2 queries x 3 experiences, all correct
    with pytest.raises(ResetNeeded):
        env.step(act("whatever"))


def test_truncated_exactly_at_the_step_budget() -> None:
    env = kv_env(max_steps=4)
    steps = _run_out(env)
    assert len(steps) == 4
    _, terminated, truncated, info = steps[-1]
    assert truncated is True and terminated is False and info["step"] == 4
    with pytest.raises(ResetNeeded, match="truncated"):
        env.step(act())
    env.reset(seed=0)  # reset clears the latch
    env.step(act())


def test_sleep_steps_count_towards_the_budget() -> None:
    env = kv_env(max_steps=3, schedule=FixedInterval(period=1))
    env.reset(seed=0)
    env.step(act(sleep=1))  # enters sleep: step 1
    env.step(act())  # wakes: step 2
    *_, truncated, info = env.step(act())
    assert truncated is True and info["step"] == 3


def test_budget_hitting_the_last_item_sets_both_flags() -> None:
    env = kv_env(max_steps=N_ITEMS)
    _, terminated, truncated, _ = _run_out(env)[-1]
    assert terminated is True and truncated is True


def test_sleeping_after_the_last_item_terminates_on_the_wake_step() -> None:
    env = kv_env(schedule=TaskBoundary())
    obs, _ = env.reset(seed=0)
    for _ in range(N_ITEMS - 1):
        obs, _, terminated, _, _ = env.step(act())
        assert not terminated
    assert int(obs["may_sleep"]) == 1
    obs, _, terminated, _, info = env.step(act(sleep=1))
    assert terminated is False and int(obs["kind"]) == 2 and info["sleep_window"] is not None
    obs, _, terminated, truncated, info = env.step(act())
    assert terminated is True and truncated is False
    assert obs["prompt"] == "" and obs["context"] == "" and info["model_version"] == 1
