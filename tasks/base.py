"""Core task types: a :class:`Problem` is one item, a :class:`Task` generates and scores them.

Every problem is a pure function of ``(seed, idx)`` (reasoning-gym's convention), so a stream can be
rebuilt item by item from its seed alone.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Problem", "Task"]


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
        metadata: Free-form, JSON-serialisable details (e.g. entity, attribute).
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
    the held-out phrasing of item ``idx`` used by evaluation probes (defaults to the item itself).
    """

    name: str = "task"

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
            A :class:`Problem` with the same ``answer`` and ``context`` as ``problem(seed, idx)``;
            the base class returns the item itself, subclasses may rephrase ``prompt``.
        """
        return self.problem(seed, idx)
