"""Random actions from the action space are accepted and scored, never raised; bad actions raise."""

from __future__ import annotations

import numpy as np
import pytest

from sleep_env import FixedInterval, TaskBoundary
from sleep_env.errors import InvalidAction
from tests.sleep_env.sleep_env_testkit import act, kv_env

CONFIGS = [
    {},
    {"schedule": FixedInterval(period=2), "sleep_cost_steps": 1},
    {"schedule": TaskBoundary(), "feedback": False, "context_chars": 20, "max_steps": 12},
    {"schedule": FixedInterval(period=1), "sleep_cost_steps": 3, "probe_context": "memory"},
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_episodes_never_raise(config, seed: int) -> None:
    env = kv_env(**config)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    versions = [0]
    while True:
        assert obs in env.observation_space
        if info["probe_due"] and rng.random() < 0.7:
            n = len(env.probe_prompts())
            env.submit_probes([env.action_space["response"].sample() for _ in range(n)])
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert 0.0 <= reward <= 1.0 and type(terminated) is bool and type(truncated) is bool
        versions.append(info["model_version"])
        if terminated or truncated:
            break
    assert versions == sorted(versions)
    assert len(env.records()) >= info["step"]


@pytest.mark.parametrize(
    "action",
    [
        "x",
        None,
        {"sleep": 1},
        {"response": 3},
        {"response": "", "sleep": 2},
        {"response": "", "sleep": "1"},
    ],
)
def test_malformed_actions_raise_invalid_action(action) -> None:
    env = kv_env()
    env.reset(seed=0)
    with pytest.raises(InvalidAction):
        env.step(action)


def test_numpy_and_bool_sleep_flags_are_accepted() -> None:
    env = kv_env(schedule=FixedInterval(period=1))
    env.reset(seed=0)
    obs, *_ = env.step({"response": "", "sleep": np.int64(1)})
    assert int(obs["kind"]) == 2
    env.step(None)  # any action wakes, even None
    obs, *_ = env.step({"response": "", "sleep": True})
    assert int(obs["kind"]) == 2


def test_sleep_defaults_to_zero() -> None:
    env = kv_env(schedule=FixedInterval(period=1))
    env.reset(seed=0)
    obs, *_ = env.step({"response": "abc"})
    assert int(obs["kind"]) == 0 and env.records()[0].sleep_requested is False


def test_out_of_charset_and_over_long_responses_are_scored() -> None:
    env = kv_env(stream=None, n_study=1, n_query=1)
    env.reset(seed=0)
    env.step(act())
    _, reward, *_ = env.step(act("ü" * 10_000))
    assert reward == 0.0


def test_float_sleep_flags_are_rejected() -> None:
    env = kv_env()
    env.reset(seed=0)
    for sleep in (1.0, np.array(1.0), np.array([1])):
        with pytest.raises(InvalidAction):
            env.step({"response": "", "sleep": sleep})
    env.step({"response": "", "sleep": np.array(1)})
