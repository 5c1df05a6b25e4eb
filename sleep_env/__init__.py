"""sleep-env: a gymnasium environment for continual learning of language models with sleep.

One episode is one lifetime over a stream of experiences (arXiv 2606.03979). The env core imports
only the stdlib, numpy, gymnasium and ``tasks``; never torch.

Example:
    >>> import gymnasium as gym
    >>> import sleep_env
    >>> env = gym.make("sleep_env/SleepEnv-v0", config=sleep_env.EnvConfig())
    >>> obs, info = env.reset(seed=0)
    >>> info["probe_due"]
    True
"""

from __future__ import annotations

import gymnasium

from sleep_env import errors
from sleep_env.checker import check_sleep_env
from sleep_env.core import EnvConfig, SleepEnv
from sleep_env.protocols import Agent
from sleep_env.runner import run_lifetime
from sleep_env.schedules import (
    AgentChoice,
    FixedInterval,
    MemoryPressure,
    MultiLevel,
    Never,
    Schedule,
    ScheduleClock,
    SleepDecision,
    TaskBoundary,
    make_schedule,
    schedule_names,
)
from sleep_env.stream import ExperienceConfig, StreamConfig
from sleep_env.types import LifetimeRecord, ProbeSet, SleepReport, SleepWindow, StepRecord

__all__ = [
    "SleepEnv",
    "EnvConfig",
    "StreamConfig",
    "ExperienceConfig",
    "Schedule",
    "ScheduleClock",
    "SleepDecision",
    "Never",
    "FixedInterval",
    "MultiLevel",
    "MemoryPressure",
    "AgentChoice",
    "TaskBoundary",
    "make_schedule",
    "schedule_names",
    "SleepWindow",
    "SleepReport",
    "ProbeSet",
    "StepRecord",
    "LifetimeRecord",
    "Agent",
    "run_lifetime",
    "check_sleep_env",
    "errors",
    "ENV_ID",
]

ENV_ID = "sleep_env/SleepEnv-v0"
"""The id for ``gymnasium.make``."""

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="sleep_env.core:SleepEnv")
