"""Fixtures for the sleep_env tests; the tasks and helpers live in ``sleep_env_testkit``."""

from __future__ import annotations

import pytest

import tasks
from tasks import registry as registry_module
from tests.sleep_env.sleep_env_testkit import TINY_TASKS


@pytest.fixture(autouse=True)
def tiny_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the tiny test tasks for one test, without leaking them into the global registry.

    Same scoping as ``tests/tasks/test_registry.py``'s ``clean_registry``: the registry dict is
    swapped for a copy that the monkeypatch restores after the test.
    """
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    for cls in TINY_TASKS:
        tasks.register(cls.name, cls)
