"""C1: seeded reset is deterministic, unseeded resets advance, nothing is aliased."""

from __future__ import annotations

import copy

from gymnasium.utils.env_checker import data_equivalence

from sleep_env import FixedInterval, TaskBoundary
from tests.sleep_env.sleep_env_testkit import act, kv_env


def _same(a, b) -> bool:
    return data_equivalence(a, b, exact=True)


def test_two_fresh_envs_replay_the_same_reset_sequence() -> None:
    a, b = kv_env(), kv_env()
    for seed in (123, None, None):
        oa, ia = copy.deepcopy(a.reset(seed=seed))
        ob, ib = copy.deepcopy(b.reset(seed=seed))
        assert _same(oa, ob) and _same(ia, ib)
        assert [r.prompt for r in a.records()] == [r.prompt for r in b.records()]


def test_seeded_reset_replays_after_an_unseeded_one() -> None:
    env = kv_env()
    o1 = copy.deepcopy(env.reset(seed=123)[0])
    env.reset()
    o3 = copy.deepcopy(env.reset(seed=123)[0])
    assert _same(o1, o3)


def test_unseeded_resets_give_new_streams() -> None:
    env = kv_env()
    prompts = [env.reset(seed=0)[0]["prompt"]] + [env.reset()[0]["prompt"] for _ in range(4)]
    assert len(set(prompts)) > 1


def test_first_unseeded_reset_uses_config_seed() -> None:
    a, b = kv_env(seed=7), kv_env()
    assert _same(a.reset()[0], b.reset(seed=7)[0])


def test_mutating_returned_obs_and_info_does_not_reach_the_env() -> None:
    env = kv_env()
    obs, info = env.reset(seed=1)
    kept, kept_info = copy.deepcopy(obs), copy.deepcopy(info)
    obs["memory_load"][0] = 0.9
    obs["prompt"] = "changed"
    info["probe_due"] = False
    again, again_info = env.reset(seed=1)
    assert _same(again, kept) and _same(again_info, kept_info)


def test_held_observation_does_not_change_across_steps() -> None:
    env = kv_env()
    obs, _ = env.reset(seed=1)
    kept = copy.deepcopy(obs)
    for _ in range(4):
        env.step(act("x"))
    assert _same(obs, kept)


def test_one_step_on_two_fresh_envs_is_identical() -> None:
    a, b = kv_env(), kv_env()
    a.reset(seed=5)
    b.reset(seed=5)
    assert _same(a.step(act("abc", 1)), b.step(act("abc", 1)))


def test_whole_episode_replays_with_sleeps() -> None:
    def run(env):
        out = [copy.deepcopy(env.reset(seed=11))]
        done = False
        k = 0
        while not done:
            step = env.step(act(f"r{k}", k % 2))
            out.append(copy.deepcopy(step))
            done = step[2] or step[3]
            k += 1
        return out

    config = {"schedule": FixedInterval(period=3), "sleep_cost_steps": 1}
    assert _same(run(kv_env(**config)), run(kv_env(**config)))


def test_different_seeds_give_different_material() -> None:
    env = kv_env()
    first = env.reset(seed=0)[0]["prompt"]
    assert env.reset(seed=1)[0]["prompt"] != first


def test_schedule_does_not_change_the_stream() -> None:
    def prompts(schedule):
        env = kv_env(schedule=schedule)
        env.reset(seed=4)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(act())
            done = terminated or truncated
        return [r.prompt for r in env.records()]

    assert prompts(TaskBoundary()) == prompts(FixedInterval(period=2))
