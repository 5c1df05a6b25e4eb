"""Core task types: a :class:`Problem` is one item, a :class:`Task` generates and scores them.

Every problem is a pure function of ``(seed, idx)`` (reasoning-gym's convention), so a stream can be
rebuilt item by item from its seed alone.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = ["Problem", "Task", "TEXT_CHARSET", "SeedCache", "check_index", "first_line"]

TEXT_CHARSET: frozenset[str] = frozenset(chr(c) for c in range(32, 127)) | {"\n"}
"""Printable ASCII (space to ``~``) plus newline: the charset every built-in task declares by default."""


@dataclass(frozen=True)
class Problem:
    """One task item.

    Attributes:
        task: Name of the task that made it (as registered, e.g. ``"facts"``).
        idx: Index of the item within its ``(task, seed)`` sequence (>= 0).
        prompt: The question shown to the agent during wake (text, characters).
        answer: The reference answer (hidden from the agent).
        context: The study text that supports the answer (what enters short-term memory when the
            item is studied).
        metadata: Free-form, JSON-serialisable details (e.g. entity, attribute). The optional
            ``"key"`` names what the item asks about: a later studied item with the same key
            supersedes it (an attribute update), so a stream asks only about the newest one.
    """

    task: str
    idx: int
    prompt: str
    answer: str
    context: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Task(abc.ABC):
    """A problem generator plus a scorer.

    Subclasses set ``name`` and implement :meth:`problem` and :meth:`score`. :meth:`probe` returns
    the held-out question about item ``idx``'s material used by evaluation probes (defaults to the
    item itself). ``charset`` declares every character the task's texts may contain; a stream
    derives its charset from its tasks' and refuses an item with any other character.
    """

    name: str = "task"
    charset: frozenset[str] = TEXT_CHARSET
    """Characters the task's prompts, contexts and answers may use (printable ASCII + newline)."""

    @abc.abstractmethod
    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx`` of the sequence seeded by ``seed`` (a pure function of both).

        Args:
            seed: Non-negative integer seed of the sequence.
            idx: Non-negative index of the item within the sequence.

        Returns:
            The :class:`Problem`; equal inputs give equal problems, on any instance.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer.
        """

    @abc.abstractmethod
    def score(self, problem: Problem, response: str) -> float:
        """Score ``response`` against ``problem.answer``.

        Args:
            problem: The problem that was asked (normally made by this task).
            response: The agent's answer text; any string, including empty or garbage.

        Returns:
            A score in [0, 1]. Malformed text scores 0.0; it never raises on text.
        """

    def probe(self, seed: int, idx: int) -> Problem:
        """Return the held-out probe question about the same material as ``problem(seed, idx)``.

        Args:
            seed: Non-negative integer seed of the sequence.
            idx: Non-negative index of the item within the sequence.

        Returns:
            A :class:`Problem` about the material studied in ``problem(seed, idx).context`` whose
            prompt is not a verbatim copy of it: the same fact rephrased (``facts``, ``squad``,
            ``babi``) or a new instance of the studied skill or mapping (``cipher``, ``intents``,
            ``rg:<name>``), with its own ``answer``. The base class returns the item itself.
        """
        return self.problem(seed, idx)


def check_index(what: str, value: object) -> int:
    """Return ``value`` as an int, or raise if it is not a non-negative integer (bools refused).

    Raises:
        ValueError: Naming ``what`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}; pass e.g. 0")
    return int(value)


def first_line(response: object) -> str:
    """Return the first line of a model response ("" for a non-string), for scorers.

    Example:
        >>> first_line(" 42\\nQuestion: next")
        ' 42'
    """
    if not isinstance(response, str):
        return ""
    return response.split("\n", 1)[0].split("\r", 1)[0]


class SeedCache(dict):
    """A ``seed -> value`` memo of pure per-seed results that keeps only the newest seeds.

    Tasks build items in order per seed (an item may depend on earlier ones) and memoise them.
    A long sweep resets with a new seed every lifetime, so an unbounded memo would grow without
    end; this one forgets the least recently used seed beyond ``max_seeds`` (results are pure,
    so a forgotten seed is simply rebuilt).

    Example:
        >>> c = SeedCache(max_seeds=2)
        >>> for s in (1, 2, 3):
        ...     _ = c.setdefault(s, [])
        >>> sorted(c)
        [2, 3]
    """

    def __init__(self, max_seeds: int = 16) -> None:
        super().__init__()
        self.max_seeds = max_seeds

    def setdefault(self, seed, default=None):  # noqa: D102 -- dict.setdefault plus LRU order
        if seed in self:
            value = self.pop(seed)  # move to the newest end (dicts keep insertion order)
        else:
            value = default
            while len(self) >= self.max_seeds:
                del self[next(iter(self))]
        self[seed] = value
        return value
