"""Configuration of :class:`~sleep_env.core.SleepEnv` (re-exported from ``sleep_env.core``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sleep_env._validate import as_bool, as_int, as_opt_int, fail
from sleep_env.schedules import FixedInterval, Schedule
from sleep_env.stream import StreamConfig

__all__ = ["EnvConfig"]


@dataclass(frozen=True, kw_only=True)
class EnvConfig:
    """Configuration of :class:`SleepEnv`.

    Example:
        >>> EnvConfig(context_chars=500).context_chars
        500
    """

    stream: StreamConfig = field(default_factory=StreamConfig)
    """The stream of experiences (default: three experiences of 12 facts, 3 of them asked by day)."""
    schedule: Schedule = field(default_factory=lambda: FixedInterval(period=15))
    """When sleep is allowed and due (see ``sleep_env.schedules``); the default sleeps at the end of
    every experience of the default stream (12 study items + 3 queries)."""
    context_chars: int = 2000
    """Short-term memory capacity in characters (>= 1), newlines between items included."""
    max_steps: int | None = None
    """Step budget per episode (>= 1; sleep steps count); ``None`` = no budget."""
    sleep_cost_steps: int = 0
    """Stream items that pass unanswered after each sleep (>= 0), counted as missed."""
    feedback: bool = True
    """After a query, append ``prompt + " " + answer`` to the short-term memory."""
    probe_context: str = "none"
    """Context given with probes: ``"none"`` (closed-book, ``""``) or ``"memory"`` (the current
    short-term memory)."""
    seed: int = 0
    """Stream seed of the first ``reset()`` without a seed (>= 0)."""
    sleep_step_budget: int = 100
    """Advisory optimiser steps per sleep, passed in ``SleepWindow.step_budget`` (>= 0)."""
    extra_chars: str = ""
    """Characters added to the Text spaces' charset (printable ASCII plus newline by default)."""

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: If a field breaks its rule (the message names it).
        """
        if not isinstance(self.stream, StreamConfig):
            raise fail("stream", "a StreamConfig", self.stream, "pass StreamConfig(...)")
        if not isinstance(self.schedule, Schedule):
            raise fail(
                "schedule", "a Schedule", self.schedule, "pass e.g. FixedInterval(period=24)"
            )
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_(
            "context_chars",
            as_int("context_chars", self.context_chars, low=1, fix="pass e.g. 2000"),
        )
        set_(
            "max_steps",
            as_opt_int("max_steps", self.max_steps, low=1, fix="pass None for no budget"),
        )
        set_(
            "sleep_cost_steps",
            as_int("sleep_cost_steps", self.sleep_cost_steps, low=0, fix="pass e.g. 0"),
        )
        set_("feedback", as_bool("feedback", self.feedback, fix="pass True or False"))
        if self.probe_context not in ("none", "memory"):
            raise fail(
                "probe_context",
                "'none' or 'memory'",
                self.probe_context,
                "pass 'none' for closed-book",
            )
        set_("seed", as_int("seed", self.seed, low=0, fix="pass e.g. 0"))
        set_(
            "sleep_step_budget",
            as_int("sleep_step_budget", self.sleep_step_budget, low=0, fix="pass e.g. 100"),
        )
        if not isinstance(self.extra_chars, str):
            raise fail("extra_chars", "a string of characters", self.extra_chars, "pass e.g. 'éü'")
