"""The ``schedule:`` key of run configs and ``sleep-env check`` on every schedule (issue 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.config import ConfigError, load_config
from evaluation.experiment import build_env_config
from sleep_env import FixedInterval, MultiLevel, TaskBoundary, make_schedule

SCHEDULES = [
    "schedule: never",
    "schedule: task-boundary",
    "schedule: {name: fixed-interval, period: 6}",
    "schedule: {name: multi-level, periods: [4, 8]}",
    "schedule: {name: memory-pressure, threshold: 0.5}",
    "schedule: {name: agent-choice, min_gap: 3, max_sleeps: 2}",
]
SMALL = "experiences: 2\nfacts_per_experience: 3\nqueries_per_experience: 1\n"


def test_default_schedule_is_fixed_interval_of_one_experience() -> None:
    cfg = load_config(SMALL)
    assert cfg.schedule is None
    assert build_env_config(cfg).schedule == FixedInterval(period=4)


def test_schedule_mapping_builds_that_schedule() -> None:
    cfg = load_config("schedule: {name: multi-level, periods: [12, 24]}")
    assert cfg.schedule == {"name": "multi-level", "periods": [12, 24]}
    assert build_env_config(cfg).schedule == MultiLevel(periods=(12, 24))
    assert build_env_config(load_config("schedule: TaskBoundary")).schedule == TaskBoundary()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("schedule: nevr", ["unknown schedule name 'nevr'", "did you mean 'never'", "fixed-interval"]),
        ("schedule: {name: fixed-interval, period: -3}", ["period must be an integer >= 1", "-3", "pass e.g."]),
        ("schedule: {name: fixed-interval}", ["missing parameter(s) ['period']", "period: 24"]),
        ("schedule: {name: never, period: 3}", ["unknown parameter(s) ['period']", "no parameters"]),
        ("schedule: {period: 3}", ["'name' key"]),
        ("schedule: 3", ["schedule must be a schedule name or a mapping", "got 3"]),
        ("schedule: {name: multi-level, periods: [8, 4]}", ["strictly increasing"]),
        ("sleep_period: 5\nschedule: never", ["sleep_period=5", "both set", "drop it"]),
    ],
)
def test_bad_schedules_are_config_errors_naming_value_and_fix(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(text)
    for w in words:
        assert w in str(err.value)


def test_make_schedule_round_trips_every_schedule() -> None:
    from sleep_env.schedules import schedule_names, schedule_to_dict

    for text in SCHEDULES:
        schedule = build_env_config(load_config(text)).schedule
        assert make_schedule(schedule_to_dict(schedule)) == schedule
    assert len(schedule_names()) == 6


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_sleep_env_check_passes_for_every_schedule(tmp_path: Path, capsys, schedule: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL + schedule + "\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith("ok:")


def test_sleep_env_check_with_an_unknown_schedule_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("schedule: {name: fixd-interval, period: 3}\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'fixed-interval'" in err


def test_model_must_be_a_preset_or_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model 'smollm3' is not a preset.*e.g. ./smollm3"):
        load_config("model: smollm3")
    assert load_config({"model": str(tmp_path)}).model == str(tmp_path)  # a path: checked at load time
    assert load_config("model: ~/models/m").model == "~/models/m"


def test_model_presets_agree_with_load_model() -> None:
    from agents import models
    from evaluation.config import MODEL_PRESETS

    for name in MODEL_PRESETS:  # every preset is a name load_model branches on
        assert f'"{name}"' in open(models.__file__).read() or name in (models.SMOLLM2, models.TINY, models.GEMMA3)
    assert {models.SMOLLM2, models.TINY, models.GEMMA3} <= set(MODEL_PRESETS)


def test_dreaming_key_is_validated_against_dreaming_config() -> None:
    assert load_config("dreaming: {dreams: 2, top_k: 1}").dreaming == {"dreams": 2, "top_k": 1}
    assert load_config("agents: [seal]").dreaming is None
    with pytest.raises(ConfigError, match=r"unknown dreaming key\(s\) \['drems'\].*dreams"):
        load_config("dreaming: {drems: 3}")
    with pytest.raises(ConfigError, match=r"dreaming\.dreams must be"):
        load_config("dreaming: {dreams: -1}")
    with pytest.raises(ConfigError, match="dreaming must be a mapping"):
        load_config("dreaming: 3")
    with pytest.raises(ConfigError, match=r"dreaming: configures the sleep and seal agents, but agents is \['sft'\]"):
        load_config("agents: [sft]\ndreaming: {}")
    with pytest.raises(ConfigError, match="did you mean 'sleep'"):  # a misspelt agent is named first
        load_config("agents: [Sleep]\ndreaming: {}")


def test_run_with_dreaming_and_the_seal_agent(tmp_path: Path, capsys, monkeypatch) -> None:
    import json

    # the tiny random model never writes a parseable dream: every dream reads as one statement row
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Recall what you know.\nAnswer:", "a fact")])

    cfg = tmp_path / "d.yaml"
    cfg.write_text(
        "model: tiny\nagents: [sleep, seal]\nexperiences: 2\nfacts_per_experience: 3\nqueries_per_experience: 3\n"
        "threads: 1\nsleep: {steps: 2, batch_size: 4, replay_per_batch: 1, support: none}\n"
        "dreaming: {dreams: 2, top_k: 1, random_extra: 0, rounds: 1, grounding: none}\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", "--no-tensorboard"]) == 0
    def strict(text):  # the run directory is strict JSON: nan is written as null
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in a run file"))

    def reports(agent):
        for line in (tmp_path / "run" / agent / "steps.jsonl").read_text().splitlines():
            strict(line)
        return strict((tmp_path / "run" / agent / "lifetime.json").read_text())["sleep_reports"]

    assert [r["metrics"]["dream_sampled"] for r in reports("seal")] == [2, 2]
    sleep = reports("sleep")  # Dreaming follows a committed consolidation only (the tiny model's 2nd is rolled back)
    assert sleep[0]["committed"] and sleep[0]["metrics"]["dream_sampled"] == 2
    assert all(("dream_sampled" in r["metrics"]) == r["committed"] for r in sleep)
    assert sleep[0]["metrics"]["dream_retention"] is None  # nan (no earlier sleep to guard) -> null
    # the summary splits the sleeps' wall-clock time into consolidation and Dreaming
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())["agents"]["sleep"]
    for part in ("consolidation", "dreaming"):
        assert summary[f"seconds_{part}"] == pytest.approx(sum(r["metrics"][f"seconds_{part}"] for r in sleep))
    assert summary["seconds_dreaming"] > 0 and summary["seconds_consolidation"] + summary["seconds_dreaming"] <= summary["seconds_asleep"]
    # and reports the reward rate per ReST-EM round, averaged over the sleeps that dreamt
    dreamt = [r["metrics"] for r in sleep if "dream_reward_rate_r0" in r["metrics"]]
    assert summary["dream_sleeps"] == len(dreamt) >= 1
    assert summary["dream_reward_rate_per_round"] == pytest.approx([sum(m["dream_reward_rate_r0"] for m in dreamt) / len(dreamt)])
    assert summary["dream_expected_reward_per_round"] == pytest.approx([sum(m["dream_expected_reward_r0"] for m in dreamt) / len(dreamt)])
    assert 0.0 <= summary["dream_yield_rate_per_round"][0] <= 1.0
    assert summary["dream_applies_committed"] == sum(int(m["dream_committed"]) for m in dreamt)
    # the paired measurement around each Dreaming run (probes answered just before and after it)
    for k in ("gained", "lost"):
        assert all(m[f"eval_dream_probes_{k}"] >= 0 for m in dreamt)
        assert summary[f"dream_probes_{k}"] == pytest.approx(sum(m[f"eval_dream_probes_{k}"] for m in dreamt))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["agents"]["seal"]["dream_sleeps"] == 2


def test_review_errors_name_value_and_fix(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'sleep' for 'sleeep'"):
        load_config("agents: [sleeep]")
    with pytest.raises(ConfigError, match="experiences must be >= 1, got 0; write e.g. experiences: 3"):
        load_config("experiences: 0")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: tiny\nseeds: [0]\nschedules: [never]\n")
    assert main(["compare", str(cfg), "--workers", "-2", "--out", str(tmp_path / "c")]) == 2
    assert "--workers must be >= 0" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", "--quiet", "--out", str(afile), "--force"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "--force never deletes files" in err and afile.read_text() == "x"


@pytest.mark.parametrize("spec", ["fixd", {"name": "fixed-interval", "period": True}, "fixed-interval", 3])
def test_make_schedule_errors_are_config_errors(spec) -> None:
    from sleep_env.errors import SleepEnvError

    with pytest.raises(SleepEnvError) as err:  # also a ValueError (ConfigError is both)
        make_schedule(spec)
    assert isinstance(err.value, ValueError) and "schedule" in str(err.value)


@pytest.mark.parametrize("extra", ["seed: 3", "schedule: never", "sleep_period: 6"])
def test_compare_config_refuses_a_single_value_beside_its_grid(extra: str) -> None:
    import yaml

    from evaluation.compare import load_compare_config

    data = yaml.safe_load(f"model: tiny\nseeds: [0, 1]\nschedules: [never]\n{extra}\n")
    with pytest.raises(ConfigError, match="compare config has both"):
        load_compare_config(data)


def test_check_accepts_compare_configs_and_run_config_errors_stay_clear(tmp_path: Path, capsys) -> None:
    assert main(["check", str(ROOT / "examples" / "configs" / "compare_tiny.yaml")]) == 0
    assert "under all 4 schedules" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"agents must be distinct.*\['sleep'\] repeated"):
        load_config("agents: [sleep, sleep]")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", "--quiet", "--out", str(afile / "sub")]) == 2
    assert "cannot create run directory" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[2]
