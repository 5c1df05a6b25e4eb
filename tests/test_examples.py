"""Each example gets a tiny-settings smoke run in a fresh interpreter (STYLE.md §7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_example(script: str, *args: str) -> subprocess.CompletedProcess:
    # one torch thread: the tiny model's matmuls crawl when threads oversubscribe a loaded CPU
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_quickstart_tiny() -> None:
    proc = _run_example("quickstart.py", "--tiny")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy matrix" in proc.stdout
    assert "slept" in proc.stdout  # the two-phase sleep happened
    assert "Traceback" not in proc.stderr
