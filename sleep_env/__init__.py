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
"""The id for ``gymnasium.make``.

Registered with ``disable_env_checker=True``: gymnasium's ``PassiveEnvChecker`` (1.x) marks its
one-off reset check done *before* calling ``reset``, so a first ``reset`` that raises (e.g.
``reset(seed=1.5)``) leaves it without the reset data that its first ``step`` check unpacks, and
every later ``step`` would fail with ``TypeError: cannot unpack non-iterable NoneType`` even after
a good ``reset``. :func:`check_sleep_env` runs gymnasium's full ``check_env`` plus the sleep
contract instead. ``gym.make(ENV_ID, disable_env_checker=False)`` still adds the passive checker
(and its flaw: there, only let the first ``reset`` succeed).
"""

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="sleep_env.core:SleepEnv", disable_env_checker=True)
