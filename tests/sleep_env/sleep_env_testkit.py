"""Tiny in-test tasks, env builders and agents for the sleep_env tests (offline, fast).

Imported by the tests as ``sleep_env_testkit`` (a unique name, so it cannot clash with another
folder's ``conftest``). ``conftest.py`` registers :data:`TINY_TASKS` around each test.

``test_kv``: item ``idx`` is a key/value pair. Study text ``"<key>=<value>"`` (12 characters),
query prompt ``"<key>?"``, probe prompt ``"what is <key>?"``, answer ``<value>``; the feedback line
that enters memory after a query is ``"<key>? <value>"``. Keys and values depend on the task seed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from sleep_env import (
    EnvConfig,
    ExperienceConfig,
    Never,
    ScheduleClock,
    SleepEnv,
    SleepReport,
    StreamConfig,
)
from tasks.base import Problem, Task

_KEY_CHARS = list("abcdefghij")
_VALUE_CHARS = list("pqrstuvw")


class KVTask(Task):
    """Key/value facts: ``k<idx><5 letters>=<4 letters>`` (12 characters for idx < 10)."""

    name = "test_kv"

    def problem(self, seed: int, idx: int) -> Problem:
        rng = np.random.default_rng([seed, idx])
        key = f"k{idx}" + "".join(rng.choice(_KEY_CHARS, 5))
        value = "".join(rng.choice(_VALUE_CHARS, 4))
        return Problem(
            task=self.name, idx=idx, prompt=f"{key}?", answer=value, context=f"{key}={value}"
        )

    def probe(self, seed: int, idx: int) -> Problem:
        p = self.problem(seed, idx)
        return dataclasses.replace(p, prompt=f"what is {p.prompt}")

    def score(self, problem: Problem, response: str) -> float:
        return 1.0 if isinstance(response, str) and response.strip() == problem.answer else 0.0


class AccentTask(KVTask):
    """Like ``test_kv`` but every value holds a non-ASCII character."""

    name = "test_accent"

    def problem(self, seed: int, idx: int) -> Problem:
        p = super().problem(seed, idx)
        return dataclasses.replace(p, answer=p.answer + "é", context=p.context + "é")


class LongTask(KVTask):
    """Study texts of 60 characters (longer than small memories)."""

    name = "test_long"

    def problem(self, seed: int, idx: int) -> Problem:
        p = super().problem(seed, idx)
        return dataclasses.replace(p, context=p.context + "." * (60 - len(p.context)))


TINY_TASKS: tuple[type[Task], ...] = (KVTask, AccentTask, LongTask)
"""Registered for each sleep_env test by the autouse ``tiny_tasks`` fixture (conftest.py)."""


def kv_stream(n_exp: int = 3, n_study: int = 3, n_query: int = 2, **kwargs: Any) -> StreamConfig:
    """A stream of ``n_exp`` test_kv experiences."""
    exp = ExperienceConfig(task="test_kv", n_study=n_study, n_query=n_query)
    return StreamConfig(experiences=(exp,) * n_exp, **kwargs)


def kv_config(**overrides: Any) -> EnvConfig:
    """A small env config: 3 experiences x (3 study + 2 query), Never, 200-char memory."""
    stream = overrides.pop("stream", None) or kv_stream(
        **{
            k: overrides.pop(k)
            for k in ("n_exp", "n_study", "n_query", "n_probe")
            if k in overrides
        }
    )
    return EnvConfig(**{"stream": stream, "schedule": Never(), "context_chars": 200, **overrides})


def kv_env(**overrides: Any) -> SleepEnv:
    """A :class:`SleepEnv` built from :func:`kv_config`."""
    return SleepEnv(kv_config(**overrides))


def act(response: str = "", sleep: int = 0) -> dict[str, Any]:
    """Build an action."""
    return {"response": response, "sleep": sleep}


def lookup(context: str) -> dict[str, str]:
    """Parse ``key=value`` study lines and ``key? value`` feedback lines (later lines win)."""
    table: dict[str, str] = {}
    for line in context.split("\n"):
        if "=" in line:
            key, value = line.split("=", 1)
            table[key] = value
        elif "? " in line:
            key, value = line.split("? ", 1)
            table[key] = value
    return table


class OracleAgent:
    """Answers from whatever its context holds; sleeps when allowed if ``sleepy``."""

    def __init__(self, sleepy: bool = False) -> None:
        self.sleepy = sleepy
        self.windows: list[Any] = []

    def act(self, obs: dict[str, Any]) -> dict[str, Any]:
        key = str(obs["prompt"]).removesuffix("?")
        response = lookup(str(obs["context"])).get(key, "") if int(obs["kind"]) == 1 else ""
        return act(response, int(self.sleepy and int(obs["may_sleep"]) == 1))

    def answer(self, prompts: list[str], contexts: list[str]) -> list[str]:
        return [
            lookup(c).get(p.removeprefix("what is ").removesuffix("?"), "")
            for p, c in zip(prompts, contexts, strict=True)
        ]

    def sleep(self, window: Any) -> SleepReport:
        self.windows.append(window)
        return SleepReport(seconds=0.0, steps=0, metrics={"memories": float(len(window.memories))})


def clock(**kw: Any) -> ScheduleClock:
    """A ScheduleClock one item into a stream, with ``kw`` overriding any field."""
    base = {
        "items_seen": 1,
        "items_since_sleep": 1,
        "memory_load": 0.0,
        "experience_ended": False,
        "stream_ended": False,
    }
    return ScheduleClock(**{**base, **kw})
