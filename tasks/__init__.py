"""Tasks: problem generators plus scorers (stdlib and numpy only).

A :class:`Task` makes :class:`Problem` items as a pure function of ``(seed, idx)`` and scores text
answers in [0, 1]. Build one by name with :func:`make_task`; see :func:`list_tasks` for the names.
"""

from tasks.base import Problem, Task
from tasks.facts import FactsTask, normalize_answer
from tasks.registry import list_tasks, make_task, register

__all__ = [
    "Problem",
    "Task",
    "make_task",
    "register",
    "list_tasks",
    "FactsTask",
    "normalize_answer",
]

register("facts", FactsTask)
