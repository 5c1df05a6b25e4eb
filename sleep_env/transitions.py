"""How one step changes an :class:`~sleep_env.episode.Episode` (internal to ``SleepEnv``).

Functions of the episode and the env's config: the schedule's decision, the answer to an item
(memory, reward, counters, step record), entering sleep and waking. Observations, infos and
probe rows stay with :class:`~sleep_env.core.SleepEnv`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sleep_env.config import EnvConfig
from sleep_env.episode import Episode, add_counts
from sleep_env.errors import SleepEnvError
from sleep_env.memory import admit, joined_chars
from sleep_env.schedules import ScheduleClock, SleepDecision
from sleep_env.stream import StreamItem, score_response
from sleep_env.types import SleepWindow, StepRecord

__all__ = ["StepOutcome", "enters_memory", "decide", "answer", "take_step", "wake"]


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What :func:`take_step` did with the presented item."""

    item: StreamItem
    """The item the action answered."""
    reward: float
    """The response's score in [0, 1] (0 for study items)."""
    evicted: int
    """Memory items evicted to admit this item."""
    denied: bool
    """Sleep was requested where the schedule did not allow it."""
    overwritten: int
    """Memory items cleared because a due sleep was not taken."""
    slept: bool
    """The step entered sleep (``ep.window`` is set)."""


def enters_memory(item: StreamItem, feedback: bool) -> bool:
    """Whether ``item`` enters the short-term memory (study items always; queries with feedback)."""
    return item.kind == "study" or feedback


def answer(ep: Episode, item: StreamItem, response: str, config: EnvConfig) -> tuple[float, int]:
    """Apply the item to memory and score the response; return ``(reward, evicted)``."""
    reward, evicted = 0.0, 0
    if enters_memory(item, config.feedback):
        ep.memory, evicted = admit(ep.memory, item.memory_entry, config.context_chars)
    if item.kind == "query":
        reward = score_response(ep.stream.tasks[item.experience], item.problem, response)
        shown = item.problem.answer if config.feedback else None
        ep.day.append((item.problem.prompt, shown))
    return reward, evicted


def decide(ep: Episode, config: EnvConfig) -> SleepDecision:
    """Return the schedule's decision for the clock after the presented item is processed.

    Memoised per presented item (the observation shows it, then the step acts on it): the key
    is the clock plus the identity of the (immutable) memory tuple.
    """
    key = (ep.pos, ep.since_sleep, ep.totals["sleeps"])
    if ep.decided is not None and ep.decided[0] == key and ep.decided[1] is ep.memory:
        return ep.decided[2]
    items = ep.stream.items
    item = items[ep.pos]
    after = ep.memory
    if enters_memory(item, config.feedback):
        after, _ = admit(after, item.memory_entry, config.context_chars)
    clock = ScheduleClock(
        items_seen=ep.pos + 1, items_since_sleep=ep.since_sleep + 1,
        memory_load=joined_chars(after) / config.context_chars,
        experience_ended=item.last_of_experience, stream_ended=ep.pos == len(items) - 1,
        sleeps=ep.totals["sleeps"],
    )  # fmt: skip
    decision = config.schedule.decide(clock)
    _check_decision(config.schedule, clock, decision)
    ep.decided = (key, ep.memory, decision)
    return decision


def _check_decision(schedule: Any, clock: ScheduleClock, decision: Any) -> None:
    """Refuse a decision the observation cannot show or the protocol cannot honour, naming the schedule."""
    name = type(schedule).__name__
    if not isinstance(decision, SleepDecision):
        raise SleepEnvError(
            f"schedule {name}.decide() must return a SleepDecision, got {type(decision).__name__} "
            f"{decision!r:.80} for {clock}; return e.g. SleepDecision(may_sleep=False, due=False, level=0)"
        )
    top = schedule.n_levels
    if decision.level > top or (not decision.may_sleep and decision.level != 0):
        raise SleepEnvError(
            f"schedule {name}.decide() returned level={decision.level} with may_sleep={decision.may_sleep} for "
            f"{clock}; the level must be 0 when no sleep is allowed and 1..n_levels={top} when one is "
            "(raise n_levels in the schedule if it has more levels)"
        )


def take_step(ep: Episode, config: EnvConfig, response: str, wants_sleep: bool) -> StepOutcome:
    """Answer the presented item, advance past it and, if sleep was granted, enter sleep.

    Records the step, updates the counters, clears the memory when a due sleep is not taken and
    sets ``ep.window`` when the agent falls asleep.
    """
    item = ep.stream.items[ep.pos]
    decision = decide(ep, config)
    shown = len(ep.context)
    reward, evicted = answer(ep, item, response, config)
    slept = wants_sleep and decision.may_sleep
    denied = wants_sleep and not decision.may_sleep
    overwritten = 0
    if decision.due and not slept:  # the overwrite a schedule comparison measures
        overwritten, ep.memory = len(ep.memory), ()
    ep.pos += 1
    ep.since_sleep += 1
    add_counts(ep.totals, evicted=evicted, denied=int(denied), overwritten=overwritten)
    ep.records.append(StepRecord(
        step=ep.steps, experience=item.experience, kind=item.kind, prompt=item.text,
        response=response, answer=item.problem.answer if item.kind == "query" else None,
        reward=reward, model_version=ep.model_version, context_chars=shown, evicted=evicted,
        overwritten=overwritten, sleep_requested=wants_sleep, slept=slept, denied=denied,
    ))  # fmt: skip
    ep.steps += 1
    if slept:
        ep.window = SleepWindow(
            level=decision.level, memories=ep.memory, queries=tuple(ep.day),
            step_budget=config.sleep_step_budget, model_version=ep.model_version,
            experience=item.experience,
        )  # fmt: skip
    return StepOutcome(
        item=item, reward=reward, evicted=evicted, denied=denied, overwritten=overwritten,
        slept=slept,
    )  # fmt: skip


def wake(ep: Episode, sleep_cost_steps: int) -> tuple[SleepWindow, int, list[int]]:
    """End a sleep: clear memory, bump ``model_version``, skip ``sleep_cost_steps`` items.

    Returns:
        ``(window, missed, rows)``: the sleep window that ended, the items skipped unanswered and
        the probe rows now due (those deferred to the wake step plus experiences that ended among
        the skipped items).
    """
    items, window = ep.stream.items, ep.window
    ep.records.append(StepRecord(
        step=ep.steps, experience=window.experience, kind="sleep", prompt="", response="",
        answer=None, reward=0.0, model_version=ep.model_version, context_chars=len(ep.context),
    ))  # fmt: skip
    ep.memory, ep.window, ep.since_sleep, ep.day = (), None, 0, []
    ep.model_version += 1
    rows, ep.deferred = list(ep.deferred), ()
    missed = 0
    while missed < sleep_cost_steps and ep.pos < len(items):
        item = items[ep.pos]
        ep.records.append(StepRecord(
            step=ep.steps, experience=item.experience, kind=item.kind, prompt=item.text,
            response="", answer=item.problem.answer if item.kind == "query" else None,
            reward=0.0, model_version=ep.model_version, context_chars=0, missed=True,
        ))  # fmt: skip
        if item.last_of_experience:
            rows.append(item.experience)
        ep.pos += 1
        missed += 1
    add_counts(ep.totals, missed=missed, sleeps=1)
    ep.steps += 1
    return window, missed, rows
