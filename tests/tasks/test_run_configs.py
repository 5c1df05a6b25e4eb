"""`sleep-env run` streams of every family: the example configs, the `stream:` key, a mixed run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.config import config_to_dict, load_config
from evaluation.experiment import build_env_config, run_experiment
from sleep_env import SleepEnv, TaskBoundary
from sleep_env.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
FAMILY_CONFIGS = ["facts", "squad", "intents", "babi", "cipher", "arc", "rg", "mixed"]


def test_a_config_per_family_exists():
    assert {p.stem for p in CONFIGS.glob("*.yaml")} >= set(FAMILY_CONFIGS)


@pytest.mark.parametrize("name", FAMILY_CONFIGS)
def test_example_config_loads_and_builds_its_env(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.model == "tiny" and cfg.stream is not None
    env_cfg = build_env_config(cfg)
    assert isinstance(env_cfg.schedule, TaskBoundary)  # sleep_period 0 with a stream: one sleep per experience
    env = SleepEnv(env_cfg)
    obs, info = env.reset(seed=cfg.seed)
    assert env.observation_space.contains(obs) and info["probe_due"]
    families = {e.task.split(":")[0] for e in cfg.stream.experiences}
    assert families == ({"facts", "babi", "rg", "arc"} if name == "mixed" else {name})
    assert load_config(config_to_dict(cfg)) == cfg  # config.json round trip (resume, compare)


def test_stream_as_a_plain_list():
    cfg = load_config("stream:\n  - {task: babi, n_study: '4', n_query: 2}\n")
    (exp,) = cfg.stream.experiences
    assert (exp.task, exp.n_study, exp.n_query, dict(exp.task_kwargs)) == ("babi", 4, 2, {})
    assert cfg.period == 6


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("stream: [{task: babi, n_study: 4}]", r"stream.experiences\[0\].n_query is missing"),
        ("stream: [{task: babi, n_study: 4, n_query: 1, kwargs: {}}]", r"unknown config key stream.experiences\[0\].kwargs"),
        ("stream: [{task: nope, n_study: 4, n_query: 1}]", r"unknown task name 'nope'"),
        ("stream: [{task: babi, task_kwargs: {n_places: 1}, n_study: 4, n_query: 1}]", "n_places"),
        ("stream: [{task: squad, task_kwargs: {path: /no/such.json}, n_study: 1, n_query: 1}]", "/no/such.json"),
        ("stream: [{task: babi, n_study: 0, n_query: 1}]", "n_study"),
        ("stream: {experiences: []}", "non-empty list"),
        ("stream: {experiences: [{task: babi, n_study: 2, n_query: 1}], n_probe: 3}", "n_probe"),
        ("stream: {experiences: [{task: babi, n_study: 2, n_query: 1}], probes: 3}", r"unknown config key stream.probes"),
        ("stream: [{task: babi, n_study: 2, n_query: 1}]\nfacts_per_experience: 4", "facts_per_experience and stream"),
        ("stream: 3", "stream must be a mapping"),
    ],
)  # fmt: skip
def test_stream_errors_name_the_field(yaml_text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(yaml_text)


def test_default_config_keeps_the_facts_stream():
    cfg = load_config(None)
    assert cfg.stream is None
    stream = cfg.stream_config()
    assert len(stream.experiences) == 3 and {e.task for e in stream.experiences} == {"facts"}


def test_mixed_stream_runs_end_to_end_with_the_tiny_model(tmp_path):
    cfg = load_config(CONFIGS / "mixed.yaml")
    summary = run_experiment(cfg, tmp_path / "run", quiet=True, tensorboard=False)
    assert set(summary["agents"]) == {"in-context", "sleep"}
    assert summary["agents"]["sleep"]["sleeps"] == 4  # one per experience (TaskBoundary)
    for agent in ("in-context", "sleep"):
        R = np.load(tmp_path / "run" / agent / "R.npy")
        assert R.shape == (4, 4) and np.isfinite(np.diag(R)).all()
        steps = [json.loads(line) for line in (tmp_path / "run" / agent / "steps.jsonl").read_text().splitlines()]
        assert len([s for s in steps if s["kind"] in ("study", "query")]) == 6 + 3 + 6 + 3 + 3 + 3 + 2 + 2
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert [e["task"] for e in saved["stream"]["experiences"]] == ["facts", "babi", "rg:basic_arithmetic", "arc"]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_with_its_loader(path):
    # a config the README points at must not be broken by a later change of the config schema
    if path.stem.startswith("dreaming_"):
        from agents.dreaming import DreamingConfig, load_dreaming_config

        assert isinstance(load_dreaming_config(path), DreamingConfig)
    elif path.stem.startswith("compare_"):
        from evaluation.compare import load_compare_config

        assert load_compare_config(path).seeds
    else:
        cfg = load_config(path)
        SleepEnv(build_env_config(cfg)).reset(seed=cfg.seed)
        assert load_config(config_to_dict(cfg)) == cfg
