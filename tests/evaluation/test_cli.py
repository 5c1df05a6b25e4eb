"""The ``sleep-env`` CLI: one-line errors with exit status 2, and an end-to-end tiny run.

Every run here uses the random ``tiny`` model with one torch thread (``threads: 1``; subprocesses get
``OMP_NUM_THREADS=1``): on a loaded 2-core machine torch's default thread count made the tiny run
~100x slower (oversubscription), not the model.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.cli import main
from evaluation.config import config_to_dict, load_config
from evaluation.rundir import json_safe

ROOT = Path(__file__).resolve().parents[2]

TINY_YAML = """\
model: tiny
experiences: 2
facts_per_experience: 3
queries_per_experience: 3
fresh_facts: 3
threads: 1
sleep: {steps: 2, batch_size: 4, replay_per_batch: 1, support: none}
"""

METRIC_KEYS = {
    "acc", "bwt", "fwt", "forgetting", "closed_book_final_acc", "sleeps", "seconds_asleep", "in_context_acc_per_sleep",
}  # fmt: skip

# (name, config text or None for a missing file, words the one-line error must contain)
BAD_CONFIGS = [
    ("unknown-key", "model: tiny\nexpriences: 2\n", ["expriences"]),
    ("wrong-type", "model: tiny\nexperiences: many\n", ["experiences", "many"]),
    ("missing-file", None, ["does-not-exist.yaml"]),
]


def _config_path(tmp_path: Path, text: str | None) -> Path:
    path = tmp_path / ("does-not-exist.yaml" if text is None else "cfg.yaml")
    if text is not None:
        path.write_text(text)
    return path


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("PYTHONWARNINGS", None)
    return env


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("name, text, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_config_errors_in_process_are_one_line_and_exit_2(tmp_path, capsys, command, name, text, words) -> None:
    path = _config_path(tmp_path, text)
    out_dir = tmp_path / "run"
    argv = [command, str(path)] + (["--out", str(out_dir), "--quiet"] if command == "run" else [])
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sleep-env: error: ")
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert not out_dir.exists()  # a bad config writes no run directory


@pytest.mark.parametrize("name, text, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_config_errors_as_a_process_are_one_line_on_stderr_and_exit_2(tmp_path, name, text, words) -> None:
    path = _config_path(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation.cli", "run", str(path), "--out", str(tmp_path / "run"), "--quiet"],
        cwd=ROOT, env=_subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sleep-env: error: ")
    for w in words:
        assert w in lines[0], lines[0]
    assert proc.stdout == ""


def test_summary_of_a_directory_without_a_run_is_an_error(tmp_path, capsys) -> None:
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "summary.json" in err


def test_summary_of_an_unfinished_run_points_at_resume(tmp_path, capsys) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has not finished" in err and f"sleep-env run --resume {tmp_path}" in err


def test_summary_accepts_the_summary_file_itself(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"agents": {"sleep": {"acc": 0.5, "sleeps": 2, "seconds_asleep": 1.0}}}))
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("agent") and "sleep" in out
    assert out.splitlines()[2].split()[1:] == ["0.50", "-", "-", "-", "-", "-", "-", "2", "1", "-"]  # keys not in the file show "-", not nan
    assert main(["summary", str(tmp_path)]) == 0  # the run directory still works
    assert capsys.readouterr().out == out


def test_summary_prints_the_dreaming_line_for_agents_that_dreamt(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    agents = {"sleep": {"acc": 0.94, "sleeps": 3, "seconds_asleep": 1698.0, "dream_sleeps": 3,
                        "dream_reward_rate_per_round": [0.83, 0.89, None], "dream_applies_committed": 2,
                        "dream_expected_reward_per_round": [0.5, 0.75, 0.0], "dream_probes_gained": 3.0, "dream_probes_lost": 0.4,
                        "seconds_consolidation": 511.2, "seconds_dreaming": 1187.4},
              "in-context": {"acc": 0.0, "sleeps": 0, "seconds_asleep": 0.0}}
    path.write_text(json.dumps({"agents": agents}))
    assert main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == ("sleep: Dreaming in 3 sleeps, reward rate per ReST-EM round 0.83 / 0.89 / - "
                         "(expected reward 0.50 / 0.75 / 0.00), "
                         "applies kept 2, probes gained / lost by Dreaming 3 / 0.4, seconds consolidation / Dreaming 511 / 1187")
    assert not any(ln.startswith("in-context:") for ln in lines)


def test_summary_prints_odd_values_instead_of_failing(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    agents = {"seal": {"acc": 0.5, "seconds_asleep": None, "in_context_acc_per_sleep": [None, 0.5], "sleeps": 2,
                       "dream_reward_rate_per_round": [], "dream_expected_reward_per_round": 0.5, "seconds_dreaming": 12.4}}
    path.write_text(json.dumps({"agents": agents}))
    assert main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1:] == ["0.50", "-", "-", "-", "-", "-", "-", "2", "-", "-", "0.50"]
    assert lines[-1] == ("seal: Dreaming in - sleeps, reward rate per ReST-EM round - (expected reward 0.50), "
                         "applies kept -, seconds consolidation / Dreaming - / 12")


def test_summary_reads_acc_and_flags_values_that_are_not_numbers(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    agents = {"old": {"closed_book_final_acc": 0.25, "sleeps": 1},  # a summary with only the older key
              "odd": {"acc": "lots", "bwt": True, "sleeps": 2.7}}
    path.write_text(json.dumps({"agents": agents}))
    assert main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[:2] == ["old", "0.25"]
    assert lines[3].split()[:5] == ["odd", "lots", "-", "-", "True"]
    assert lines[4] == "note: not a number (shown as written; was the summary edited?): agents.odd.acc = 'lots', agents.odd.bwt = True"


def test_summary_prints_a_whole_float_count_as_a_count(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"agents": {"a": {"acc": 0.5, "sleeps": 3.0}, "b": {"acc": 0.5, "sleeps": 2.5}}}')
    assert main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[8] == "3" and lines[3].split()[8] == "2.50"


def test_summary_without_agents_says_so(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"agents": {}}')
    assert main(["summary", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("note: the summary lists no agents")


def test_summary_flags_lists_and_dreaming_values_that_are_not_numbers(tmp_path, capsys) -> None:
    path = tmp_path / "summary.json"
    agents = {"s": {"acc": 0.5, "in_context_acc_per_sleep": [1.0, "high"], "dream_reward_rate_per_round": [0.5, None],
                    "dream_sleeps": "three", "seconds_dreaming": 12.0}}
    path.write_text(json.dumps({"agents": agents}))
    assert main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == ("note: not a number (shown as written; was the summary edited?): agents.s.dream_sleeps = 'three', "
                        "agents.s.in_context_acc_per_sleep = [1.0, 'high']")  # a null inside a list is an undefined value


@pytest.mark.parametrize(("text", "needle"), [
    ("", "summary.json is empty; a run writes summary.json when it finishes"),
    ("{not json", "summary.json is not JSON ("),
    ('{"agents": {"x": null}}', "agents.x should be an object of metrics, got None"),
    ('{"agents": [1]}', "expected a JSON object with an 'agents' object, got 'agents' = [1]"),
    ('{"agents": ["sleep"], "cells": [], "executor": "local"}', "it is a compare summary (compare.json)"),  # as compare writes it
    ("[1, 2]", "expected a JSON object with an 'agents' object, got list"),
    ('{"cells": [], "config": {}}', "it is a compare summary (compare.json); its table is compare.csv"),
])
def test_summary_errors_say_what_is_wrong(tmp_path, capsys, text, needle) -> None:
    path = tmp_path / "summary.json"
    path.write_text(text)
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sleep-env: error:") and needle in err and "\n" not in err, err


@pytest.mark.parametrize("text", ["", "\n", "# nothing set yet\n"])
def test_check_on_an_empty_config_says_the_defaults_are_used(tmp_path, capsys, text) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "empty.yaml is empty" in lines[0] and "default config" in lines[0], lines
    assert "model smollm2-135m" in lines[0] and "3 experiences" in lines[0], lines
    assert lines[-1].startswith("ok")


def test_bare_run_says_which_default_config_it_runs(tmp_path, capsys, monkeypatch) -> None:
    import evaluation.experiment

    seen = {}

    def fake_run(cfg, out, **kwargs):  # the real default run would load SmolLM2
        seen["cfg"] = cfg
        return {"agents": {}}

    monkeypatch.setattr(evaluation.experiment, "run_experiment", fake_run)
    assert main(["run", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("no config given: running the default config"), first
    assert "model smollm2-135m" in first and "3 experiences" in first and "in-context, sleep" in first, first
    assert seen["cfg"] == load_config(None)


def test_run_prints_an_undefined_metric_as_summary_does(tmp_path, capsys, monkeypatch) -> None:
    import evaluation.experiment

    summary = {"agents": {"sleep": {"acc": 0.5, "bwt": float("nan"), "sleeps": 1, "in_context_acc_per_sleep": [float("nan")]}}}
    monkeypatch.setattr(evaluation.experiment, "run_experiment", lambda cfg, out, **kw: summary)
    assert main(["run", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("sleep ")]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(json_safe(summary)))  # as run_experiment writes it
    assert main(["summary", str(path)]) == 0
    again = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("sleep ")]
    assert printed == again and printed[0].split()[1:4] == ["0.50", "-", "-"] and printed[0].split()[-1] == "-"


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


# -- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``sleep-env run cfg.yaml --out DIR --quiet`` in-process, once for the module."""
    import torch

    root = tmp_path_factory.mktemp("cli")
    cfg_path = root / "cfg.yaml"
    cfg_path.write_text(TINY_YAML)
    out_dir = root / "run"
    threads = torch.get_num_threads()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = main(["run", str(cfg_path), "--out", str(out_dir), "--quiet"])
    finally:
        torch.set_num_threads(threads)  # the run set 1 thread process-wide (threads: 1)
    return {"rc": rc, "cfg": cfg_path, "out": out_dir, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def test_run_exits_0_and_prints_the_table(tiny_run) -> None:
    assert tiny_run["rc"] == 0, tiny_run["stderr"]
    assert "in-context" in tiny_run["stdout"] and "sleep" in tiny_run["stdout"]
    assert str(tiny_run["out"]) in tiny_run["stdout"]
    assert "[in-context]" not in tiny_run["stderr"]  # --quiet: no progress lines


def test_run_dir_holds_the_resolved_config(tiny_run) -> None:
    saved = json.loads((tiny_run["out"] / "config.json").read_text())
    assert saved == config_to_dict(load_config(tiny_run["cfg"]))
    assert load_config(saved) == load_config(tiny_run["cfg"])


def test_summary_schema(tiny_run) -> None:
    summary = json.loads((tiny_run["out"] / "summary.json").read_text())
    assert set(summary["agents"]) == {"in-context", "sleep"}
    for name, entry in summary["agents"].items():
        assert METRIC_KEYS <= set(entry), (name, sorted(entry))
        for key in ("acc", "bwt", "fwt", "forgetting", "closed_book_final_acc"):
            v = entry[key]
            assert v is None or (isinstance(v, float) and -1.0 <= v <= 1.0), (name, key, v)
        assert isinstance(entry["sleeps"], int)
        assert isinstance(entry["seconds_asleep"], float) and entry["seconds_asleep"] >= 0
        assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in entry["in_context_acc_per_sleep"])
    sleep, ic = summary["agents"]["sleep"], summary["agents"]["in-context"]
    assert sleep["sleeps"] == 2
    assert len(sleep["in_context_acc_per_sleep"]) == 3  # before the first sleep + after each of 2
    assert ic["sleeps"] == 0
    assert ic["seconds_asleep"] == 0.0
    assert len(ic["in_context_acc_per_sleep"]) == 1  # only "before": it never sleeps


