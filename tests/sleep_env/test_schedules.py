"""The schedules MultiLevel, MemoryPressure and AgentChoice: decisions, validation, env wiring."""

from __future__ import annotations

import re

import pytest
from gymnasium.utils.env_checker import check_env

from sleep_env import (
    AgentChoice,
    FixedInterval,
    MemoryPressure,
    MultiLevel,
    Never,
    SleepDecision,
    TaskBoundary,
    check_sleep_env,
)
from sleep_env.errors import ConfigError
from sleep_env.schedules import Schedule
from tests.sleep_env.sleep_env_testkit import act, kv_env
from tests.sleep_env.sleep_env_testkit import clock as _clock



def _d(level: int, *, due: bool = True) -> SleepDecision:
    return SleepDecision(may_sleep=level > 0, due=due and level > 0, level=level)


SCHEDULES = [
    Never(),
    FixedInterval(period=4),
    MultiLevel(periods=(2, 4)),
    MemoryPressure(threshold=0.3),
    AgentChoice(min_gap=3, max_sleeps=2),
    TaskBoundary(),
]
IDS = [type(s).__name__ for s in SCHEDULES]


# ------------------------------------------------------------------ decisions at hand-computed clocks
@pytest.mark.parametrize(
    ("seen", "level"),
    [(0, 0), (1, 0), (2, 1), (3, 0), (4, 1), (6, 2), (8, 1), (12, 3), (18, 2), (24, 3), (25, 0)],
)
def test_multi_level_reports_the_slowest_due_level(seen: int, level: int) -> None:
    schedule = MultiLevel(periods=(2, 6, 12))
    assert schedule.decide(_clock(items_seen=seen)) == _d(level)


def test_multi_level_ignores_the_other_clock_fields() -> None:
    schedule = MultiLevel(periods=(3,))
    busy = _clock(items_seen=5, memory_load=1.0, experience_ended=True, stream_ended=True)
    assert schedule.decide(busy) == _d(0)
    assert schedule.decide(_clock(items_seen=9, items_since_sleep=1)) == _d(1)


def test_n_levels() -> None:
    assert MultiLevel(periods=(2, 6, 12)).n_levels == 3
    assert MultiLevel(periods=[5]).periods == (5,)  # a list is stored as a tuple
    for schedule in SCHEDULES:
        if not isinstance(schedule, MultiLevel):
            assert schedule.n_levels == 1


@pytest.mark.parametrize(("load", "level"), [(0.0, 0), (0.49, 0), (0.5, 1), (0.9, 1), (1.0, 1)])
def test_memory_pressure(load: float, level: int) -> None:
    assert MemoryPressure(threshold=0.5).decide(_clock(memory_load=load)) == _d(level)
    assert MemoryPressure(threshold=1).decide(_clock(memory_load=1.0)) == _d(1)


@pytest.mark.parametrize(
    ("since", "sleeps", "may"),
    [(1, 0, False), (2, 0, False), (3, 0, True), (10, 0, True), (3, 1, True), (3, 2, False),
     (50, 5, False)],
)  # fmt: skip
def test_agent_choice_allows_but_never_forces(since: int, sleeps: int, may: bool) -> None:
    clock = _clock(items_seen=40, items_since_sleep=since, sleeps=sleeps, memory_load=1.0,
                   experience_ended=True, stream_ended=True)  # fmt: skip
    assert AgentChoice(min_gap=3, max_sleeps=2).decide(clock) == _d(int(may), due=False)


