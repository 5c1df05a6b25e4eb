"""Checkpoint and resume: a run SIGKILLed during a sleep or while awake, resumed, equals an uninterrupted run.

The killed runs are real subprocesses; a tiny driver script patches a hook to ``os.kill(getpid(),
SIGKILL)`` at a chosen moment: inside the second sleep after an optimiser step (experts half
trained in memory), or while awake after the first sleep. The comparison covers everything that is
not wall-clock time: ``R``, ``b``, every step record and response, every probe answer, the sleep
reports' metrics (losses) and the summary. Probe answers change after sleeps even with the random
tiny model, so a resume that lost or replayed training would differ.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.cli import main
from evaluation.experiment import TIMING_KEYS

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
model: tiny
agents: [in-context, sleep]
experiences: 3
facts_per_experience: 3
queries_per_experience: 2
fresh_facts: 2
threads: 1
sleep: {steps: 3, batch_size: 4, replay_per_batch: 1, support: none}
"""

DRIVER = """\
import os, signal, sys
import torch
mode, cfg, out = sys.argv[1:4]
from evaluation.cli import main
from agents import SleepAgent
n = {"opt": 0, "act": 0}
if mode == "sleep":  # inside the 2nd sleep, after its first optimiser step
    step = torch.optim.Adam.step
    def patched(self, *a, **k):
        r = step(self, *a, **k)
        n["opt"] += 1
        if n["opt"] == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return r
    torch.optim.Adam.step = patched
else:  # awake, the 2nd action after the first sleep
    act = SleepAgent.act
    def patched(self, obs):
        if self.sleeps >= 1:
            n["act"] += 1
            if n["act"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        return act(self, obs)
    SleepAgent.act = patched
sys.exit(main(["run", cfg, "--out", out, "--quiet"]))
"""


def _in_process(argv):
    import torch

    threads = torch.get_num_threads()
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = main(argv)
    finally:
        torch.set_num_threads(threads)
    return rc, err.getvalue()


def _comparable(run: Path) -> dict:
    out = {}
    summary = json.loads((run / "summary.json").read_text())
    for name, entry in summary["agents"].items():
        life = json.loads((run / name / "lifetime.json").read_text())
        for rep in life["sleep_reports"]:
            rep.pop("seconds")
        life.pop("sleep_seconds")
        out[name] = {
            "summary": {k: v for k, v in entry.items() if k not in TIMING_KEYS},
            "lifetime": life,
            "R": np.load(run / name / "R.npy").tolist(),
            "steps": (run / name / "steps.jsonl").read_text(),
            "probes": json.loads((run / name / "probes.json").read_text()),
        }
    return out


def _tb(run: Path, agent: str, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / agent / "tb"))
    acc.Reload()
    return [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    cfg = root / "cfg.yaml"
    cfg.write_text(CONFIG)
    (root / "driver.py").write_text(DRIVER)
    rc, err = _in_process(["run", str(cfg), "--out", str(root / "full"), "--quiet"])
    assert rc == 0, err
    killed = {}
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for mode in ("sleep", "wake"):
        proc = subprocess.run([sys.executable, str(root / "driver.py"), mode, str(cfg), str(root / mode)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        killed[mode] = proc.returncode
    return {"root": root, "cfg": cfg, "killed": killed}


@pytest.mark.parametrize("mode", ["sleep", "wake"])
def test_sigkilled_run_resumes_to_the_uninterrupted_result(runs, mode):
    run = runs["root"] / mode
    assert runs["killed"][mode] == -signal.SIGKILL
    assert (run / "in-context" / "lifetime.json").is_file()  # the first agent had finished
    assert not (run / "sleep" / "lifetime.json").exists()
    assert (run / "sleep" / "checkpoint.pt").is_file()  # written at the first wake-up
    rc, err = _in_process(["run", "--resume", str(run), "--quiet"])
    assert rc == 0, err
    full, resumed = _comparable(runs["root"] / "full"), _comparable(run)
    assert resumed == full
    life = full["sleep"]["lifetime"]
    assert life["sleeps"] == 3
    assert life["probe_answers"][0] != life["probe_answers"][-1]  # sleeps changed the answers: a real check
    assert not (run / "sleep" / "checkpoint.pt").exists()  # nothing left to continue
    assert not list((run / "sleep").glob("checkpoint-sleep*.pt"))  # kept copies only with keep_checkpoints
    for tag in ("probe/acc_all", "wake/query_reward", "sleep/model_version", "sleep/optimizer_steps"):
        events = _tb(run, "sleep", tag)
        assert events == _tb(runs["root"] / "full", "sleep", tag), tag  # no duplicate or looping steps
        steps = [s for s, _ in events]
        assert steps == sorted(set(steps)) and steps


def test_resuming_a_finished_run_changes_nothing(runs):
    full = runs["root"] / "full"
    before = (full / "summary.json").read_text()
    rc, err = _in_process(["run", "--resume", str(full), "--quiet"])
    assert rc == 0, err
    assert (full / "summary.json").read_text() == before


def test_bad_run_directories_and_checkpoints_are_clear_errors(runs, tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((runs["root"] / "full" / "config.json").read_text())
    (bad / "sleep").mkdir()
    (bad / "sleep" / "checkpoint.pt").write_bytes(b"\x80\x02 not a checkpoint")
    assert main(["run", "--resume", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint" in err and "corrupt" in err and len(err.strip().splitlines()) == 1
    assert not (bad / "in-context").exists()  # reported before the agent listed first ran again
    assert main(["run", str(runs["cfg"]), "--resume", str(bad)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_existing_run_directory_needs_force(runs, tmp_path, capsys):
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["run", str(runs["cfg"]), "--out", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    cfg = tmp_path / "one.yaml"
    cfg.write_text(CONFIG.replace("agents: [in-context, sleep]", "agents: [in-context]").replace("experiences: 3", "experiences: 1"))
    # --force replaces sleep-env output only: a folder of other files is refused, nothing deleted
    rc, err = _in_process(["run", str(cfg), "--out", str(out), "--quiet", "--force"])
    assert rc == 2 and "was not written by sleep-env" in err
    assert (out / "keep.txt").read_text() == "precious"
    run = tmp_path / "run"
    assert _in_process(["run", str(cfg), "--out", str(run), "--quiet"])[0] == 0
    (run / "stale.txt").write_text("from the old run")
    rc, err = _in_process(["run", str(cfg), "--out", str(run), "--quiet", "--force"])
    assert rc == 0, err
    assert not (run / "stale.txt").exists() and (run / "summary.json").is_file()


@pytest.mark.parametrize("text", ['{"agents": {"sleep": 3}}', '{"agents": [1]}', "not json", '{"agents": {"sleep": {"x": 1}}}'])
def test_a_damaged_summary_is_a_one_line_error_on_resume(runs, tmp_path, capsys, text):
    import shutil

    run = tmp_path / "damaged"
    shutil.copytree(runs["root"] / "full", run)
    (run / "summary.json").write_text(text)
    assert main(["run", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "summary.json is corrupt" in err and len(err.strip().splitlines()) == 1
    assert (run / "summary.json").read_text() == text  # nothing rewritten
