"""The lifetime loop: step an agent through one episode, answering probes and sleeping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from sleep_env.core import KINDS
from sleep_env.errors import SleepEnvError
from sleep_env.protocols import Agent
from sleep_env.types import LifetimeRecord, SleepReport, StepRecord

__all__ = ["run_lifetime"]

_WAKE = {"response": "", "sleep": 0}


def run_lifetime(
    env: gym.Env,
    agent: Agent,
    *,
    seed: int,
    on_step: Callable[[StepRecord], None] | None = None,
) -> LifetimeRecord:
    """Run one lifetime (one episode) of ``agent`` in ``env``.

    Loop: reset with ``seed``; whenever ``info["probe_due"]``, the agent answers the probe set in
    one batch (``agent.answer``) and the answers are submitted; on a sleep observation the agent
    consolidates (``agent.sleep(info["sleep_window"])``, timed with ``time.perf_counter``) and a
    wake action follows; otherwise ``agent.act(obs)`` chooses the action. Stops at
    ``terminated`` or ``truncated``.

    Args:
        env: A :class:`~sleep_env.SleepEnv`, possibly wrapped (e.g. by ``gymnasium.make``).
        agent: Any object following the :class:`~sleep_env.Agent` protocol.
        seed: Stream seed for ``env.reset``.
        on_step: Called with each new :class:`StepRecord` as it is made (e.g. for progress).

    Returns:
        The :class:`LifetimeRecord`; each report's ``seconds`` is the measured wall-clock time.

    Raises:
        SleepEnvError: If ``agent.sleep`` does not return a :class:`SleepReport`.
    """
    base = env.unwrapped
    obs, info = env.reset(seed=seed)
    terminated = truncated = False
    reports: list[SleepReport] = []
    probe_answers: list[list[str]] = []
    seen = 0
    while True:
        if info["probe_due"]:
            probes = base.probe_prompts()
            answers = list(agent.answer(list(probes.prompts), list(probes.contexts)))
            base.submit_probes(answers)
            probe_answers.append(answers)
        new = base.records(seen)
        seen += len(new)
        if on_step is not None:
            for record in new:
                on_step(record)
        if terminated or truncated:
            break
        if KINDS[int(obs["kind"])] == "sleep":
            reports.append(_sleep(agent, info["sleep_window"]))
            action: Any = dict(_WAKE)
        else:
            action = agent.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
    return LifetimeRecord(
        seed=seed,
        steps=base.records(),
        accuracy_matrix=base.accuracy_matrix,
        baseline=base.baseline,
        sleeps=base.model_version,
        sleep_seconds=float(sum(r.seconds for r in reports)),
        sleep_reports=reports,
        probe_answers=probe_answers,
        terminated=bool(terminated),
        truncated=bool(truncated),
    )


def _sleep(agent: Agent, window: Any) -> SleepReport:
    start = time.perf_counter()
    report = agent.sleep(window)
    seconds = time.perf_counter() - start
    if not isinstance(report, SleepReport):
        raise SleepEnvError(
            f"agent.sleep() must return a SleepReport, got {type(report).__name__}; "
            "return SleepReport(seconds=..., steps=..., metrics={...})"
        )
    return dataclasses.replace(report, seconds=seconds)
