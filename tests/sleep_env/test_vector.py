"""gymnasium's vector envs over SleepEnv, and their default next-step autoreset.

``AsyncVectorEnv`` needs ``shared_memory=False``: Text spaces have no shared-memory buffer.
The sub-processes are forked (Linux default), so they see the test tasks registered by conftest.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import sleep_env
from sleep_env import FixedInterval
from tests.sleep_env.sleep_env_testkit import kv_config

SMALL = {"n_exp": 2, "n_study": 2, "n_query": 1, "schedule": FixedInterval(period=2)}


def _vector(kind: str, **overrides) -> gym.vector.VectorEnv:
    config = kv_config(**{**SMALL, **overrides})
    fns = [lambda: gym.make(sleep_env.ENV_ID, config=config) for _ in range(2)]
    if kind == "sync":
        return gym.vector.SyncVectorEnv(fns)
    return gym.vector.AsyncVectorEnv(fns, shared_memory=False)


def _first_prompt(seed: int) -> str:
    obs, _ = gym.make(sleep_env.ENV_ID, config=kv_config(**SMALL)).reset(seed=seed)
    return str(obs["prompt"])


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("random_actions", [True, False])
def test_vector_env_runs_until_a_sub_env_finishes(kind: str, random_actions: bool) -> None:
    envs = _vector(kind)
    try:
        envs.action_space.seed(0)
        obs, info = envs.reset(seed=[0, 1])
        assert obs in envs.observation_space
        assert list(obs["prompt"]) == [_first_prompt(0), _first_prompt(1)]
        assert info["probe_due"].tolist() == [True, True]
        blank = {"response": ("", ""), "sleep": np.zeros(2, dtype=np.int64)}
        done = np.zeros(2, dtype=bool)
        for _ in range(40):
            action = envs.action_space.sample() if random_actions else blank
            obs, reward, terminated, truncated, info = envs.step(action)
            assert obs in envs.observation_space
            assert ((reward >= 0) & (reward <= 1)).all()
            done = terminated | truncated
            if done.any():
                break
        assert done.any(), "no sub-env finished within 40 steps"
        # next-step autoreset: the finished sub-env's next action is ignored and it returns the
        # next lifetime's first observation (reward 0, not done, fresh step counter)
        finished = int(np.flatnonzero(done)[0])
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert reward[finished] == 0.0
        assert not terminated[finished] and not truncated[finished]
        assert info["step"][finished] == 0 and info["kind"][finished] == "reset"
        assert info["probe_due"][finished]
        assert str(obs["prompt"][finished]) != ""
    finally:
        envs.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_vector_env_truncates_and_autoresets(kind: str) -> None:
    envs = _vector(kind, max_steps=3)
    try:
        envs.reset(seed=[0, 1])
        blank = {"response": ("", ""), "sleep": np.zeros(2, dtype=np.int64)}
        for _ in range(2):
            _, _, terminated, truncated, _ = envs.step(blank)
            assert not truncated.any()
        _, _, terminated, truncated, _ = envs.step(blank)
        assert truncated.all() and not terminated.any()
        _, _, terminated, truncated, info = envs.step(blank)
        assert not truncated.any() and info["step"].tolist() == [0, 0]
    finally:
        envs.close()


def test_same_seeds_give_the_same_vector_rollout() -> None:
    def rollout(kind: str) -> list[list[str]]:
        envs = _vector(kind)
        try:
            obs, _ = envs.reset(seed=[0, 1])
            prompts = [list(obs["prompt"])]
            blank = {"response": ("", ""), "sleep": np.ones(2, dtype=np.int64)}
            for _ in range(8):
                obs, *_ = envs.step(blank)
                prompts.append(list(obs["prompt"]))
            return prompts
        finally:
            envs.close()

    assert rollout("sync") == rollout("async")


def test_async_vector_env_with_shared_memory_is_refused_with_the_fix() -> None:
    from sleep_env.errors import SleepEnvError

    config = kv_config(**SMALL)
    fns = [lambda: gym.make(sleep_env.ENV_ID, config=config) for _ in range(2)]
    with pytest.raises(SleepEnvError, match=r"shared_memory=False"):
        gym.vector.AsyncVectorEnv(fns)  # gymnasium's default: shared memory on
