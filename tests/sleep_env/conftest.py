"""Fixtures for the sleep_env tests; the tasks and helpers live in ``sleep_env_testkit``.

Hypothesis profiles, chosen by the environment variable ``HYPOTHESIS_PROFILE``: ``default``
(bounded, a few seconds; the normal suite) and ``thorough`` (many more and longer examples), e.g.
``HYPOTHESIS_PROFILE=thorough pytest tests/sleep_env/test_stateful.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import tasks
from tasks import registry as registry_module
from tests.sleep_env.sleep_env_testkit import TINY_TASKS

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=40, stateful_step_count=30, **_COMMON)
settings.register_profile("thorough", max_examples=1000, stateful_step_count=100, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def tiny_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the tiny test tasks for one test, without leaking them into the global registry.

    Same scoping as ``tests/tasks/test_registry.py``'s ``clean_registry``: the registry dict is
    swapped for a copy that the monkeypatch restores after the test.
    """
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    for cls in TINY_TASKS:
        tasks.register(cls.name, cls)
