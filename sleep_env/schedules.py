"""Sleep schedules: pure functions of the env clock that say when sleep is allowed and due.

A schedule never touches the stream's random generator and keeps no state: the env asks
``decide(clock)`` for the clock *after* the presented item is processed, and shows the answer with
that item (``may_sleep``, ``sleep_due``, ``sleep_level``). ``due`` means the short-term memory is
overwritten after this item unless the agent sleeps.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleep_env._validate import as_int, fail
from sleep_env.errors import ConfigError

__all__ = [
    "ScheduleClock",
    "SleepDecision",
    "Schedule",
    "Never",
    "FixedInterval",
    "MultiLevel",
    "MemoryPressure",
    "AgentChoice",
    "TaskBoundary",
    "make_schedule",
    "schedule_names",
    "schedule_to_dict",
]


@dataclass(frozen=True, kw_only=True)
class ScheduleClock:
    """The env clock a schedule decides on (as it will be after the presented item)."""

    items_seen: int
    """Stream items passed so far, this one included (items missed in sleep count too)."""
    items_since_sleep: int
    """Items answered since the last wake (or since reset)."""
    memory_load: float
    """Short-term memory fill in [0, 1] (characters used / ``context_chars``)."""
    experience_ended: bool
    """The item is the last of its experience."""
    stream_ended: bool
    """The item is the last of the stream."""
    sleeps: int = 0
    """Sleeps completed so far in this lifetime (the env's ``info["sleeps"]``)."""


@dataclass(frozen=True, kw_only=True)
class SleepDecision:
    """A schedule's answer for one clock."""

    may_sleep: bool
    """A sleep request after this item is granted."""
    due: bool
    """The short-term memory is overwritten after this item unless the agent sleeps."""
    level: int
    """Which consolidation a sleep now performs (0 = none, 1 = context into level 1)."""

    def __post_init__(self) -> None:
        """Validate the decision.

        Raises:
            ValueError: If a flag is not a bool, ``level`` is not an integer >= 0, a sleep is due but
                not allowed (the memory would be overwritten with no chance to consolidate it), or a
                sleep is allowed at level 0 (a sleep that consolidates nothing).
        """
        for name in ("may_sleep", "due"):  # numpy's bool_ (e.g. from a comparison of arrays) is a bool too
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise fail(f"SleepDecision.{name}", "a bool", value, "return e.g. SleepDecision(may_sleep=True, due=False, level=1)")
            object.__setattr__(self, name, bool(value))
        if isinstance(self.level, (bool, np.bool_)) or not isinstance(self.level, numbers.Integral) or self.level < 0:
            raise fail("SleepDecision.level", "an integer >= 0", self.level, "return 0 (no sleep) or 1..n_levels")
        object.__setattr__(self, "level", int(self.level))
        if self.due and not self.may_sleep:
            raise fail("SleepDecision.may_sleep", "True when due is True (a due sleep must be allowed)",
                       self.may_sleep, "return SleepDecision(may_sleep=True, due=True, level=1)")
        if self.may_sleep and self.level < 1:
            raise fail("SleepDecision.level", ">= 1 when may_sleep is True (a sleep consolidates a level)",
                       self.level, "return level=1 for a sleep of the context")


_NO = SleepDecision(may_sleep=False, due=False, level=0)
_SLEEP = SleepDecision(may_sleep=True, due=True, level=1)
_MAY = SleepDecision(may_sleep=True, due=False, level=1)


class Schedule(abc.ABC):
    """Base class: a pure ``decide(clock) -> SleepDecision``."""

    @property
    def n_levels(self) -> int:
        """Highest level :meth:`decide` returns (the observation's ``sleep_level`` is Discrete
        ``n_levels + 1``): 1 for every schedule but :class:`MultiLevel`."""
        return 1

    @abc.abstractmethod
    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return whether sleep is allowed and due after the item, and at which level.

        Args:
            clock: The env clock after the presented item is processed.

        Returns:
            The :class:`SleepDecision`.
        """


@dataclass(frozen=True, kw_only=True)
class Never(Schedule):
    """Sleep is never allowed (and never due): the in-context baseline.

    Example:
        >>> c = ScheduleClock(items_seen=5, items_since_sleep=5, memory_load=0.5,
        ...                   experience_ended=True, stream_ended=True)
        >>> Never().decide(c).may_sleep
        False
    """

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return "not allowed, not due" for every clock."""
        return _NO


@dataclass(frozen=True, kw_only=True)
class FixedInterval(Schedule):
    """Sleep is allowed and due every ``period`` items, and at the end of the stream.

    Example:
        >>> c = ScheduleClock(items_seen=24, items_since_sleep=24, memory_load=0.5,
        ...                   experience_ended=False, stream_ended=False)
        >>> FixedInterval(period=24).decide(c).due, FixedInterval(period=5).decide(c).due
        (True, False)
    """

    period: int
    """Items between sleeps (>= 1); counted on the stream position ``items_seen``."""

    def __post_init__(self) -> None:
        """Validate the period.

        Raises:
            ValueError: If ``period`` is not an integer >= 1.
        """
        object.__setattr__(self, "period", as_int("period", self.period, low=1, fix="pass e.g. 24"))

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return level-1 sleep, allowed and due, at multiples of ``period`` and at stream end."""
        if clock.stream_ended or (clock.items_seen > 0 and clock.items_seen % self.period == 0):
            return _SLEEP
        return _NO


@dataclass(frozen=True, kw_only=True)
class MultiLevel(Schedule):
    """The paper's multi-level schedule: level ``l`` (1-based) is due at every multiple of ``C_l``.

    ``periods = (C1, C2, ...)`` are strictly increasing and each divides the next, so whenever level
    ``l`` is due every faster level is due too. The decision then reports the **slowest** due level
    ``L``: a sleep at level ``L`` means the agent consolidates the due levels fast to slow (context
    into level 1, level 1 into level 2, ..., up to ``L``), each consolidation resetting the faster
    level. Sleep is allowed exactly when some level is due (``may_sleep == due``); the stream end
    is not special (only multiples of ``C1`` count).

    Example:
        >>> s = MultiLevel(periods=(4, 12))
        >>> c = ScheduleClock(items_seen=12, items_since_sleep=4, memory_load=0.5,
        ...                   experience_ended=False, stream_ended=False)
        >>> s.decide(c).level, s.n_levels
        (2, 2)
    """

    periods: tuple[int, ...]
    """``(C1, C2, ...)``: positive, strictly increasing, each dividing the next."""

    def __post_init__(self) -> None:
        """Validate the periods (a list is accepted and stored as a tuple).

        Raises:
            ValueError: If ``periods`` is empty, holds a non-integer or a value < 1, is not
                strictly increasing, or a period does not divide the next.
        """
        fix = "pass e.g. periods=(12, 24, 48)"
        raw = self.periods
        if isinstance(raw, (str, bytes)) or not isinstance(raw, (tuple, list)) or not raw:
            raise fail("periods", "a non-empty tuple of integers", raw, fix)
        periods = tuple(as_int(f"periods[{i}]", p, low=1, fix=fix) for i, p in enumerate(raw))
        for i, (a, b) in enumerate(zip(periods, periods[1:])):
            if b <= a:
                why = f"{fix} (periods[{i + 1}] <= periods[{i}])"
                raise fail("periods", "strictly increasing", raw, why)
            if b % a:
                raise fail(
                    "periods", "each dividing the next (C_l divisible by C_(l-1))", raw,
                    f"{fix}; {b} is not a multiple of {a}",
                )  # fmt: skip
        object.__setattr__(self, "periods", periods)

    @property
    def n_levels(self) -> int:
        """The number of levels, ``len(periods)``."""
        return len(self.periods)

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return the slowest level whose period divides ``items_seen`` (allowed, due), else 0."""
        n = clock.items_seen
        if n <= 0:
            return _NO
        level = 0
        for lvl, period in enumerate(self.periods, start=1):
            if n % period:
                break  # periods divide each other: no slower level can be due
            level = lvl
        return SleepDecision(may_sleep=True, due=True, level=level) if level else _NO


@dataclass(frozen=True, kw_only=True)
class MemoryPressure(Schedule):
    """Sleep is allowed and due (level 1) when the short-term memory is at least ``threshold`` full.

    Example:
        >>> c = ScheduleClock(items_seen=7, items_since_sleep=7, memory_load=0.8,
        ...                   experience_ended=False, stream_ended=False)
        >>> [MemoryPressure(threshold=t).decide(c).due for t in (0.75, 0.9)]
        [True, False]
    """

    threshold: float
    """Memory load in (0, 1] at or above which sleep is allowed and due."""

    def __post_init__(self) -> None:
        """Validate the threshold.

        Raises:
            ValueError: If ``threshold`` is not a real number in (0, 1].
        """
        t = self.threshold
        rule, fix = "a number in (0, 1]", "pass e.g. threshold=0.9"
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
            raise fail("threshold", rule, t, fix)
        if not 0.0 < float(t) <= 1.0:
            raise fail("threshold", rule, t, fix)
        object.__setattr__(self, "threshold", float(t))

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return level-1 sleep, allowed and due, when ``memory_load >= threshold``."""
        return _SLEEP if clock.memory_load >= self.threshold else _NO


@dataclass(frozen=True, kw_only=True)
class AgentChoice(Schedule):
    """The agent decides: sleep is allowed (never due) after ``min_gap`` items, up to a budget.

    ``max_sleeps`` counts the sleeps of the lifetime (``ScheduleClock.sleeps``).

    Since nothing is ever due, an agent that never sleeps loses memories only to eviction.

    Example:
        >>> s = AgentChoice(min_gap=5, max_sleeps=2)
        >>> c = ScheduleClock(items_seen=9, items_since_sleep=5, memory_load=0.2,
        ...                   experience_ended=False, stream_ended=False, sleeps=1)
        >>> d = s.decide(c)
        >>> d.may_sleep, d.due, d.level
        (True, False, 1)
    """

    min_gap: int
    """Items answered since the last wake (or reset) before sleep is allowed (>= 1)."""
    max_sleeps: int
    """Sleeps allowed per lifetime (>= 1; use ``Never()`` for none)."""

    def __post_init__(self) -> None:
        """Validate the gap and the budget.

        Raises:
            ValueError: If ``min_gap`` or ``max_sleeps`` is not an integer >= 1.
        """
        gap = as_int("min_gap", self.min_gap, low=1, fix="pass e.g. min_gap=12")
        fix = "pass e.g. max_sleeps=5, or use Never() for no sleep"
        most = as_int("max_sleeps", self.max_sleeps, low=1, fix=fix)
        object.__setattr__(self, "min_gap", gap)
        object.__setattr__(self, "max_sleeps", most)

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return level-1 sleep, allowed but not due, after ``min_gap`` items if sleeps remain."""
        if clock.items_since_sleep >= self.min_gap and clock.sleeps < self.max_sleeps:
            return _MAY
        return _NO


@dataclass(frozen=True, kw_only=True)
class TaskBoundary(Schedule):
    """Oracle schedule: sleep is allowed and due at the end of every experience.

    Example:
        >>> c = ScheduleClock(items_seen=3, items_since_sleep=3, memory_load=0.1,
        ...                   experience_ended=True, stream_ended=False)
        >>> TaskBoundary().decide(c).level
        1
    """

    def decide(self, clock: ScheduleClock) -> SleepDecision:
        """Return level-1 sleep, allowed and due, when the item closes its experience."""
        return _SLEEP if clock.experience_ended or clock.stream_ended else _NO


_SCHEDULES: dict[str, type[Schedule]] = {
    "never": Never,
    "fixed-interval": FixedInterval,
    "multi-level": MultiLevel,
    "memory-pressure": MemoryPressure,
    "agent-choice": AgentChoice,
    "task-boundary": TaskBoundary,
}


def _schedule_key(name: str) -> str:
    """``"FixedInterval"``, ``"fixed_interval"`` and ``"fixed-interval"`` all give ``"fixed-interval"``."""
    out = []
    for i, ch in enumerate(name.strip()):
        if ch.isupper() and i and name.strip()[i - 1].islower():
            out.append("-")
        out.append("-" if ch in "_ " else ch.lower())
    return "".join(out)


def schedule_names() -> tuple[str, ...]:
    """The schedule names :func:`make_schedule` accepts (kebab case; class names work too)."""
    return tuple(_SCHEDULES)


def make_schedule(spec: Schedule | str | Mapping[str, Any]) -> Schedule:
    """Build a schedule from a name or a ``{"name": ..., **parameters}`` mapping (as in YAML configs).

    Names are kebab case (``fixed-interval``) or the class name (``FixedInterval``).

    Args:
        spec: A :class:`Schedule` (returned as is), a name of a schedule without parameters
            (``"never"``, ``"task-boundary"``), or a mapping with ``name`` plus the schedule's
            parameters, e.g. ``{"name": "multi-level", "periods": [12, 24]}``.

    Returns:
        The schedule.

    Raises:
        ConfigError: (a ``ValueError`` and a ``SleepEnvError``) for an unknown name (the message
            lists the known ones), a missing or unknown parameter, or a parameter value the
            schedule refuses (e.g. a negative period).

    Example:
        >>> make_schedule({"name": "multi-level", "periods": [12, 24]})
        MultiLevel(periods=(12, 24))
        >>> make_schedule("TaskBoundary")
        TaskBoundary()
    """
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise fail("schedule", "a mapping with a 'name' key", dict(spec),
                       "write e.g. {name: fixed-interval, period: 24}")
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise fail("schedule", "a schedule name or a mapping {name: ..., parameters}", spec,
                   "write e.g. schedule: {name: fixed-interval, period: 24}")
    known = ", ".join(_SCHEDULES)
    if not isinstance(name, str) or _schedule_key(name) not in _SCHEDULES:
        close = difflib.get_close_matches(_schedule_key(str(name)), list(_SCHEDULES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"schedule: unknown schedule name {name!r}; {hint}known: {known}")
    cls = _SCHEDULES[_schedule_key(name)]
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(map(str, params)) - set(fields))
    if unknown:
        takes = ", ".join(fields) if fields else "no parameters"
        raise ConfigError(f"schedule {cls.__name__}: unknown parameter(s) {unknown}; it takes {takes}")
    missing = [f for f in fields if f not in params]
    if missing:
        example = {"FixedInterval": "period: 24", "MultiLevel": "periods: [12, 24]",
                   "MemoryPressure": "threshold: 0.9", "AgentChoice": "min_gap: 12, max_sleeps: 5"}
        raise ConfigError(
            f"schedule {cls.__name__}: missing parameter(s) {missing}; "
            f"write e.g. {{name: {_schedule_key(name)}, {example.get(cls.__name__, '')}}}"
        )
    if cls is MultiLevel and isinstance(params.get("periods"), list):
        params = {**params, "periods": tuple(params["periods"])}
    try:
        return cls(**params)
    except ValueError as exc:  # the schedule's own checks raise ConfigError (a ValueError)
        raise ConfigError(f"schedule {cls.__name__}: {exc}") from None


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """The ``{"name": ..., **parameters}`` mapping :func:`make_schedule` reads back (JSON-able).

    Example:
        >>> schedule_to_dict(FixedInterval(period=24))
        {'name': 'fixed-interval', 'period': 24}
    """
    name = next(k for k, v in _SCHEDULES.items() if type(schedule) is v)
    out: dict[str, Any] = {"name": name}
    for f in dataclasses.fields(schedule):
        value = getattr(schedule, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