@pytest.mark.parametrize("agent, sleeps", [("in-context", 0), ("sleep", 2)])
def test_per_agent_files(tiny_run, agent: str, sleeps: int) -> None:
    adir = tiny_run["out"] / agent
    lines = (adir / "steps.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    # one line per env step: 2 experiences x (3 study + 3 query) items, plus one wake step per sleep
    n_steps = 2 * (3 + 3) + sleeps
    assert len(records) == n_steps
    assert [r["step"] for r in records] == list(range(n_steps))
    assert sum(r["slept"] for r in records) == sleeps
    assert sum(r["kind"] == "sleep" for r in records) == sleeps
    assert sum(r["kind"] == "query" for r in records) == 2 * 3
    lifetime = json.loads((adir / "lifetime.json").read_text())
    assert lifetime["sleeps"] == sleeps and len(lifetime["steps"]) == n_steps
    R = np.load(adir / "R.npy")
    assert R.shape == (2, 2) and R.dtype == np.float64
    assert np.all((R >= 0) & (R <= 1))  # every cell measured (a probe round after each experience)
    assert np.load(adir / "baseline.npy").shape == (2,)


def test_check_on_the_same_config_exits_0(tiny_run, capsys) -> None:
    assert main(["check", str(tiny_run["cfg"])]) == 0
    assert capsys.readouterr().out.startswith("ok")


def test_summary_prints_both_agents(tiny_run, capsys) -> None:
    assert main(["summary", str(tiny_run["out"])]) == 0
    out = capsys.readouterr().out
    assert "in-context" in out and "sleep" in out
    assert out.splitlines()[0].startswith("agent")


def test_bad_out_and_config_paths_give_one_line_errors(tmp_path, capsys):
    from evaluation.cli import main

    a_file = tmp_path / "afile"
    a_file.write_text("x")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: tiny\nexperiences: 1\nfacts_per_experience: 1\nqueries_per_experience: 1\n")
    used = tmp_path / "used"
    used.mkdir()
    (used / "summary.json").write_text("{}")
    for argv, needle in [
        (["run", str(cfg), "--out", str(a_file), "--quiet"], "is a file, not a folder"),
        (["run", str(cfg), "--out", str(used), "--quiet"], "already exists and is not empty"),
        (["check", str(tmp_path)], "is a directory"),
        (["summary", str(used)], "not a summary"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sleep-env: error:") and needle in err and "\n" not in err, err
    assert (used / "summary.json").read_text() == "{}"  # nothing already written is touched


def test_action_without_response_names_the_missing_key():
    import pytest

    from sleep_env import SleepEnv
    from sleep_env.errors import InvalidAction

    env = SleepEnv()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="no 'response' key"):
        env.step({"sleep": 0})


def test_run_given_a_compare_config_points_at_compare(tmp_path, capsys) -> None:
    cfg = ROOT / "examples" / "configs" / "compare_tiny.yaml"
    assert main(["run", str(cfg), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a compare config" in err and "sleep-env compare" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_a_run_that_fails_before_anything_resumable_leaves_no_folder(tmp_path, capsys) -> None:
    cfg = tmp_path / "nomodel.yaml"
    cfg.write_text("model: ./no-such-model-dir\nagents: [in-context]\nexperiences: 1\n")
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "no-such-model-dir" in capsys.readouterr().err
    assert not out.exists()  # so the same command can simply be rerun once the model is there


def test_summary_errors_say_what_the_path_is(tmp_path, capsys) -> None:
    (tmp_path / "odd" / "summary.json").mkdir(parents=True)  # a directory named like the file
    (tmp_path / "empty").mkdir()
    cases = [(tmp_path / "odd" / "summary.json", "is a directory, not a summary file"),
             (tmp_path / "odd", "summary.json is a directory, not a summary file"),  # the message names the inner path
             (tmp_path / "empty", "has no summary.json"), (tmp_path / "missing", "does not exist")]
    if Path("/dev/null").exists():
        cases.append((Path("/dev/null"), "is not a file or a directory"))
    for path, want in cases:
        assert main(["summary", str(path)]) == 2
        sep = "/" if path.name == "odd" else " "
        assert f"{path}{sep}{want}; pass a run directory written by `sleep-env run`" in capsys.readouterr().err


def test_an_interrupted_run_is_marked_incomplete_by_summary_and_report(tiny_run, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run["out"], run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pending"] == [] and set(summary["agents"]) == {"in-context", "sleep"}
    assert main(["summary", str(run)]) == 0 and "INCOMPLETE" not in capsys.readouterr().out
    # as a run killed while its second agent ran leaves it: the first agent's entry, the second pending
    del summary["agents"]["sleep"]
    summary["pending"] = ["sleep"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["summary", str(run)]) == 1
    out = capsys.readouterr().out
    assert "INCOMPLETE: agent(s) sleep" in out and f"sleep-env run --resume {run}" in out
    assert main(["report", str(run)]) == 0
    assert "**INCOMPLETE**: agent(s) sleep" in (run / "report.md").read_text()
    # a summary without the pending key (hand-edited): the config's agent list tells
    del summary["pending"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["summary", str(run / "summary.json")]) == 1


def test_protocol_table_tabulates_run_directories_over_seeds(tiny_run) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("protocol_table", ROOT / "examples" / "protocol_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.table([tiny_run["out"], tiny_run["out"]])
    lines = text.splitlines()
    assert lines[0].startswith("| agent | runs | acc | acc_queried | acc_unqueried | bwt |")
    rows = {ln.split("|")[1].strip(): ln for ln in lines[2:4]}
    assert set(rows) == {"`in-context`", "`sleep`"} and all("| 2 |" in r for r in rows.values())
    summary = json.loads((tiny_run["out"] / "summary.json").read_text())
    acc = summary["agents"]["sleep"]["acc"]
    assert f"| {acc:.2f} [{acc:.2f}, {acc:.2f}] |" in rows["`sleep`"]  # the same run twice: min = max = mean
    with pytest.raises(SystemExit, match="no readable summary.json"):
        mod.table([ROOT / "docs"])


def test_version_and_a_blank_out_dir(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("sleep-env ")
    for cmd in (["run", "--out", ""], ["compare", str(ROOT / "examples" / "configs" / "compare_tiny.yaml"), "--out", " "]):
        assert main(cmd) == 2
        assert "--out must name a directory" in capsys.readouterr().err


def test_quiet_run_prints_no_progress_bars(tmp_path) -> None:
    import subprocess
    import sys

    from agents.models import tiny_model, tiny_tokenizer

    tiny_model().save_pretrained(tmp_path / "m")  # a model loaded from disk: transformers shows a loading bar
    tiny_tokenizer().save_pretrained(tmp_path / "m")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tmp_path / 'm'}\nagents: [in-context]\nexperiences: 1\nfacts_per_experience: 2\n"
                   "queries_per_experience: 1\nfresh_facts: 2\nthreads: 1\n")
    proc = subprocess.run([sys.executable, "-m", "evaluation.cli", "run", str(cfg), "--out", str(tmp_path / "r"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Loading weights" not in proc.stderr and "it/s" not in proc.stderr
