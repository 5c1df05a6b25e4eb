"""The lifetime loop: step an agent through one episode, answering probes and sleeping."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sleep_env.core import KINDS
from sleep_env.errors import SleepEnvError
from sleep_env.protocols import Agent
from sleep_env.stream import MAX_PROMPT_CHARS
from sleep_env.types import LifetimeRecord, SleepReport, StepRecord

__all__ = ["run_lifetime"]

_WAKE = {"response": "", "sleep": 0}


def run_lifetime(
    env: gym.Env,
    agent: Agent,
    *,
    seed: int,
    on_step: Callable[[StepRecord], None] | None = None,
    on_probe: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    on_wake: Callable[[SleepReport, dict[str, Any]], None] | None = None,
    resume: Mapping[str, Any] | None = None,
) -> LifetimeRecord:
    """Run one lifetime (one episode) of ``agent`` in ``env``, or continue one from a checkpoint.

    Loop: reset with ``seed``; whenever ``info["probe_due"]``, the agent answers the probe set in
    one batch (``agent.answer``) and the answers are submitted; on a sleep observation the agent
    consolidates (``agent.sleep(info["sleep_window"])``, timed with ``time.perf_counter``) and a
    wake action follows; otherwise ``agent.act(obs)`` chooses the action. Stops at
    ``terminated`` or ``truncated``.

    Agent output is model output: a response or probe answer longer than the action space's
    ``max_length`` (``MAX_PROMPT_CHARS`` characters) is cut to it (at most one ``RuntimeWarning`` per
    lifetime; Python's default filter shows a repeated one once per process) and scored, instead of
    aborting the lifetime with ``InvalidAction``.

    Checkpoints: after every wake-up (once the probes due then are submitted) ``on_wake`` gets the
    sleep's report and the loop state, a JSON-able dict (the env's
    :meth:`~sleep_env.SleepEnv.get_state`, the sleep reports and probe answers so far). Passing
    that dict back as ``resume`` (with the agent restored to its state at that moment) continues
    the lifetime exactly where it was: the same observations, probes and records follow.

    Args:
        env: A :class:`~sleep_env.SleepEnv`, possibly wrapped (e.g. by ``gymnasium.make``).
        agent: Any object following the :class:`~sleep_env.Agent` protocol.
        seed: Stream seed for ``env.reset``.
        on_step: Called with each new :class:`StepRecord` as it is made (e.g. for progress).
            Records made before a ``resume`` checkpoint are not reported again.
        on_probe: Called after each probe round with ``(step, R, b)``: the env steps taken so far
            (0 for the baseline round at reset) and copies of the accuracy matrix and baseline.
        on_wake: Called after each wake-up with ``(report, state)`` (see above).
        resume: A state ``on_wake`` received, to continue from.

    Returns:
        The :class:`LifetimeRecord`; each report's ``seconds`` is the measured wall-clock time.

    Raises:
        SleepEnvError: If ``agent`` lacks a method of the :class:`~sleep_env.Agent` protocol,
            ``agent.sleep`` does not return a :class:`SleepReport`, or ``resume``
            is not a loop state of a lifetime with this ``seed``.
    """
    missing = [m for m in ("act", "answer", "sleep") if not callable(getattr(agent, m, None))]
    if missing:
        raise SleepEnvError(
            f"agent {type(agent).__name__} lacks {', '.join(m + '()' for m in missing)} of the Agent protocol "
            "(act(obs) -> action, answer(prompts, contexts) -> list[str], sleep(window) -> SleepReport); "
            "add them (an agent that never sleeps returns SleepReport(seconds=0.0, steps=0) from sleep)"
        )
    base = env.unwrapped
    obs, info = env.reset(seed=seed)  # also when resuming: wrappers such as OrderEnforcing need it
    terminated = truncated = False
    reports: list[SleepReport] = []
    probe_answers: list[list[str]] = []
    seen = 0
    if resume is not None:
        try:
            if int(resume["seed"]) != seed:
                raise SleepEnvError(
                    f"resume state belongs to a lifetime with seed {resume['seed']}, not {seed}; "
                    "pass the seed of the checkpointed run"
                )
            obs, info = base.set_state(resume["env"])
            reports = [SleepReport(**r) for r in resume["sleep_reports"]]
            probe_answers = [list(a) for a in resume["probe_answers"]]
        except (KeyError, TypeError) as exc:
            raise SleepEnvError(
                f"resume is not a loop state from run_lifetime's on_wake ({type(exc).__name__}: {exc})"
            ) from None
        ended = resume["env"]["ended"]
        terminated, truncated = ended == "terminated", ended == "truncated"
        seen = len(base.records())
    woke = False
    clip = _Clipper()
    while True:
        if info["probe_due"]:
            probes = base.probe_prompts()
            answers = [clip(a) for a in agent.answer(list(probes.prompts), list(probes.contexts))]
            base.submit_probes(answers)
            probe_answers.append(answers)
            if on_probe is not None:
                on_probe(int(info["step"]), base.accuracy_matrix, base.baseline)
        new = base.records(seen)
        seen += len(new)
        if on_step is not None:
            for record in new:
                on_step(record)
        if woke and on_wake is not None:
            on_wake(reports[-1], {
                "seed": seed,
                "env": base.get_state(),
                "sleep_reports": [r.to_dict() for r in reports],
                "probe_answers": [list(a) for a in probe_answers],
            })  # fmt: skip
        if terminated or truncated:
            break
        woke = KINDS[int(obs["kind"])] == "sleep"
        if woke:
            reports.append(_sleep(agent, info["sleep_window"]))
            action: Any = dict(_WAKE)
        else:
            action = agent.act(obs)
            if isinstance(action, Mapping) and isinstance(action.get("response"), str):
                action = {**action, "response": clip(action["response"])}
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


class _Clipper:
    """Cuts agent text to ``MAX_PROMPT_CHARS`` characters; warns the first time it has to."""

    def __init__(self) -> None:
        self.warned = False

    def __call__(self, text: Any) -> Any:
        if not isinstance(text, str) or len(text) <= MAX_PROMPT_CHARS:
            return text  # non-str answers are left for the env to refuse with its message
        if not self.warned:
            self.warned = True
            warnings.warn(f"the agent returned {len(text)} characters; answers are cut to the action space's "
                          f"max_length={MAX_PROMPT_CHARS} and scored (further cuts are not reported)",
                          RuntimeWarning, stacklevel=3)
        return text[:MAX_PROMPT_CHARS]


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
