"""Config validation: every error is a ValueError naming the field (C14: no silent coercion)."""

from __future__ import annotations

import pytest

from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, SleepEnv, StreamConfig
from sleep_env.errors import ConfigError
from tests.sleep_env.sleep_env_testkit import kv_config, kv_stream

EXP = {"task": "test_kv", "n_study": 3, "n_query": 2}

BAD = [
    (EnvConfig, {"context_chars": 0}, "context_chars"),
    (EnvConfig, {"context_chars": "2000"}, "context_chars"),
    (EnvConfig, {"context_chars": 2000.0}, "context_chars"),
    (EnvConfig, {"max_steps": 0}, "max_steps"),
    (EnvConfig, {"max_steps": True}, "max_steps"),
    (EnvConfig, {"max_steps": "1e4"}, "max_steps"),
    (EnvConfig, {"sleep_cost_steps": -1}, "sleep_cost_steps"),
    (EnvConfig, {"feedback": "no"}, "feedback"),
    (EnvConfig, {"feedback": 1}, "feedback"),
    (EnvConfig, {"probe_context": "closed"}, "probe_context"),
    (EnvConfig, {"probe_context": False}, "probe_context"),
    (EnvConfig, {"seed": -1}, "seed"),
    (EnvConfig, {"seed": "017"}, "seed"),
    (EnvConfig, {"schedule": "fixed"}, "schedule"),
    (EnvConfig, {"stream": {}}, "stream"),
    (EnvConfig, {"sleep_step_budget": -5}, "sleep_step_budget"),
    (EnvConfig, {"extra_chars": None}, "extra_chars"),
    (ExperienceConfig, {**EXP, "task": ""}, "task"),
    (ExperienceConfig, {**EXP, "task": False}, "task"),
    (ExperienceConfig, {**EXP, "n_study": 0}, "n_study"),
    (ExperienceConfig, {**EXP, "n_study": 1e4}, "n_study"),
    (ExperienceConfig, {**EXP, "n_query": -1}, "n_query"),
    (ExperienceConfig, {**EXP, "task_kwargs": [1, 2]}, "task_kwargs"),
    (StreamConfig, {"experiences": ()}, "experiences"),
    (StreamConfig, {"experiences": ("facts",)}, "experiences"),
    (StreamConfig, {"experiences": (ExperienceConfig(**EXP),), "n_probe": 0}, "n_probe"),
    (StreamConfig, {"experiences": (ExperienceConfig(**EXP),), "n_probe": 4}, "n_probe"),
    (FixedInterval, {"period": 0}, "period"),
    (FixedInterval, {"period": "24"}, "period"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    BAD,
    ids=[f"{c.__name__}-{f}-{i}" for i, (c, _, f) in enumerate(BAD)],
)
def test_bad_value_raises_value_error_naming_the_field(cls, kwargs, field) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be .*, got .*; ") as caught:
        cls(**kwargs)
    assert isinstance(caught.value, ConfigError)


def test_configs_are_frozen_and_kw_only() -> None:
    config = EnvConfig()
    with pytest.raises(AttributeError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        ExperienceConfig("facts", {}, 3, 2)  # type: ignore[misc]


def test_defaults_follow_the_design() -> None:
    config = EnvConfig()
    assert config.schedule == FixedInterval(period=15)  # one sleep per experience
    assert (
        config.stream.experiences == (ExperienceConfig(task="facts", n_study=12, n_query=3),) * 3
    )  # every fact probed, 3 of 12 asked by day
    assert (config.context_chars, config.max_steps, config.sleep_cost_steps) == (2000, None, 0)
    assert (config.feedback, config.probe_context, config.seed) == (True, "none", 0)
    assert config.stream.n_probe is None


def test_a_list_of_experiences_becomes_a_tuple() -> None:
    stream = StreamConfig(experiences=[ExperienceConfig(**EXP)])
    assert isinstance(stream.experiences, tuple)


def test_task_kwargs_are_copied() -> None:
    kwargs = {"n_entities": 2}
    exp = ExperienceConfig(task="facts", task_kwargs=kwargs, n_study=2, n_query=0)
    kwargs["n_entities"] = 9
    assert exp.task_kwargs == {"n_entities": 2}


def test_unknown_task_names_the_experience() -> None:
    stream = StreamConfig(
        experiences=(ExperienceConfig(**EXP), ExperienceConfig(**{**EXP, "task": "no_such_task"}))
    )
    with pytest.raises(ConfigError, match=r"stream\.experiences\[1\]"):
        SleepEnv(EnvConfig(stream=stream))


def test_a_character_outside_the_charset_is_rejected_at_construction() -> None:
    stream = StreamConfig(experiences=(ExperienceConfig(**{**EXP, "task": "test_accent"}),))
    with pytest.raises(
        ValueError, match=r"item 0 \(study, experience 0, task 'test_accent'\).*é \(U\+00E9\)"
    ):
        SleepEnv(EnvConfig(stream=stream))


def test_extra_chars_extend_the_text_spaces() -> None:
    stream = StreamConfig(experiences=(ExperienceConfig(**{**EXP, "task": "test_accent"}),))
    env = SleepEnv(EnvConfig(stream=stream, extra_chars="é"))
    obs, _ = env.reset(seed=0)
    assert "é" in obs["prompt"] and obs in env.observation_space
    assert "é" in env.action_space["response"].character_set


def test_render_mode_other_than_none_is_rejected() -> None:
    with pytest.raises(ValueError, match="render_mode"):
        SleepEnv(kv_config(), render_mode="human")


def test_n_probe_may_equal_the_smallest_n_study() -> None:
    assert kv_stream(n_study=3, n_probe=3).n_probe == 3
