"""The protocol that cannot be passed by learning the quiz: every studied item probed, a seeded subset
asked by day, probe phrasings never shown by day, and the queried / never-queried split of the probes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from evaluation.metrics import split_accuracy
from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, SleepEnv, StreamConfig
from sleep_env.stream import build_stream, make_tasks, probe_leakage

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


def _env(n_study: int = 12, n_query: int = 3, n_exp: int = 2) -> SleepEnv:
    exp = ExperienceConfig(task="facts", n_study=n_study, n_query=n_query)
    return SleepEnv(EnvConfig(stream=StreamConfig(experiences=(exp,) * n_exp), schedule=FixedInterval(period=n_study + n_query)))


@pytest.mark.parametrize("n_query", [0, 1, 3, 12])
def test_every_studied_item_is_probed_and_exactly_the_asked_ones_are_marked_queried(n_query: int) -> None:
    env = _env(n_query=n_query)
    env.reset(seed=5)
    stream = env.unwrapped._ep.stream
    queried = env.probe_queried
    assert queried.shape == (24,) and queried.dtype == bool  # 2 experiences x 12 facts, all probed
    for j in range(2):
        asked = {it.problem.idx for it in stream.items if it.kind == "query" and it.experience == j}
        probed = [p.idx for p in stream.probes[j]]
        assert sorted(probed) == list(range(12))
        assert [idx in asked for idx in probed] == list(queried[12 * j : 12 * (j + 1)])
        assert len(asked) == n_query  # a seeded subset without repeats (n_query <= n_study)


def test_the_queried_subset_is_seeded_and_differs_between_seeds() -> None:
    env = _env()
    env.reset(seed=1)
    a = env.probe_queried
    env.reset(seed=1)
    assert np.array_equal(a, env.probe_queried)
    env.reset(seed=2)
    assert not np.array_equal(a, env.probe_queried)


@pytest.mark.parametrize("n_query", [0, 3, 12])
def test_facts_probes_are_never_a_phrasing_shown_by_day(n_query: int) -> None:
    for seed in range(5):
        env = _env(n_query=n_query, n_exp=3)
        env.reset(seed=seed)
        stream = env.unwrapped._ep.stream
        assert probe_leakage(stream) == 0.0
        shown = {it.text for it in stream.items}
        assert not shown & set(env.probe_prompts().prompts)


@pytest.mark.parametrize("name", ["facts.yaml", "squad.yaml", "babi.yaml", "cipher.yaml", "intents.yaml", "mixed.yaml"])
def test_shipped_stream_configs_do_not_leak_probes(name: str) -> None:
    from evaluation.config import load_config
    from evaluation.experiment import build_env_config

    cfg = load_config(yaml.safe_load((CONFIGS / name).read_text()))
    stream_cfg = build_env_config(cfg).stream
    for seed in (0, 1):
        assert probe_leakage(build_stream(stream_cfg, seed, make_tasks(stream_cfg))) == 0.0, (name, seed)


def test_leakage_counts_a_probe_equal_to_a_day_text_up_to_case_and_punctuation() -> None:
    import dataclasses

    cfg = StreamConfig(experiences=(ExperienceConfig(task="facts", n_study=4, n_query=4),))
    stream = build_stream(cfg, 0, make_tasks(cfg))
    leaky = dataclasses.replace(stream.probes[0][1], prompt=stream.items[5].text.upper() + " ")  # a query, shouted
    stream = dataclasses.replace(stream, probes=((stream.probes[0][0], leaky, *stream.probes[0][2:]),))
    assert probe_leakage(stream) == 0.25


def test_last_probe_scores_are_the_submitted_round_per_probe_and_reset_clears_them() -> None:
    env = _env(n_study=3, n_query=1, n_exp=2)
    env.reset(seed=0)
    assert env.last_probe_scores.shape == (0,)
    stream = env.unwrapped._ep.stream
    gold = [p.answer for ps in stream.probes for p in ps]
    answers = [gold[0], "", gold[2], "", "", gold[5]]
    env.submit_probes(answers)
    assert list(env.last_probe_scores) == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert list(env.baseline) == pytest.approx([2 / 3, 1 / 3])
    env.reset(seed=0)
    assert env.last_probe_scores.shape == (0,)


def test_split_accuracy_reads_the_right_columns_of_a_round() -> None:
    env = _env(n_study=4, n_query=1, n_exp=2)
    env.reset(seed=3)
    stream = env.unwrapped._ep.stream
    queried = env.probe_queried
    gold = [p.answer for ps in stream.probes for p in ps]
    env.submit_probes([g if q else "" for g, q in zip(gold, queried)])  # an agent that learnt only the quiz
    assert split_accuracy(env.last_probe_scores, queried) == (1.0, 0.0)
    env.reset(seed=3)
    env.submit_probes(["" if q else g for g, q in zip(gold, queried)])  # one that learnt everything else
    assert split_accuracy(env.last_probe_scores, queried) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("scores", "queried", "expected"),
    [([1.0, 0.0, 0.0, 1.0], [True, True, False, False], (0.5, 0.5)), ([0.2, 0.4], [False, False], (None, 0.3)),
     ([], [], (None, None))],
)
def test_split_accuracy_values(scores, queried, expected) -> None:
    got = split_accuracy(scores, queried)
    for g, e in zip(got, expected):
        assert (np.isnan(g) if e is None else g == pytest.approx(e))


def test_split_accuracy_refuses_misaligned_inputs() -> None:
    with pytest.raises(ValueError, match="one length"):
        split_accuracy([1.0, 0.0], [True])
