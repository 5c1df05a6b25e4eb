"""Every public name imports; the package registers its gymnasium id."""

from __future__ import annotations

import importlib

import gymnasium as gym

import sleep_env


def test_every_name_in_all_imports() -> None:
    for name in sleep_env.__all__:
        assert getattr(sleep_env, name) is not None, name
    for module in (
        "errors",
        "types",
        "stream",
        "schedules",
        "core",
        "protocols",
        "runner",
        "checker",
        "memory",
        "config",
    ):
        mod = importlib.import_module(f"sleep_env.{module}")
        for name in getattr(mod, "__all__", ()):
            assert hasattr(mod, name), f"sleep_env.{module}.{name}"


def test_error_hierarchy() -> None:
    e = sleep_env.errors
    for cls in (
        e.ResetNeeded,
        e.InvalidAction,
        e.SleepNotAllowed,
        e.StreamExhausted,
        e.DependencyNotInstalled,
        e.ConfigError,
    ):
        assert issubclass(cls, e.SleepEnvError)
    assert issubclass(e.ConfigError, ValueError)


def test_env_id_is_registered() -> None:
    assert gym.spec(sleep_env.ENV_ID).entry_point == "sleep_env.core:SleepEnv"
