"""Every name a package lists in ``__all__`` exists (``from pkg import *`` and the docs rely on it)."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["sleep_env", "tasks", "agents", "agents.engine", "agents.memory", "evaluation.metrics"]


@pytest.mark.parametrize("module", MODULES)
def test_every_name_in_all_is_importable(module: str) -> None:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    assert isinstance(names, (list, tuple)) and names, f"{module} has no __all__"
    assert all(isinstance(n, str) for n in names), module
    assert len(set(names)) == len(names), f"{module}.__all__ lists a name twice"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names missing attributes: {missing}"
    for name in names:
        assert getattr(mod, name) is not None, f"{module}.{name}"


@pytest.mark.parametrize("module", MODULES)
def test_star_import_works(module: str) -> None:
    namespace: dict = {}
    exec(f"from {module} import *", namespace)  # noqa: S102 -- a fixed module name
    assert set(importlib.import_module(module).__all__) <= set(namespace)
