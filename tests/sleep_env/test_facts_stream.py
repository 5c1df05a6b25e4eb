"""The default env on the real facts task (tasks.make_task("facts"))."""

from __future__ import annotations

import re

from sleep_env import (
    EnvConfig,
    ExperienceConfig,
    Never,
    SleepEnv,
    SleepReport,
    StreamConfig,
    check_sleep_env,
    run_lifetime,
)


class FactsOracle:
    """Answers facts queries and probes from ``"<name> lives in <town>."``-style context lines."""

    _STUDY = re.compile(r"^(.+?) (?:lives in|works as an?|has a pet) (.+)\.$")

    def _table(self, context: str) -> dict[tuple[str, str], str]:
        table = {}
        for line in context.split("\n"):
            m = self._STUDY.match(line)
            if m:
                kind = "city" if " lives in " in line else "job" if " works as " in line else "pet"
                table[(m.group(1), kind)] = m.group(2)
        return table

    def _answer(self, prompt: str, context: str) -> str:
        table = self._table(context)
        for (name, kind), value in table.items():
            asks = {
                "city": ("live", "home"),
                "job": ("do for a living", "profession"),
                "pet": ("pet",),
            }[kind]
            if name in prompt and any(a in prompt for a in asks):
                return value
        return ""

    def act(self, obs):
        answer = (
            self._answer(str(obs["prompt"]), str(obs["context"])) if int(obs["kind"]) == 1 else ""
        )
        return {"response": answer, "sleep": 0}

    def answer(self, prompts, contexts):
        return [self._answer(p, c) for p, c in zip(prompts, contexts, strict=True)]

    def sleep(self, window):
        return SleepReport(seconds=0.0, steps=0)


def test_default_env_is_the_facts_stream_and_passes_the_checker() -> None:
    env = SleepEnv()
    assert env.task_names == ("facts",) and env.accuracy_matrix.shape == (3, 3)
    obs, _ = env.reset(seed=0)
    assert obs["prompt"].endswith(".") and int(obs["kind"]) == 0
    check_sleep_env(env)


def test_facts_lifetime_with_memory_probes() -> None:
    exp = ExperienceConfig(task="facts", n_study=6, n_query=6)
    stream = StreamConfig(experiences=(exp,) * 2)
    config = EnvConfig(stream=stream, schedule=Never(), context_chars=4000, probe_context="memory")
    record = run_lifetime(SleepEnv(config), FactsOracle(), seed=0)
    assert record.baseline.tolist() == [0.0, 0.0]
    assert all(r.reward == 1.0 for r in record.steps if r.kind == "query")
    # the held-out probe phrasings are answerable from the studied statements in context
    assert record.accuracy_matrix.tolist() == [[1.0, 0.0], [1.0, 1.0]]
