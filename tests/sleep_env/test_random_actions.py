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


def test_out_of_charset_responses_are_scored_not_raised() -> None:
    env = kv_env(stream=None, n_study=1, n_query=1)
    env.reset(seed=0)
    env.step(act())
    _, reward, *_ = env.step(act("ü" * 4096))  # exactly max_length: allowed, scored 0
    assert reward == 0.0


def test_response_longer_than_the_action_space_is_a_clear_error() -> None:
    env = kv_env(stream=None, n_study=1, n_query=1)
    env.reset(seed=0)
    env.step(act())
    limit = env.action_space["response"].max_length
    with pytest.raises(InvalidAction, match=rf"{limit + 1} characters.*max_length={limit}.*truncate"):
        env.step(act("a" * (limit + 1)))
    _, reward, *_ = env.step(act("a" * limit))  # nothing was consumed by the refused action
    assert reward == 0.0 and env.records()[-1].kind == "query"


@pytest.mark.parametrize("key", ["slep", "sleep_level", "Response"])
def test_unknown_action_keys_are_refused_by_name(key: str) -> None:
    env = kv_env()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=rf"unknown key\(s\) \['{key}'\]"):
        env.step({"response": "", "sleep": 0, key: 1})
    assert env.records() == []


@pytest.mark.parametrize("seed", [1.5, "1", True, -1, np.float64(2.0)])
def test_reset_refuses_seeds_that_are_not_non_negative_integers(seed) -> None:
    env = kv_env()
    with pytest.raises(ValueError, match="seed must be"):
        env.reset(seed=seed)


def test_reset_accepts_numpy_integer_seeds() -> None:
    a, b = kv_env(), kv_env()
    assert a.reset(seed=np.int64(3))[0]["prompt"] == b.reset(seed=3)[0]["prompt"]


def test_float_sleep_flags_are_rejected() -> None:
    env = kv_env()
    env.reset(seed=0)
    for sleep in (1.0, np.array(1.0), np.array([1])):
        with pytest.raises(InvalidAction):
            env.step({"response": "", "sleep": sleep})
    env.step({"response": "", "sleep": np.array(1)})


def test_render_says_where_to_look() -> None:
    with pytest.raises(NotImplementedError, match="no render modes.*obs\\['prompt'\\]"):
        kv_env().render()
