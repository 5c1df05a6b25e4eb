"""The agent protocol: what :func:`~sleep_env.run_lifetime` needs from an agent."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from sleep_env.types import SleepReport, SleepWindow

__all__ = ["Agent"]


@runtime_checkable
class Agent(Protocol):
    """An agent that lives through a stream: it acts while awake, answers probes and sleeps.

    Example:
        >>> class Silent:
        ...     def act(self, obs): return {"response": "", "sleep": 0}
        ...     def answer(self, prompts, contexts): return [""] * len(prompts)
        ...     def sleep(self, window): return SleepReport(seconds=0.0, steps=0)
        >>> isinstance(Silent(), Agent)
        True
    """

    def act(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the action for an awake observation: ``{"response": str, "sleep": 0 or 1}``."""
        ...

    def answer(self, prompts: list[str], contexts: list[str]) -> list[str]:
        """Answer a batch of probe prompts, each with its context; one answer per prompt."""
        ...

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Consolidate the window's memories into the model; return what was done."""
        ...
