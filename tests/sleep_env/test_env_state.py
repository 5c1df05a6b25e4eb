"""SleepEnv.get_state / set_state: a JSON round trip continues the lifetime exactly (checkpoints, issue 8)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, MemoryPressure, MultiLevel, SleepEnv, StreamConfig
from sleep_env.errors import ResetNeeded, SleepEnvError

EXP = ExperienceConfig(task="facts", n_study=3, n_query=2)
SCHEDULES = [FixedInterval(period=4), MultiLevel(periods=(2, 4)), MemoryPressure(threshold=0.5)]


def _config(schedule, **kw) -> EnvConfig:
    return EnvConfig(stream=StreamConfig(experiences=(EXP,) * 3), schedule=schedule, context_chars=200, **kw)


def _drive(env, obs, info, n):
    """Answer probes, respond, sleep whenever allowed; return what happened (for comparison)."""
    trace = []
    for i in range(n):
        if info["probe_due"]:
            probes = env.probe_prompts()
            env.submit_probes([f"answer {k}" for k in range(len(probes))])
        action = {"response": f"r{i}", "sleep": int(obs["may_sleep"])}
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs["prompt"], obs["context"], int(obs["kind"]), reward, terminated, truncated, info["step"],
                      info["model_version"], info["probe_due"]))
        if terminated or truncated:
            break
    return obs, info, trace


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("cut", [0, 3, 4, 5, 9])
def test_round_trip_continues_identically(schedule, cut):
    cfg = _config(schedule, sleep_cost_steps=1)
    a = SleepEnv(cfg)
    obs, info = a.reset(seed=11)
    obs, info, _ = _drive(a, obs, info, cut)
    state = json.loads(json.dumps(a.get_state()))  # must survive JSON
    obs_a, info_a, rest_a = _drive(a, obs, info, 100)
    b = SleepEnv(cfg)
    obs_b, info_b = b.set_state(state)
    assert obs_b["prompt"] == obs["prompt"] and int(obs_b["kind"]) == int(obs["kind"])
    assert info_b["kind"] == "resume"
    info_b["probe_due"] = info["probe_due"]  # the probe round due at the cut is answered by the driver
    obs_b, info_b, rest_b = _drive(b, obs_b, info_b, 100)
    assert rest_a == rest_b and len(rest_a) > 0
    np.testing.assert_array_equal(a.accuracy_matrix, b.accuracy_matrix)
    np.testing.assert_array_equal(a.baseline, b.baseline)
    assert [r.to_dict() for r in a.records()] == [r.to_dict() for r in b.records()]
    assert a.model_version == b.model_version > 0


def test_state_while_asleep_resumes_asleep():
    env = SleepEnv(_config(FixedInterval(period=2)))
    obs, info = env.reset(seed=0)
    obs, _, _, _, info = env.step({"response": "", "sleep": 0})
    obs, _, _, _, info = env.step({"response": "", "sleep": 1})
    assert int(obs["kind"]) == 2
    other = SleepEnv(_config(FixedInterval(period=2)))
    obs2, info2 = other.set_state(env.get_state())
    assert int(obs2["kind"]) == 2 and info2["sleep_window"] == info["sleep_window"]
    other.step({"response": "", "sleep": 0})
    assert other.model_version == 1


def test_bad_states_are_clear_errors():
    env = SleepEnv(_config(FixedInterval(period=4)))
    with pytest.raises(ResetNeeded):
        env.get_state()
    env.reset(seed=0)
    state = env.get_state()
    with pytest.raises(SleepEnvError, match="not a SleepEnv state"):
        env.set_state({"version": 1, "n_experiences": 3})
    two = SleepEnv(EnvConfig(stream=StreamConfig(experiences=(EXP,) * 2), schedule=FixedInterval(period=4)))
    with pytest.raises(SleepEnvError, match="same config"):
        two.set_state(state)
