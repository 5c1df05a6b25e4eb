"""``sleep-env compare``: the tiny grid {Never, FixedInterval, MultiLevel, MemoryPressure} x 3 seeds.

Checks the printed table and its CIs, the CSV/JSON, identical streams per seed, one TensorBoard
directory per cell read back with TensorBoard's EventAccumulator, the plots and the report, retries
of failed cells, bad configs, and that Ray on a local instance gives the same table as local processes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from evaluation.cli import main
from evaluation.compare import compare, load_compare_config
from evaluation.metrics import bootstrap_ci
from sleep_env.errors import ConfigError, SleepEnvError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "configs" / "compare_tiny.yaml"
LABELS = ["never", "fixed-interval-6", "multi-level-3-6", "memory-pressure-0.8"]


def _cli(argv):
    import torch

    threads = torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    finally:
        torch.set_num_threads(threads)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "grid"
    rc, stdout, stderr = _cli(["compare", str(CONFIG), "--out", str(out), "--quiet", "--workers", "2"])
    assert rc == 0, stderr
    return {"out": out, "stdout": stdout, "result": json.loads((out / "compare.json").read_text())}


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "sleep" / "steps.jsonl").read_text().splitlines()]


def test_table_is_printed_with_confidence_intervals(grid):
    lines = grid["stdout"].splitlines()
    assert lines[0].split()[:4] == ["schedule", "agent", "seeds", "acc"]
    for label in LABELS:
        row = next(x for x in lines if x.startswith(label + " "))
        assert re.search(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", row), row
    assert "95% bootstrap CI" in grid["stdout"]


def test_cells_and_aggregates(grid):
    res = grid["result"]
    assert len(res["cells"]) == 4 * 3 and all(c["status"] == "ok" and c["attempts"] == 1 for c in res["cells"])
    table = {r["schedule"]: r for r in res["table"]}
    assert list(table) == LABELS
    assert table["never"]["sleeps"]["mean"] == 0  # never sleeps
    assert table["fixed-interval-6"]["sleeps"]["mean"] == 2  # 12 items, period 6
    assert table["multi-level-3-6"]["sleeps"]["mean"] == 4  # C1 = 3
    for label in LABELS:
        cells = [c for c in res["cells"] if c["schedule"] == label]
        assert sorted(c["seed"] for c in cells) == [0, 1, 2]
        for m in ("sleeps", "acc", "availability"):
            vals = [c["metrics"][m] for c in cells]
            assert table[label][m]["mean"] == pytest.approx(np.mean(vals))
            lo, hi = bootstrap_ci(vals)[1:]
            assert (table[label][m]["lo"], table[label][m]["hi"]) == pytest.approx((lo, hi))
    mp = [c["metrics"]["sleeps"] for c in res["cells"] if c["schedule"] == "memory-pressure-0.8"]
    assert len(set(mp)) > 1  # the seeds differ here, so this CI is a real interval
    assert table["memory-pressure-0.8"]["sleeps"]["lo"] < table["memory-pressure-0.8"]["sleeps"]["hi"]


def test_csv_matches_json(grid):
    rows = list(csv.DictReader((grid["out"] / "compare.csv").open()))
    assert [r["schedule"] for r in rows] == LABELS
    for r, t in zip(rows, grid["result"]["table"]):
        assert float(r["sleeps_mean"]) == pytest.approx(t["sleeps"]["mean"])
        assert float(r["acc_hi"]) == pytest.approx(t["acc"]["hi"])
        assert int(r["n"]) == 3 and int(r["failed"]) == 0


def test_every_cell_with_the_same_seed_sees_the_same_stream(grid):
    def stream(rd):
        return [(r["kind"], r["prompt"], r["answer"]) for r in _records(Path(rd)) if r["kind"] != "sleep"]

    by_seed: dict[int, list] = {}
    for c in grid["result"]["cells"]:
        by_seed.setdefault(c["seed"], []).append(stream(grid["out"] / c["run_dir"]))
    for seed, streams in by_seed.items():
        assert len(streams) == 4 and all(s == streams[0] for s in streams), seed
        assert len(streams[0]) == 12
    assert by_seed[0][0] != by_seed[1][0]


def test_tensorboard_events_per_cell_on_one_increasing_global_step(grid):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dirs = set()
    for c in grid["result"]["cells"]:
        tb = grid["out"] / c["run_dir"] / "sleep" / "tb"
        dirs.add(tb)
        acc = EventAccumulator(str(tb))
        acc.Reload()
        recs = _records(grid["out"] / c["run_dir"])
        probe_steps = [e.step for e in acc.Scalars("probe/acc_all")]
        assert probe_steps[0] == 0 and probe_steps == sorted(set(probe_steps)) and len(probe_steps) == 3
        q_steps = [e.step for e in acc.Scalars("wake/query_reward")]
        assert q_steps == [r["step"] + 1 for r in recs if r["kind"] == "query"]
        wake_steps = [r["step"] + 1 for r in recs if r["kind"] == "sleep"]
        if wake_steps:
            assert [e.step for e in acc.Scalars("sleep/model_version")] == wake_steps
            assert [e.value for e in acc.Scalars("sleep/model_version")] == list(range(1, len(wake_steps) + 1))
        else:
            assert "sleep/model_version" not in acc.Tags()["scalars"]
    assert len(dirs) == 12


def test_plots_and_report(grid):
    out = grid["out"]
    report = (out / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert "plots/comparison.png" in images and len(images) == 1 + 2 * 4
    for img in images:
        assert (out / img).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # `sleep-env report` on one cell's run directory
    cell = grid["out"] / grid["result"]["cells"][3]["run_dir"]
    rc, stdout, stderr = _cli(["report", str(cell)])
    assert rc == 0, stderr
    text = (cell / "report.md").read_text()
    assert "| sleep |" in text and "plots/sleep_lifetime.png" in text and (cell / "plots" / "sleep_R.png").is_file()


def test_existing_compare_directory_is_refused(grid, capsys):
    assert main(["compare", str(CONFIG), "--out", str(grid["out"]), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("text, words", [
    ("model: tiny\nschedules: []\n", ["schedules", "non-empty"]),
    ("model: tiny\n", ["schedules"]),
    ("model: tiny\nseeds: []\nschedules: [never]\n", ["seeds"]),
    ("model: tiny\nschedules: [never, {name: fixed-interval, period: 0}]\n", ["schedules[1]", "period"]),
    ("model: tiny\nschedules: [never, never]\n", ["unique"]),
    ("model: tiny\nexpriences: 2\nschedules: [never]\n", ["expriences"]),
])  # fmt: skip
def test_bad_compare_configs(tmp_path, capsys, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_compare_config(path)
    for w in words:
        assert w in str(exc.value)
    assert main(["compare", str(path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def _flaky(monkeypatch):
    here = str(Path(__file__).parent)
    monkeypatch.syspath_prepend(here)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, str(ROOT), os.environ.get("PYTHONPATH", "")]))
    import _flaky_cell

    return _flaky_cell


def test_failed_cells_are_retried_once_and_reported(tmp_path, monkeypatch):
    flaky = _flaky(monkeypatch)
    cfg = load_compare_config({"model": "tiny", "agents": ["sleep"], "seeds": [0, 1],
                               "schedules": ["never", {"name": "never", "label": "broken"}]})
    res = compare(cfg, tmp_path / "o", workers=2, quiet=True, report=False, cell_fn=flaky.cell)
    ok = [c for c in res["cells"] if c["schedule"] == "never"]
    bad = [c for c in res["cells"] if c["schedule"] == "broken"]
    assert all(c["status"] == "ok" and c["attempts"] == 2 for c in ok)  # failed once, retried, succeeded
    assert all(c["status"] == "failed" and c["attempts"] == 2 and "always fails" in c["error"] for c in bad)
    rows = {r["schedule"]: r for r in res["table"]}
    assert rows["never"]["n"] == 2 and rows["never"]["acc"]["mean"] == pytest.approx(0.55)
    assert rows["broken"]["n"] == 0 and rows["broken"]["failed"] == 2 and np.isnan(rows["broken"]["acc"]["mean"])
    saved = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert [c["status"] for c in saved["cells"]].count("failed") == 2  # never silently dropped


def test_a_dead_worker_process_is_retried(tmp_path, monkeypatch):
    flaky = _flaky(monkeypatch)
    cfg = load_compare_config({"model": "tiny", "agents": ["sleep"], "seeds": [0], "schedules": ["never"]})
    res = compare(cfg, tmp_path / "o", workers=1, quiet=True, report=False, cell_fn=flaky.crash)
    assert res["cells"][0]["status"] == "ok" and res["cells"][0]["attempts"] == 2


def test_unknown_executor(tmp_path):
    cfg = load_compare_config({"model": "tiny", "schedules": ["never"]})
    with pytest.raises(SleepEnvError, match="executor"):
        compare(cfg, tmp_path / "o", executor="dask")


@pytest.mark.slow  # starts a local Ray instance: ~25 s on an idle 2-core machine, minutes on a loaded one
def test_ray_gives_the_same_table_as_local_processes(grid, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    rc, stdout, stderr = _cli(["compare", str(CONFIG), "--out", str(out), "--quiet", "--executor", "ray", "--workers", "2"])
    assert rc == 0, stderr
    ray_res = json.loads((out / "compare.json").read_text())
    assert ray_res["executor"] == "ray" and grid["result"]["executor"] == "local"

    def strip(table):  # wall-clock time differs between any two runs
        return [{k: v for k, v in r.items() if k != "seconds_asleep"} for r in table]

    assert strip(ray_res["table"]) == strip(grid["result"]["table"])
    assert [c["metrics"]["lca"] for c in ray_res["cells"]] == [c["metrics"]["lca"] for c in grid["result"]["cells"]]


def test_table_footer_shows_the_interval_only_with_several_seeds():
    from evaluation.compare import aggregate, format_table

    def cells(seeds):
        return [{"schedule": "s", "agent": "sleep", "seed": k, "status": "ok", "metrics": {"acc": 0.5 + 0.1 * k}} for k in seeds]

    one = format_table({"table": aggregate(cells([0]), ["s"], ["sleep"])}, metrics=("acc",))
    assert one.splitlines()[2].split()[:4] == ["s", "sleep", "1", "0.50"] and "[" not in one.splitlines()[2]
    assert one.splitlines()[-1] == "one seed per cell: values, no confidence interval (add seeds: [0, 1, 2] for one)"
    three = format_table({"table": aggregate(cells([0, 1, 2]), ["s"], ["sleep"])}, metrics=("acc",))
    assert three.splitlines()[2].split()[3] == "0.60" and three.splitlines()[-1] == "mean [95% bootstrap CI] over seeds"


def test_a_bare_dreaming_key_in_a_compare_config_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny\nagents: [sleep]\nseeds: [0]\nschedules: [never]\ndreaming:\n")
    with pytest.raises(ConfigError, match=r"dreaming: is empty; write `dreaming: \{\}`"):
        load_compare_config(path)
    path.write_text("model: tiny\nagents: [sleep]\nseeds: [0]\nschedules: [never]\ndreaming: null\n")
    assert load_compare_config(path).base.dreaming is None