def test_schedule_clock_sleeps_defaults_to_zero() -> None:
    assert _clock().sleeps == 0


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (MultiLevel, {"periods": ()}, "periods"),
        (MultiLevel, {"periods": 12}, "periods"),
        (MultiLevel, {"periods": "12"}, "periods"),
        (MultiLevel, {"periods": (0, 4)}, "periods[0]"),
        (MultiLevel, {"periods": (2, -4)}, "periods[1]"),
        (MultiLevel, {"periods": (2, 4.0)}, "periods[1]"),
        (MultiLevel, {"periods": (2, True)}, "periods[1]"),
        (MultiLevel, {"periods": (4, 4)}, "periods"),
        (MultiLevel, {"periods": (8, 4)}, "periods"),
        (MultiLevel, {"periods": (4, 6)}, "periods"),
        (MemoryPressure, {"threshold": 0}, "threshold"),
        (MemoryPressure, {"threshold": -0.5}, "threshold"),
        (MemoryPressure, {"threshold": 1.01}, "threshold"),
        (MemoryPressure, {"threshold": float("nan")}, "threshold"),
        (MemoryPressure, {"threshold": "0.9"}, "threshold"),
        (MemoryPressure, {"threshold": True}, "threshold"),
        (AgentChoice, {"min_gap": 0, "max_sleeps": 2}, "min_gap"),
        (AgentChoice, {"min_gap": 2.5, "max_sleeps": 2}, "min_gap"),
        (AgentChoice, {"min_gap": 2, "max_sleeps": 0}, "max_sleeps"),
        (AgentChoice, {"min_gap": 2, "max_sleeps": "3"}, "max_sleeps"),
    ],
)
def test_invalid_arguments_name_the_field_value_and_fix(cls, kwargs, field) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(field)} must be .*, got .*; ") as err:
        cls(**kwargs)
    assert isinstance(err.value, ConfigError)
    assert "e.g." in str(err.value)


def test_multi_level_divisibility_error_says_which_period() -> None:
    with pytest.raises(ValueError, match="6 is not a multiple of 4"):
        MultiLevel(periods=(2, 4, 6))


def test_schedules_are_frozen_and_keyword_only() -> None:
    with pytest.raises(TypeError):
        MultiLevel((2, 4))  # type: ignore[misc]
    with pytest.raises(AttributeError):
        MemoryPressure(threshold=0.5).threshold = 0.6  # type: ignore[misc]


# ------------------------------------------------------------------ the env
def _prompts(schedule, seed: int) -> tuple[list[str], int]:
    """Non-sleep prompts of a lifetime where the agent asks to sleep at every step, and sleeps."""
    env = kv_env(schedule=schedule, sleep_cost_steps=0, context_chars=60)
    obs, _ = env.reset(seed=seed)
    prompts = []
    terminated = False
    while not terminated:
        if int(obs["kind"]) != 2:
            prompts.append(str(obs["prompt"]))
        obs, _, terminated, _, info = env.step(act("x", sleep=1))
    return prompts, info["sleeps"]


@pytest.mark.parametrize("seed", [0, 7])
def test_schedules_never_change_the_items_or_their_order(seed: int) -> None:
    reference, sleeps = _prompts(Never(), seed)
    assert len(reference) == 3 * 5 and sleeps == 0  # every item, once
    for schedule in SCHEDULES[1:]:
        prompts, sleeps = _prompts(schedule, seed)
        assert prompts == reference and sleeps > 0, type(schedule).__name__


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_check_sleep_env_passes(schedule) -> None:
    env = kv_env(schedule=schedule, context_chars=60)
    check_sleep_env(env)
    check_env(env, skip_render_check=True)


def test_multi_level_level_reaches_obs_window_and_info() -> None:
    env = kv_env(schedule=MultiLevel(periods=(2, 4)))
    assert env.observation_space["sleep_level"].n == 3
    obs, _ = env.reset(seed=0)
    levels = []
    for _ in range(3):  # items 1..3: item 2 is level 1, item 4 level 2
        levels.append((int(obs["may_sleep"]), int(obs["sleep_due"]), int(obs["sleep_level"])))
        obs, *_ = env.step(act())
    assert levels == [(0, 0, 0), (1, 1, 1), (0, 0, 0)]
    assert (int(obs["sleep_due"]), int(obs["sleep_level"])) == (1, 2)
    obs, _, _, _, info = env.step(act(sleep=1))
    assert int(obs["kind"]) == 2 and int(obs["sleep_level"]) == 2
    assert info["sleep_window"].level == 2 and info["sleep_level"] == 2
    obs, _, _, _, info = env.step(act())
    assert info["kind"] == "sleep" and info["sleep_level"] == 2 and info["model_version"] == 1
    assert info["sleep_window"] is None and str(obs["context"]) == ""
    _, _, _, _, info = env.step(act())
    assert info["sleep_level"] == 0


