"""Layering: the env core, the tasks and the metrics never load torch (STYLE.md §1).

Each import runs in a fresh interpreter so that modules loaded by other tests cannot hide a leak.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "vllm", "trl", "peft")


def _loaded_after(module: str) -> list[str]:
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.strip().split(",") if m]


@pytest.mark.parametrize("module", ["sleep_env", "tasks", "evaluation.metrics"])
def test_import_does_not_load_torch(module: str) -> None:
    assert _loaded_after(module) == []


def test_sleep_env_source_never_imports_model_libraries() -> None:
    from pathlib import Path

    import sleep_env

    root = Path(sleep_env.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for name in HEAVY:
            assert f"import {name}" not in text and f"from {name}" not in text, (
                f"{path.name} imports {name}"
            )
