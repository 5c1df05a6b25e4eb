"""Each example gets a tiny-settings smoke run in a fresh interpreter."""

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


def test_reseed_branches_a_kept_checkpoint(tmp_path) -> None:
    """keep_checkpoints keeps one checkpoint per sleep; reseed.py's 'keep' repeats the lifetime, a seed changes it."""
    import json

    from evaluation.config import load_config
    from evaluation.experiment import run_experiment

    cfg = load_config({"model": "tiny", "agents": ["sleep"], "experiences": 3, "facts_per_experience": 3,
                       "queries_per_experience": 2, "keep_checkpoints": True, "threads": 1,
                       "sleep": {"steps": 4, "batch_size": 4, "replay_per_batch": 1, "support": "none"}})
    run_experiment(cfg, tmp_path / "run", quiet=True, tensorboard=False)
    assert sorted(p.name for p in (tmp_path / "run" / "sleep").glob("checkpoint*.pt")) == [
        "checkpoint-sleep1.pt", "checkpoint-sleep2.pt", "checkpoint-sleep3.pt"]  # the live checkpoint.pt is gone
    proc = _run_example("reseed.py", str(tmp_path / "run"), "--sleep", "1", "--seeds", "keep,0", "--out", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert [b["seed"] for b in out["branches"]] == ["keep", 0] and out["sleep"] == 1

    def losses(run):
        reports = json.loads((run / "sleep" / "lifetime.json").read_text())["sleep_reports"]
        return [r["metrics"]["loss_last"] for r in reports]

    original, keep, other = losses(tmp_path / "run"), losses(tmp_path / "b" / "sleep-keep"), losses(tmp_path / "b" / "sleep-0")
    assert keep == original  # the checkpoint's own generators: the same lifetime
    assert other[0] == original[0] and other[1:] != original[1:]  # sleep 1 is shared, later sleeps draw anew
    refusals = [(("--sleep", "7"), "checkpoint-sleep7.pt does not exist; pick one of the kept sleeps [1, 2, 3]"),
                (("--sleep", "1", "--agent", "seal"), "agent 'seal' is not in this run (agents: ['sleep'])"),
                (("--sleep", "1", "--seeds", "keep,keep"), "--seeds must name distinct seeds"),
                (("--sleep", "0"), "--sleep must be >= 1"),
                (("--sleep", "1", "--seeds", "keep", "--out", str(tmp_path / "b")), "branch folder(s) exist already"),
                (("--sleep", "1", "--seeds", str(2**64)), "an int in [0, 2**32)"),
                (("--sleep", "1", "--out", str(tmp_path / "run" / "x")), "is inside the run being branched")]
    for args, want in refusals:
        proc = _run_example("reseed.py", str(tmp_path / "run"), *args)
        assert proc.returncode == 2 and want in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr[-800:])
    assert (tmp_path / "b" / "sleep-keep" / "summary.json").is_file()  # an existing branch is not touched without --force
    (tmp_path / "run" / "sleep" / "checkpoint-sleep2.pt").write_bytes(b"\x80 truncated")
    proc = _run_example("reseed.py", str(tmp_path / "run"), "--sleep", "2", "--seeds", "keep", "--out", str(tmp_path / "b"), "--force")
    assert proc.returncode == 2 and "is corrupt" in proc.stderr and "another kept sleep ([1, 3])" in proc.stderr, proc.stderr[-800:]
    assert (tmp_path / "b" / "sleep-keep" / "summary.json").is_file()  # checked before --force removes anything


def test_inspect_replay_tiny() -> None:
    import json

    proc = _run_example("inspect_replay.py", "--tiny")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # 3 questions + the cloze prefixes of 4 facts (5- or 6-word lines: 3 or 4 cuts each) and of the
    # feedback answers that word a fact differently ("works as pilot")
    assert summary["sources"]["queries"] == 3 and summary["sources"]["cloze"] >= 12
    assert summary["rows"] == len(proc.stdout.strip().splitlines()) - 1
    assert summary["dropped"] == summary["rows"]  # the random model's answers are never in the memory
