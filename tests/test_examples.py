"""Each example gets a tiny-settings smoke run in a fresh interpreter (STYLE.md §7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_example(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # one torch thread: the tiny model's matmuls crawl when threads oversubscribe a loaded CPU
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_quickstart_tiny() -> None:
    proc = _run_example("quickstart.py", "--tiny")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy matrix" in proc.stdout
    assert "slept" in proc.stdout  # the two-phase sleep happened
    assert "Traceback" not in proc.stderr


def test_custom_agent() -> None:
    proc = _run_example("custom_agent.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    never = next(x for x in lines if x.startswith("Never"))
    fixed = next(x for x in lines if x.startswith("FixedInterval"))
    assert "sleeps=0" in never and "ACC=0.00" in never  # nothing reaches the notebook without sleep
    assert "sleeps=3" in fixed and "ACC=0.58" in fixed and "forgetting=0.62" in fixed  # a full notebook forgets


def test_compare_schedules_tiny() -> None:
    proc = _run_example("compare_schedules.py", "--tiny", timeout=600)  # 8 cells in 2 worker processes
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for label in ("never", "fixed-interval-6", "multi-level-3-6", "memory-pressure-0.8"):
        assert f"\n{label} " in out, out
    assert "95% bootstrap CI" in out and "report.md" in out


def test_dream_trials_tiny() -> None:
    import json

    proc = _run_example("dream_trials.py", "--tiny", "--dreams", "2", "--lrs", "1e-3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["dreams"] == 2 and [(r["answers"], r["lr"]) for r in out["runs"]] == [("dream", 1e-3), ("grounded", 1e-3), ("teacher", 1e-3)]
    assert out["tau0"] < 0 and 0.0 <= out["probe_acc0"] <= 1.0
    assert "trials raise tau" in proc.stdout
