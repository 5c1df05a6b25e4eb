"""Sleep schedules: pure functions of the env clock that say when sleep is allowed and due.

A schedule never touches the stream's random generator and keeps no state: the env asks
``decide(clock)`` for the clock *after* the presented item is processed, and shows the answer with
that item (``may_sleep``, ``sleep_due``, ``sleep_level``). ``due`` means the short-term memory is
overwritten after this item unless the agent sleeps.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from sleep_env._validate import as_int

__all__ = ["ScheduleClock", "SleepDecision", "Schedule", "Never", "FixedInterval", "TaskBoundary"]


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


@dataclass(frozen=True, kw_only=True)
class SleepDecision:
    """A schedule's answer for one clock."""

    may_sleep: bool
    """A sleep request after this item is granted."""
    due: bool
    """The short-term memory is overwritten after this item unless the agent sleeps."""
    level: int
    """Which consolidation a sleep now performs (0 = none, 1 = context into level 1)."""


_NO = SleepDecision(may_sleep=False, due=False, level=0)
_SLEEP = SleepDecision(may_sleep=True, due=True, level=1)


class Schedule(abc.ABC):
    """Base class: a pure ``decide(clock) -> SleepDecision``."""

    n_levels: int = 1
    """Highest level :meth:`decide` returns (the observation's ``sleep_level`` is Discrete
    ``n_levels + 1``)."""

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
