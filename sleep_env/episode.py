"""Per-episode state of :class:`~sleep_env.core.SleepEnv`, its info dicts and action parsing (internal)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleep_env.errors import InvalidAction
from sleep_env.stream import Stream
from sleep_env.types import SleepWindow, StepRecord

__all__ = ["Episode", "parse_action", "add_counts", "episode_info", "TOTALS"]

TOTALS = ("evicted", "denied", "missed", "overwritten", "sleeps")
"""The running counts an episode keeps (reported as ``info["<name>_total"]``)."""


@dataclass(kw_only=True)
class Episode:
    """The mutable state of one lifetime (rebuilt by every ``reset``)."""

    stream: Stream
    pos: int = 0  # index of the presented item (== len(items) once the stream is exhausted)
    memory: tuple[str, ...] = ()  # short-term memory items, oldest first
    model_version: int = 0
    window: SleepWindow | None = None  # set while asleep
    steps: int = 0
    ended: str | None = None  # None, "terminated" or "truncated"
    since_sleep: int = 0  # items answered since the last wake
    day: list[tuple[str, str | None]] = field(default_factory=list)  # queries since last wake
    deferred: tuple[int, ...] = ()  # probe rows postponed to the wake step
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTALS, 0))
    records: list[StepRecord] = field(default_factory=list)
    decided: tuple | None = None  # (clock key, memory, SleepDecision): _decide's memo for the presented item

    def to_state(self) -> dict[str, Any]:
        """The episode as JSON-able values (the stream is not included: it is rebuilt from its seed)."""
        w = self.window
        return {
            "pos": self.pos,
            "memory": list(self.memory),
            "model_version": self.model_version,
            "window": None if w is None else {
                "level": w.level, "memories": list(w.memories), "queries": [list(q) for q in w.queries],
                "step_budget": w.step_budget, "model_version": w.model_version, "experience": w.experience,
            },
            "steps": self.steps,
            "ended": self.ended,
            "since_sleep": self.since_sleep,
            "day": [list(q) for q in self.day],
            "deferred": list(self.deferred),
            "totals": dict(self.totals),
            "records": [r.to_dict() for r in self.records],
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any], stream: Stream) -> Episode:
        """Rebuild an episode from :meth:`to_state` on ``stream``.

        Raises:
            KeyError, TypeError, ValueError: If ``state`` lacks a key or holds a value of another shape.
        """
        w = state["window"]
        window = None if w is None else SleepWindow(
            level=w["level"], memories=tuple(w["memories"]),
            queries=tuple((q[0], q[1]) for q in w["queries"]), step_budget=w["step_budget"],
            model_version=w["model_version"], experience=w["experience"],
        )  # fmt: skip
        return cls(
            stream=stream, pos=int(state["pos"]), memory=tuple(state["memory"]),
            model_version=int(state["model_version"]), window=window, steps=int(state["steps"]),
            ended=state["ended"], since_sleep=int(state["since_sleep"]),
            day=[(q[0], q[1]) for q in state["day"]], deferred=tuple(state["deferred"]),
            totals={k: int(state["totals"][k]) for k in TOTALS},
            records=[StepRecord.from_dict(r) for r in state["records"]],
        )  # fmt: skip

    @property
    def context(self) -> str:
        """The short-term memory as the agent sees it: items joined by newlines."""
        return "\n".join(self.memory)


ACTION_KEYS = ("response", "sleep")


def parse_action(action: Any, max_chars: int | None = None) -> tuple[str, bool]:
    """Return ``(response, wants_sleep)`` from an action mapping.

    A response with characters outside the declared charset is model output and is scored as it
    is (a malformed answer scores 0); a response longer than the action space declares, a missing
    ``response`` or an unknown key is a caller's error and raises.

    Args:
        action: ``{"response": str, "sleep": 0 or 1}``; ``sleep`` may be omitted (= 0) and may be
            a bool, a Python or numpy integer, or a 0-d integer array.
        max_chars: Longest response allowed, in characters (the action space's ``max_length``);
            ``None`` = no limit.

    Returns:
        ``(response, wants_sleep)``: the response text and whether sleep was requested.

    Raises:
        InvalidAction: If the action does not have that form.
    """
    if isinstance(action, Mapping) and "response" not in action:
        raise InvalidAction(
            f"action has no 'response' key, got {action!r:.200}; "
            "e.g. env.step({'response': 'Paris', 'sleep': 0}) (use '' for study and sleep steps)"
        )
    if not isinstance(action, Mapping):
        raise InvalidAction(
            f"action must be a mapping {{'response': str, 'sleep': 0 or 1}}, got {action!r:.200}; "
            "e.g. env.step({'response': 'Paris', 'sleep': 0})"
        )
    response, sleep = action["response"], action.get("sleep", 0)
    if not isinstance(response, str):
        raise InvalidAction(
            f"action['response'] must be a str, got {type(response).__name__} {response!r:.200}; "
            "pass the answer text (str(...) it if needed)"
        )
    if max_chars is not None and len(response) > max_chars:
        raise InvalidAction(
            f"action['response'] has {len(response)} characters, more than the action space's "
            f"max_length={max_chars}; truncate it (e.g. response[:{max_chars}])"
        )
    unknown = [k for k in action if k not in ACTION_KEYS]
    if unknown:
        raise InvalidAction(
            f"action has unknown key(s) {unknown!r:.200}; an action has only 'response' and 'sleep' "
            "(check the spelling, e.g. {'response': 'Paris', 'sleep': 1})"
        )
    integral = isinstance(sleep, numbers.Integral) or (
        isinstance(sleep, np.ndarray)
        and sleep.ndim == 0
        and (np.issubdtype(sleep.dtype, np.integer) or sleep.dtype == bool)
    )
    if not integral or int(sleep) not in (0, 1):
        raise InvalidAction(
            f"action['sleep'] must be 0 or 1, got {sleep!r}; pass 1 to request sleep"
        )
    return response, bool(int(sleep))


def add_counts(totals: dict[str, int], **counts: int) -> None:
    """Add ``counts`` into the running ``totals`` in place."""
    for key, value in counts.items():
        totals[key] += value


def episode_info(
    ep: Episode, *, probe_due: bool, experience: int, kind: str, evicted: int = 0,
    denied: bool = False, overwritten: int = 0, missed: int = 0, window: SleepWindow | None = None,
    level: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The ``info`` dict of a step (the keys are listed in :class:`~sleep_env.core.SleepEnv`).

    Args:
        ep: The episode (its step count, ``model_version`` and running totals).
        probe_due: Whether a probe round is due now.
        experience: The experience of the item the action answered.
        kind: ``"study"``, ``"query"``, ``"sleep"`` (wake step), ``"reset"`` or ``"resume"``.
        evicted: Memory items evicted on this step.
        denied: Sleep was requested and denied on this step.
        overwritten: Memory items cleared by a due sleep not taken on this step.
        missed: Items skipped unanswered on this (wake) step.
        window: The sleep window entered on this step, else ``None``.
        level: The level of the sleep completed on this (wake) step, else 0; ``window.level``
            when ``window`` is given.

    Returns:
        The info dict (no wall-clock values).
    """
    t = ep.totals
    return {
        "step": ep.steps,
        "experience": experience,
        "kind": kind,
        "model_version": ep.model_version,
        "evicted": evicted,
        "evicted_total": t["evicted"],
        "sleep_denied": bool(denied),
        "denied_total": t["denied"],
        "missed": missed,
        "missed_total": t["missed"],
        "overwritten": overwritten,
        "overwritten_total": t["overwritten"],
        "sleeps": t["sleeps"],
        "probe_due": bool(probe_due),
        "sleep_window": window,
        "sleep_level": level if window is None else window.level,
    }
