"""Contract tests: gymnasium's check_env, check_sleep_env and gymnasium.make."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sleep_env
from sleep_env import FixedInterval, Never, SleepEnv, TaskBoundary, check_sleep_env
from sleep_env.errors import SleepEnvError
from tests.sleep_env.sleep_env_testkit import kv_config, kv_env

CONFIGS = {
    "never": {},
    "fixed": {"schedule": FixedInterval(period=2)},
    "boundary": {"schedule": TaskBoundary(), "sleep_cost_steps": 2},
    "no_feedback": {"schedule": TaskBoundary(), "feedback": False, "probe_context": "memory"},
    "tiny_memory": {"context_chars": 15, "schedule": FixedInterval(period=4)},
    "budget": {"max_steps": 7, "schedule": FixedInterval(period=3)},
    "short_budget": {"max_steps": 3, "schedule": FixedInterval(period=1)},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gymnasium_check_env_passes_without_warnings(name: str) -> None:
    env = kv_env(**CONFIGS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_check_sleep_env_passes(name: str) -> None:
    check_sleep_env(kv_env(**CONFIGS[name]))


def test_gymnasium_make_builds_the_env_with_a_config() -> None:
    env = gym.make(sleep_env.ENV_ID, config=kv_config(schedule=TaskBoundary()))
    assert isinstance(env.unwrapped, SleepEnv)
    assert env.unwrapped.config.schedule == TaskBoundary()
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space and info["probe_due"] is True
    check_sleep_env(env)


@pytest.mark.parametrize("bad_seed", [1.5, "1", True, -1])
def test_gymnasium_make_env_stays_usable_after_a_refused_first_reset(bad_seed) -> None:
    # gymnasium's PassiveEnvChecker marks its reset check done before calling reset; when that first
    # reset raised, its first step check unpacked None (TypeError) even after a good reset
    env = gym.make(sleep_env.ENV_ID, config=kv_config())
    with pytest.raises(ValueError, match=r"seed must be None or an integer >= 0.*reset\(seed=0\)"):
        env.reset(seed=bad_seed)
    obs, info = env.reset(seed=0)
    assert info["probe_due"] is True
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step({"response": "x", "sleep": 0})
        assert obs in env.observation_space and 0.0 <= reward <= 1.0


def test_registration_is_idempotent() -> None:
    import importlib

    importlib.reload(sleep_env)  # a second registration attempt must not warn or raise
    assert sleep_env.ENV_ID in gym.registry


class _NeverGrants(SleepEnv):
    """A broken env that grants sleep nowhere, whatever may_sleep says."""

    def step(self, action):
        return super().step({**action, "sleep": 0})


def test_check_sleep_env_names_the_broken_rule() -> None:
    env = _NeverGrants(kv_config(schedule=FixedInterval(period=2)))
    with pytest.raises(SleepEnvError, match="may_sleep"):
        check_sleep_env(env)


def test_default_env_uses_the_never_schedule_only_when_asked() -> None:
    env = kv_env(schedule=Never())
    obs, _ = env.reset(seed=0)
    assert int(obs["may_sleep"]) == 0


class _SharedBuffer(SleepEnv):
    """A broken env that returns the same memory_load array every time."""

    _buffer = np.zeros(1, dtype=np.float32)

    def _obs(self, *args, **kwargs):
        obs = super()._obs(*args, **kwargs)
        self._buffer[:] = obs["memory_load"]
        obs["memory_load"] = self._buffer
        return obs


def test_check_sleep_env_catches_aliased_observations() -> None:
    with pytest.raises(SleepEnvError, match="share an object"):
        check_sleep_env(_SharedBuffer(kv_config()))