def test_memory_pressure_in_the_env() -> None:
    env = kv_env(schedule=MemoryPressure(threshold=0.5), context_chars=60)
    obs, _ = env.reset(seed=0)
    for _ in range(6):
        load = float(obs["memory_load"][0])
        obs, _, _, _, info = env.step(act())
        # the decision shown with an item is for the memory after it: after a step with no
        # overwrite, the load now shown is that memory
        if info["overwritten"] == 0 and int(obs["kind"]) != 2:
            assert float(obs["memory_load"][0]) >= load
    assert info["overwritten_total"] > 0  # ignored due sleeps overwrite the memory


def test_agent_choice_in_the_env_counts_sleeps_and_never_overwrites() -> None:
    env = kv_env(schedule=AgentChoice(min_gap=3, max_sleeps=2), context_chars=60)
    obs, _ = env.reset(seed=0)
    since, terminated, info = 0, False, {}
    while not terminated:
        if int(obs["kind"]) != 2:
            assert int(obs["sleep_due"]) == 0
            assert int(obs["may_sleep"]) == int(since + 1 >= 3 and env.model_version < 2)
            since += 1
        else:
            since = 0
        obs, _, terminated, _, info = env.step(act(sleep=1))
    assert info["sleeps"] == 2 and info["overwritten_total"] == 0
    assert info["denied_total"] > 0


# -- what a schedule may return ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"may_sleep": True, "due": False, "level": 0}, "level"), ({"may_sleep": False, "due": True, "level": 0}, "may_sleep"),
     ({"may_sleep": 1, "due": False, "level": 1}, "may_sleep"), ({"may_sleep": True, "due": "no", "level": 1}, "due"), ({"may_sleep": True, "due": True, "level": -1}, "level"),
     ({"may_sleep": True, "due": True, "level": 1.0}, "level")],
)
def test_sleep_decision_refuses_states_the_protocol_cannot_honour(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"SleepDecision\.{field}"):
        SleepDecision(**kwargs)


def test_sleep_decision_takes_numpy_scalars_as_plain_python_values() -> None:
    import numpy as np

    d = SleepDecision(may_sleep=np.bool_(True), due=np.array([1, 2]).sum() > 2, level=np.int64(1))
    assert (d.may_sleep, d.due, d.level) == (True, True, 1)
    assert type(d.may_sleep) is bool and type(d.due) is bool and type(d.level) is int


class _Returns(Schedule):
    def __init__(self, decision) -> None:
        self.decision = decision

    def decide(self, clock):
        return self.decision


@pytest.mark.parametrize(
    ("decision", "words"),
    [(None, "must return a SleepDecision, got NoneType"),
     (SleepDecision(may_sleep=True, due=True, level=2), "level=2 with may_sleep=True"),
     ("sleep", "must return a SleepDecision, got str")],
)
def test_a_schedule_returning_what_the_observation_cannot_show_is_named(decision, words: str) -> None:
    from sleep_env import EnvConfig, ExperienceConfig, SleepEnv, StreamConfig
    from sleep_env.errors import SleepEnvError

    env = SleepEnv(EnvConfig(stream=StreamConfig(experiences=(ExperienceConfig(task="facts", n_study=2, n_query=1),)),
                             schedule=_Returns(decision)))
    with pytest.raises(SleepEnvError, match=re.escape(words)) as err:
        env.reset(seed=0)
    assert "_Returns.decide()" in str(err.value)
