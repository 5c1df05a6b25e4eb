"""The spaces of :class:`~sleep_env.core.SleepEnv` and its observation dicts (internal).

``KINDS`` is re-exported from ``sleep_env.core``.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import create_shared_memory

from sleep_env.errors import SleepEnvError
from sleep_env.schedules import SleepDecision
from sleep_env.stream import MAX_PROMPT_CHARS

__all__ = ["KINDS", "observation_space", "action_space", "observation"]

KINDS: tuple[str, ...] = ("study", "query", "sleep")
"""Observation ``kind`` codes: 0 study, 1 query, 2 sleep."""


class SleepText(spaces.Text):
    """gymnasium's ``Text`` space, refusing gymnasium's shared-memory vector buffers.

    ``AsyncVectorEnv(..., shared_memory=True)`` (its default) returns these strings as runs of
    newlines instead of the text; :func:`_refuse_shared_memory` turns that silent corruption into an
    error that names the fix.
    """


def _refuse_shared_memory(space: SleepText, n: int = 1, ctx: Any = None) -> Any:
    raise SleepEnvError(
        "SleepEnv's Text observations cannot travel through gymnasium's shared memory (they come back "
        "as newlines); build the vector env with gymnasium.vector.AsyncVectorEnv(env_fns, shared_memory=False) "
        "or use SyncVectorEnv"
    )


create_shared_memory.register(SleepText)(_refuse_shared_memory)


def _text(n: int, charset: Set[str]) -> spaces.Text:
    return SleepText(n, min_length=0, charset=charset)


def observation_space(
    charset: Set[str], *, context_chars: int, n_tasks: int, n_levels: int
) -> spaces.Dict:
    """The observation space: prompt, context, kind, task index, memory load and sleep flags.

    Args:
        charset: Characters of the Text spaces.
        context_chars: Short-term memory capacity in characters (the context's ``max_length``).
        n_tasks: Distinct tasks of the stream (``task_index`` is ``Discrete(n_tasks)``).
        n_levels: The schedule's sleep levels (``sleep_level`` is ``Discrete(n_levels + 1)``).

    Returns:
        A ``spaces.Dict`` of the keys :func:`observation` fills.
    """
    return spaces.Dict({
        "prompt": _text(MAX_PROMPT_CHARS, charset),
        "context": _text(context_chars, charset),
        "kind": spaces.Discrete(3),
        "task_index": spaces.Discrete(n_tasks),
        "memory_load": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
        "may_sleep": spaces.Discrete(2),
        "sleep_due": spaces.Discrete(2),
        "sleep_level": spaces.Discrete(n_levels + 1),
    })  # fmt: skip


def action_space(charset: Set[str]) -> spaces.Dict:
    """The action space: ``{"response": Text(MAX_PROMPT_CHARS), "sleep": Discrete(2)}``."""
    return spaces.Dict({"response": _text(MAX_PROMPT_CHARS, charset), "sleep": spaces.Discrete(2)})


def observation(
    *, kind: int, prompt: str, context: str, task_index: int, context_chars: int,
    decision: SleepDecision,
) -> dict[str, Any]:  # fmt: skip
    """One observation dict of :func:`observation_space`.

    ``sleep_level`` shows the decision's level only when sleep is allowed or during sleep
    (``kind`` 2); else 0. ``memory_load`` is ``len(context) / context_chars``.
    """
    level = decision.level if decision.may_sleep or kind == KINDS.index("sleep") else 0
    return {
        "prompt": prompt,
        "context": context,
        "kind": np.int64(kind),
        "task_index": np.int64(task_index),
        "memory_load": np.array([len(context) / context_chars], dtype=np.float32),
        "may_sleep": np.int64(decision.may_sleep),
        "sleep_due": np.int64(decision.due),
        "sleep_level": np.int64(level),
    }
