"""Stream construction from tasks (sleep_env.stream): seeding, supersession, charsets, every family in the env."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sleep_env import EnvConfig, ExperienceConfig, SleepEnv, StreamConfig, TaskBoundary, check_sleep_env
from sleep_env.errors import ConfigError
from sleep_env.stream import build_stream, make_tasks, stream_charset, task_seed
from tasks import Problem, Task, make_task, register
from tasks import registry as registry_module
from tasks.base import TEXT_CHARSET

MIXED = StreamConfig(experiences=(
    ExperienceConfig(task="facts", task_kwargs={"updates": 0.3}, n_study=6, n_query=3),
    ExperienceConfig(task="babi", task_kwargs={"filler": 200}, n_study=6, n_query=3),
    ExperienceConfig(task="rg:basic_arithmetic", n_study=3, n_query=3),
    ExperienceConfig(task="arc", task_kwargs={"max_chars": 1200}, n_study=2, n_query=2),
))  # fmt: skip


def _build(config: StreamConfig, seed: int):
    return build_stream(config, seed, make_tasks(config))


def test_items_are_seeded_per_seed_experience_and_item():
    config = StreamConfig(experiences=(ExperienceConfig(task="cipher", n_study=4, n_query=2),) * 3)
    stream = _build(config, 5)
    task = make_task("cipher")
    study = [it for it in stream.items if it.kind == "study"]
    for it in study:
        i = it.problem.idx
        assert it.problem == task.problem(task_seed(5, it.experience), i)
    languages = {it.problem.metadata["language"] for it in study}
    assert len(languages) == 3, "one language per experience"
    again = _build(config, 5)
    assert again.items == stream.items and again.probes == stream.probes
    assert _build(config, 6).items != stream.items


def test_queries_and_probes_expect_the_newest_value():
    config = StreamConfig(experiences=(
        ExperienceConfig(task="facts", task_kwargs={"updates": 0.5}, n_study=20, n_query=40),
        ExperienceConfig(task="babi", n_study=30, n_query=20),
    ))  # fmt: skip
    stream = _build(config, 0)
    for j in range(2):
        newest: dict[str, str] = {}
        for it in stream.items:
            if it.experience == j and it.kind == "study":
                newest[it.problem.metadata["key"]] = it.problem.answer
        asked = [it.problem for it in stream.items if it.experience == j and it.kind == "query"]
        assert asked and all(p.answer == newest[p.metadata["key"]] for p in asked)
        assert {p.metadata["key"] for p in stream.probes[j]} == set(newest)  # one probe per key
        assert all(p.answer == newest[p.metadata["key"]] for p in stream.probes[j])
    superseded = 20 - len(stream.probes[0])
    assert superseded > 0, "the facts experience has updates"


def test_streams_without_keys_are_unchanged():
    config = StreamConfig(experiences=(ExperienceConfig(task="cipher", n_study=5, n_query=7),))
    stream = _build(config, 3)
    order = [it.problem.idx for it in stream.items if it.kind == "query"]
    rng = np.random.default_rng([3, 0, 1])
    expected = [int(i) for i in rng.permutation(5)] + [int(i) for i in rng.permutation(5)][:2]
    assert order == expected and len(stream.probes[0]) == 5


def test_stream_charset_is_derived_from_the_tasks(tmp_path):
    data = {"data": [{"paragraphs": [{"context": "Zoë lives in Gävle.", "qas": [
        {"id": "1", "question": "Where does Zoë live?", "answers": [{"text": "Gävle", "answer_start": 13}]}]}]}]}  # fmt: skip
    path = tmp_path / "u.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    config = StreamConfig(experiences=(
        ExperienceConfig(task="facts", n_study=3, n_query=1),
        ExperienceConfig(task="squad", task_kwargs={"path": str(path)}, n_study=1, n_query=1),
    ))  # fmt: skip
    tasks = make_tasks(config)
    assert stream_charset(tasks) - TEXT_CHARSET == {"ë", "ä"}
    env = SleepEnv(EnvConfig(stream=config))
    assert {"ë", "ä"} <= set(env.observation_space["prompt"].character_set)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


class _Liar(Task):
    """Declares ASCII but writes a non-ASCII character into item 2's study text."""

    name = "liar"

    def problem(self, seed, idx):
        context = "caf\u00e9 item" if idx == 2 else "plain item"
        return Problem(task=self.name, idx=idx, prompt="Question: x?\nAnswer:", answer="x", context=context)

    def score(self, problem, response):
        return 0.0


def test_character_outside_the_declared_charset_is_an_error_at_construction(monkeypatch):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    register("liar", _Liar)
    config = StreamConfig(experiences=(ExperienceConfig(task="liar", n_study=4, n_query=1),))
    with pytest.raises(ConfigError, match=r"item 2 \(study, experience 0, task 'liar'\).*declared charset.*U\+00E9"):
        SleepEnv(EnvConfig(stream=config))
    SleepEnv(EnvConfig(stream=config, extra_chars="\u00e9")).reset(seed=0)  # declared by the env config
    ok = StreamConfig(experiences=(ExperienceConfig(task="liar", n_study=2, n_query=1),))
    SleepEnv(EnvConfig(stream=ok)).reset(seed=0)


def test_mixed_stream_passes_the_env_checker():
    env = SleepEnv(EnvConfig(stream=MIXED, schedule=TaskBoundary(), context_chars=3000))
    check_sleep_env(env)


@pytest.mark.parametrize("task", ["squad", "intents", "cipher"])
def test_each_family_passes_the_env_checker(task):
    config = StreamConfig(experiences=(ExperienceConfig(task=task, n_study=3, n_query=2),) * 2)
    check_sleep_env(SleepEnv(EnvConfig(stream=config, schedule=TaskBoundary())))


def test_per_seed_memos_are_bounded_and_rebuild_identically() -> None:
    from tasks import make_task

    for name, kwargs in (("facts", {"updates": 0.4}), ("babi", {})):
        task = make_task(name, **kwargs)
        first = [task.problem(0, i) for i in range(30)]
        for seed in range(1, 40):  # more seeds than the memo keeps
            task.problem(seed, 5)
        memo = task._items if name == "facts" else task._events
        assert len(memo) <= memo.max_seeds and 0 not in memo
        assert [task.problem(0, i) for i in range(30)] == first  # rebuilt, same items
