"""Frozen data records passed between the env, agents and evaluation.

:class:`SleepWindow` is what an agent receives when it falls asleep, :class:`SleepReport` what it
hands back, :class:`ProbeSet` the held-out questions behind the accuracy matrix, :class:`StepRecord`
one line of a lifetime's log and :class:`LifetimeRecord` the whole lifetime. Records are JSON-able
through ``to_dict()``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleep_env._validate import as_int, fail

__all__ = ["SleepWindow", "SleepReport", "ProbeSet", "StepRecord", "LifetimeRecord"]


@dataclass(frozen=True, kw_only=True)
class SleepWindow:
    """What the env hands the agent when it enters sleep (``info["sleep_window"]``).

    Example:
        >>> w = SleepWindow(level=1, memories=("Ann lives in Rome.",),
        ...                 queries=(("Ann lives in", "Rome"),), step_budget=10,
        ...                 model_version=0, experience=0)
        >>> w.memories[0]
        'Ann lives in Rome.'
    """

    level: int
    """Which consolidation this sleep performs (>= 1; 1 = context into the first expert level)."""
    memories: tuple[str, ...]
    """The short-term memory items to consolidate, oldest first (the current context's items)."""
    queries: tuple[tuple[str, str | None], ...]
    """The day's queries since the last sleep as ``(prompt, answer)``; ``answer`` is the feedback
    the agent was shown, or ``None`` when the env runs with ``feedback=False`` (no leak)."""
    step_budget: int
    """Advisory number of optimiser steps the agent may spend on this sleep (>= 0)."""
    model_version: int
    """Completed sleeps before this one (the version this sleep consolidates into is +1)."""
    experience: int
    """Index of the experience during which the agent fell asleep (>= 0)."""

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: If a count is negative.
        """
        for name in ("level", "step_budget", "model_version", "experience"):
            as_int(name, getattr(self, name), low=0, fix="this is set by the env")


@dataclass(frozen=True, kw_only=True)
class SleepReport:
    """What an agent returns from ``Agent.sleep(window)``.

    Example:
        >>> SleepReport(seconds=1.5, steps=20, metrics={"loss": 0.3}).steps
        20
    """

    seconds: float
    """Wall-clock duration of the sleep in seconds (>= 0); ``run_lifetime`` overwrites it with its
    own ``time.perf_counter`` measurement."""
    steps: int
    """Optimiser steps the agent took (>= 0)."""
    metrics: Mapping[str, float] = field(default_factory=dict, hash=False)
    """Free-form scalar metrics (e.g. ``"loss"`` in nats)."""
    committed: bool = True
    """False when the agent rolled its consolidation back (e.g. a failed post-sleep check or a NaN
    loss): the sleep changed no weights."""

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: If ``seconds`` is negative or not finite, ``steps`` is negative, or a
                metric is not a number.
        """
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise fail("seconds", "a finite number >= 0", self.seconds, "pass wall-clock seconds")
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise fail("seconds", "a finite number >= 0", self.seconds, "pass wall-clock seconds")
        as_int("steps", self.steps, low=0, fix="pass the number of optimiser steps taken")
        if not isinstance(self.committed, bool):
            raise fail("committed", "a bool", self.committed, "pass True unless the sleep was rolled back")
        metrics = dict(self.metrics)
        for key, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise fail(f"metrics[{key!r}]", "a number", value, "log scalars only")
        object.__setattr__(self, "seconds", float(self.seconds))
        object.__setattr__(self, "metrics", {str(k): float(v) for k, v in metrics.items()})

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (``float`` seconds, ``int`` steps, a plain metrics dict)."""
        return {"seconds": self.seconds, "steps": self.steps, "metrics": dict(self.metrics), "committed": self.committed}


@dataclass(frozen=True, kw_only=True)
class ProbeSet:
    """Held-out probe questions about every experience of the stream (answers hidden).

    The three tuples are aligned: probe ``k`` is ``prompts[k]`` with ``contexts[k]`` as its
    context and belongs to experience ``experiences[k]``.
    """

    prompts: tuple[str, ...]
    """The probe questions (characters)."""
    contexts: tuple[str, ...]
    """The context to answer each with: ``""`` (closed-book) or the current short-term memory."""
    experiences: tuple[int, ...]
    """The experience (column of the accuracy matrix) each probe belongs to."""

    def __post_init__(self) -> None:
        """Validate the alignment.

        Raises:
            ValueError: If the three tuples differ in length.
        """
        n = len(self.prompts)
        if len(self.contexts) != n or len(self.experiences) != n:
            raise fail(
                "contexts and experiences", f"as long as prompts ({n})",
                (len(self.contexts), len(self.experiences)), "build the tuples together",
            )  # fmt: skip

    def __len__(self) -> int:
        """Return the number of probes."""
        return len(self.prompts)


@dataclass(frozen=True, kw_only=True)
class StepRecord:
    """One line of a lifetime's log: an answered item, a wake step or an item missed in sleep.

    All fields are JSON-able Python scalars or strings.
    """

    step: int
    """Index of the env step (0-based) that produced this record."""
    experience: int
    """Experience index of the item (for a wake step: where the agent slept)."""
    kind: str
    """``"study"``, ``"query"`` or ``"sleep"`` (the wake step)."""
    prompt: str
    """The text the agent was shown for the item (``""`` for a wake step)."""
    response: str
    """The agent's response (``""`` for wake steps and missed items)."""
    answer: str | None
    """The reference answer of a query; ``None`` for study items and wake steps."""
    reward: float
    """The task score in [0, 1] (0.0 for study items, wake steps and missed items)."""
    model_version: int
    """Completed sleeps when the item was presented."""
    context_chars: int
    """Length in characters of the context shown with the item."""
    evicted: int = 0
    """Memory items evicted (FIFO) when the item entered memory."""
    overwritten: int = 0
    """Memory items lost because a due sleep was not taken after this item."""
    sleep_requested: bool = False
    """The action asked to sleep after this item."""
    slept: bool = False
    """The request was granted: the env entered sleep after this item."""
    denied: bool = False
    """The request was denied (``may_sleep`` was 0)."""
    missed: bool = False
    """The item passed unanswered while the agent slept (``sleep_cost_steps``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        """Rebuild a record from :meth:`to_dict` output."""
        return cls(**data)


def _nan_to_none(array: np.ndarray) -> list:
    return [None if math.isnan(x) else float(x) for x in np.asarray(array, float).ravel()]


@dataclass(frozen=True, kw_only=True)
class LifetimeRecord:
    """Everything :func:`~sleep_env.run_lifetime` recorded over one lifetime (one episode)."""

    seed: int
    """The seed passed to ``reset``."""
    steps: list[StepRecord]
    """The env's records in order (see :class:`StepRecord`)."""
    accuracy_matrix: np.ndarray
    """``R`` (T, T) float64: ``R[i, j]`` = mean probe score in [0, 1] on experience ``j``'s
    material after experience ``i``; ``nan`` where not measured."""
    baseline: np.ndarray
    """``b`` (T,) float64: probe scores before the stream (at reset); ``nan`` if not measured."""
    sleeps: int
    """Number of sleeps taken (= the final ``model_version``)."""
    sleep_seconds: float
    """Total wall-clock seconds spent in ``Agent.sleep``."""
    sleep_reports: list[SleepReport]
    """One report per sleep, in order."""
    probe_answers: list[list[str]]
    """The agent's answers of each probe round in order (round 0 = the baseline)."""
    terminated: bool
    """The stream was exhausted."""
    truncated: bool
    """The step budget (``max_steps``) stopped the lifetime."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (arrays as nested lists with ``None`` for ``nan``)."""
        t = int(self.baseline.shape[0])
        flat = _nan_to_none(self.accuracy_matrix)
        return {
            "seed": self.seed,
            "steps": [r.to_dict() for r in self.steps],
            "accuracy_matrix": [flat[i * t : (i + 1) * t] for i in range(t)],
            "baseline": _nan_to_none(self.baseline),
            "sleeps": self.sleeps,
            "sleep_seconds": self.sleep_seconds,
            "sleep_reports": [r.to_dict() for r in self.sleep_reports],
            "probe_answers": [list(a) for a in self.probe_answers],
            "terminated": self.terminated,
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifetimeRecord:
        """Rebuild a record from :meth:`to_dict` output (``None`` becomes ``nan``)."""

        def arr(x: Any) -> np.ndarray:
            return np.array(x, dtype=float)  # None -> nan

        return cls(
            seed=data["seed"],
            steps=[StepRecord.from_dict(r) for r in data["steps"]],
            accuracy_matrix=arr(data["accuracy_matrix"]),
            baseline=arr(data["baseline"]),
            sleeps=data["sleeps"],
            sleep_seconds=data["sleep_seconds"],
            sleep_reports=[SleepReport(**r) for r in data["sleep_reports"]],
            probe_answers=[list(a) for a in data["probe_answers"]],
            terminated=data["terminated"],
            truncated=data["truncated"],
        )
