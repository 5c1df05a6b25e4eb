"""Task registry: the one registry in the project (``register``, ``make_task``, ``list_tasks``).

Names map to :class:`~tasks.base.Task` subclasses; :func:`make_task` builds a fresh instance with
keyword options. A name ending in ``":"`` registers a *family of names*: ``make_task("rg:leg_counting")``
builds ``cls("leg_counting", **kwargs)`` for the class registered as ``"rg:"``. Registration happens in ``tasks/__init__.py``, never as a side effect elsewhere.
"""

from __future__ import annotations

import difflib
import inspect

from typing import Any

from tasks.base import Task

__all__ = ["register", "make_task", "list_tasks"]

_REGISTRY: dict[str, type[Task]] = {}


def register(name: str, cls: type[Task]) -> None:
    """Register a task class under ``name``.

    Registering the same class twice under one name is a no-op; a different class under a taken
    name raises, so two task families cannot silently shadow each other.

    Args:
        name: Non-empty registry name, e.g. ``"facts"``.
        cls: A subclass of :class:`~tasks.base.Task` (the class, not an instance).

    Raises:
        ValueError: If ``name`` is empty or not a string, ``cls`` is not a ``Task`` subclass, or
            ``name`` is already registered to another class.

    Example:
        >>> from tasks import FactsTask, register, list_tasks
        >>> register("facts", FactsTask)  # already registered: a no-op
        >>> "facts" in list_tasks()
        True
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}; pass e.g. 'facts'")
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(
            f"cls must be a subclass of tasks.Task, got {cls!r}; pass the class, not an instance"
        )
    known = _REGISTRY.get(name)
    if known is not None and known is not cls:
        raise ValueError(
            f"task name {name!r} is already registered to {known.__qualname__}, got "
            f"{cls.__qualname__}; choose another name"
        )
    _REGISTRY[name] = cls


def make_task(name: str, **kwargs: Any) -> Task:
    """Build a fresh task instance by registry name.

    Args:
        name: A registered name (see :func:`list_tasks`), or ``"<family>:<variant>"`` for a family
            registered as ``"<family>:"`` (e.g. ``"rg:basic_arithmetic"``).
        **kwargs: Options passed to the task class's constructor.

    Returns:
        A new :class:`~tasks.base.Task` instance.

    Raises:
        ValueError: If ``name`` is not registered (the message lists the known names), or if the
            task's constructor rejects a value in ``kwargs``.
        TypeError: If ``kwargs`` holds an option the task's constructor does not take.

    Example:
        >>> from tasks import make_task
        >>> task = make_task("facts", n_entities=2)
        >>> task.name
        'facts'
    """
    if isinstance(name, str) and ":" in name:
        prefix, variant = name.split(":", 1)
        family = _REGISTRY.get(prefix + ":")
        if family is not None:
            if not variant:
                raise ValueError(
                    f"task name {name!r} needs a name after {prefix + ':'!r}; pass e.g. "
                    f"'{prefix}:basic_arithmetic'"
                )
            _check_options(family, name, kwargs, skip=1)
            return family(variant, **kwargs)
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(repr(n + "<name>" if n.endswith(":") else n) for n in list_tasks()) or "none"
        close = difflib.get_close_matches(str(name), [n for n in list_tasks() if not n.endswith(":")], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"unknown task name {name!r}; {hint}known tasks: {known}; register it first with "
            f"tasks.register(name, cls)"
        )
    _check_options(cls, name, kwargs)
    return cls(**kwargs)


def _check_options(cls: type, name: str, kwargs: dict[str, Any], skip: int = 0) -> None:
    """Refuse an option the task's constructor does not take, naming the ones it does."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1 + skip :]
    except (TypeError, ValueError):  # no introspectable signature: let the constructor decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"task {name!r} has no option(s) {unknown}{hint}; its options: {', '.join(names) or 'none'}"
        )


def list_tasks() -> list[str]:
    """Return the registered task names, sorted.

    Returns:
        The names accepted by :func:`make_task`, in alphabetical order.

    Example:
        >>> from tasks import list_tasks
        >>> "facts" in list_tasks()
        True
    """
    return sorted(_REGISTRY)
