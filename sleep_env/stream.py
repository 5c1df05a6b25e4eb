"""Streams: ordered experiences of study and query items built from registered tasks.

Experience ``j`` of the stream with seed ``s`` uses the task seed
``SeedSequence([s, j]).generate_state(1)[0]``, so item ``i`` of experience ``j`` is the pure function
``task.problem(tseed(s, j), i)`` of ``(s, j, i)``. Its study items are ``task.problem(tseed, i)`` for
``i < n_study`` in order (the item's ``context`` is shown).

A studied item whose ``metadata["key"]`` equals that of a later studied item of the same experience
is *superseded* (an attribute update, an object moved again): queries and probes ask only about the
*current* items (those not superseded), so they expect the newest value. Tasks without keys have no
superseded items. The ``n_query`` queries are drawn from the current items with
``np.random.default_rng([s, j, 1])`` without replacement (repeating only when ``n_query`` exceeds
their number). The probes are ``task.probe(tseed, i)`` for the first ``n_probe`` current items.

The charset of a stream is derived from its tasks: the union of every task's declared
``Task.charset`` (:func:`stream_charset`). Building a stream raises ``ConfigError`` at the first
text with a character outside its own task's declared charset (plus ``EnvConfig.extra_chars``). Everything is a pure function of
the seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sleep_env._validate import as_int, as_opt_int, fail
from sleep_env.errors import SleepEnvError

if TYPE_CHECKING:  # tasks is imported lazily so that building configs never loads task modules
    from tasks.base import Problem, Task

__all__ = [
    "ExperienceConfig", "StreamConfig", "StreamItem", "Stream", "DEFAULT_CHARSET", "stream_charset",
    "probe_leakage", "MAX_STREAM_ITEMS",
]  # fmt: skip

DEFAULT_CHARSET: frozenset[str] = frozenset(chr(c) for c in range(32, 127)) | {"\n"}
"""Printable ASCII (space to ``~``) plus newline: the env's default text charset."""

MAX_PROMPT_CHARS = 4096
"""Longest prompt (and response) the Text spaces declare, in characters."""

MAX_STREAM_ITEMS = 100_000
"""Most study + query items a stream may hold (every item and probe is built when the env is made)."""


@dataclass(frozen=True, kw_only=True)
class ExperienceConfig:
    """One experience: a contiguous block of items from one task.

    Example:
        >>> ExperienceConfig(task="facts", n_study=4, n_query=2).n_query
        2
    """

    task: str
    """Registered task name (see ``tasks.list_tasks()``), e.g. ``"facts"``, ``"babi"``, ``"arc"`` or
    ``"rg:basic_arithmetic"``."""
    task_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Keyword options for ``tasks.make_task(task, **task_kwargs)``."""
    n_study: int
    """Study items (>= 1), presented first, in item order."""
    n_query: int
    """Queries about the studied items (>= 0), asked after all study items."""

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: If a field breaks its rule (the message names it).
        """
        if not isinstance(self.task, str) or not self.task.strip():
            raise fail("task", "a non-empty task name", self.task, "pass e.g. 'facts'")
        if not isinstance(self.task_kwargs, Mapping) or not all(
            isinstance(k, str) for k in self.task_kwargs
        ):
            raise fail("task_kwargs", "a mapping with str keys", self.task_kwargs, "pass e.g. {}")
        object.__setattr__(self, "task_kwargs", dict(self.task_kwargs))
        object.__setattr__(
            self, "n_study", as_int("n_study", self.n_study, low=1, fix="pass e.g. 12")
        )
        object.__setattr__(
            self, "n_query", as_int("n_query", self.n_query, low=0, fix="pass e.g. 3")
        )
        if self.n_study + self.n_query > MAX_STREAM_ITEMS:
            raise fail(
                "n_study + n_query", f"<= {MAX_STREAM_ITEMS} (MAX_STREAM_ITEMS)",
                self.n_study + self.n_query, "lower them, e.g. n_study=12, n_query=3",
            )  # fmt: skip


def _default_experiences() -> tuple[ExperienceConfig, ...]:
    return tuple(ExperienceConfig(task="facts", n_study=12, n_query=3) for _ in range(3))


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """An ordered sequence of experiences plus the probe size.

    Example:
        >>> len(StreamConfig().experiences)
        3
    """

    experiences: tuple[ExperienceConfig, ...] = field(default_factory=_default_experiences)
    """The experiences in order (non-empty; a list is converted to a tuple)."""
    n_probe: int | None = None
    """Probes per experience: the first ``n_probe`` studied items (``None`` = every studied item;
    else 1 <= n_probe <= every experience's ``n_study``)."""

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: If a field breaks its rule (the message names it).
        """
        exps = self.experiences
        if isinstance(exps, list):
            exps = tuple(exps)
        if (
            not isinstance(exps, tuple)
            or not exps
            or not all(isinstance(e, ExperienceConfig) for e in exps)
        ):
            raise fail(
                "experiences", "a non-empty tuple of ExperienceConfig", self.experiences,
                "pass e.g. (ExperienceConfig(task='facts', n_study=12, n_query=12),)",
            )  # fmt: skip
        object.__setattr__(self, "experiences", exps)
        total = sum(e.n_study + e.n_query for e in exps)
        if total > MAX_STREAM_ITEMS:
            raise fail(
                "the stream's items (sum of n_study + n_query)", f"<= {MAX_STREAM_ITEMS} (MAX_STREAM_ITEMS)",
                total, "use fewer or smaller experiences",
            )  # fmt: skip
        n_probe = as_opt_int(
            "n_probe", self.n_probe, low=1, fix="pass None to probe every studied item"
        )
        smallest = min(e.n_study for e in exps)
        if n_probe is not None and n_probe > smallest:
            raise fail(
                "n_probe", f"<= the smallest n_study ({smallest})", n_probe,
                "lower n_probe or pass None to probe every studied item",
            )  # fmt: skip
        object.__setattr__(self, "n_probe", n_probe)


@dataclass(frozen=True, kw_only=True)
class StreamItem:
    """One item of a built stream (internal to the env; holds the hidden answer)."""

    kind: str
    """``"study"`` or ``"query"``."""
    experience: int
    """Index of the experience the item belongs to."""
    problem: Problem
    """The task's problem (the answer lives here, never in an observation)."""
    text: str
    """What the observation's prompt shows: ``problem.context`` (study) or ``problem.prompt``."""
    memory_entry: str
    """What enters short-term memory: the study text, or ``prompt + " " + answer`` (query
    feedback, used only when the env runs with ``feedback=True``)."""
    last_of_experience: bool
    """The item closes its experience."""


@dataclass(frozen=True, kw_only=True)
class Stream:
    """A built stream: items in presentation order, probes and tasks per experience."""

    seed: int
    """The stream seed it was built from."""
    items: tuple[StreamItem, ...]
    """All items, experience by experience."""
    probes: tuple[tuple[Problem, ...], ...]
    """``probes[j]``: the held-out probe problems of experience ``j``."""
    queried: tuple[tuple[bool, ...], ...] = ()
    """``queried[j][k]``: probe ``k`` of experience ``j`` is about an item asked by day (a query of
    experience ``j``); aligned with :attr:`probes` (empty only in hand-built streams)."""
    tasks: tuple[Task, ...]
    """``tasks[j]``: the task that scores experience ``j``."""


def task_seed(seed: int, experience: int) -> int:
    """Return the task seed of experience ``experience`` in the stream with seed ``seed``.

    Example:
        >>> task_seed(0, 0) == task_seed(0, 0) != task_seed(0, 1)
        True
    """
    return int(np.random.SeedSequence([seed, experience]).generate_state(1)[0])


def make_tasks(config: StreamConfig) -> tuple[Task, ...]:
    """Build one task per experience with ``tasks.make_task`` (imported here, lazily).

    Raises:
        ConfigError: If a task name is unknown or its options are rejected (names the field).
    """
    from tasks import make_task

    built = []
    for j, exp in enumerate(config.experiences):
        try:
            built.append(make_task(exp.task, **exp.task_kwargs))
        except (ValueError, TypeError) as err:
            raise fail(
                f"stream.experiences[{j}]", "a buildable task", f"{exp.task} {exp.task_kwargs}",
                f"fix the task name or task_kwargs ({err})",
            ) from err  # fmt: skip
    return tuple(built)


def _query_order(n_study: int, n_query: int, rng: np.random.Generator) -> list[int]:
    order: list[int] = []
    while len(order) < n_query:
        order.extend(int(i) for i in rng.permutation(n_study))
    return order[:n_query]


def current_items(studied: Sequence[Problem]) -> list[int]:
    """Return the indices of the studied items that no later studied item supersedes.

    Item ``i`` is superseded when a later item has the same ``metadata["key"]`` (a key of ``None``
    or a missing key never supersedes).

    Args:
        studied: The study problems of one experience, in presentation order.

    Returns:
        Increasing indices into ``studied``; ``list(range(len(studied)))`` when no keys repeat.

    Example:
        >>> from tasks import Problem
        >>> ps = [Problem(task="t", idx=i, prompt="q", answer=a, context=a, metadata={"key": k})
        ...       for i, (k, a) in enumerate([("x", "1"), ("y", "2"), ("x", "3")])]
        >>> current_items(ps)
        [1, 2]
    """
    last: dict[Any, int] = {}
    for i, p in enumerate(studied):
        key = p.metadata.get("key") if isinstance(p.metadata, Mapping) else None
        if key is not None:
            last[key] = i
    keep = set(last.values())
    return [
        i for i, p in enumerate(studied)
        if i in keep or not isinstance(p.metadata, Mapping) or p.metadata.get("key") is None
    ]  # fmt: skip


def stream_charset(tasks: Sequence[Task]) -> frozenset[str]:
    """Return the charset a stream's texts may use: the union of its tasks' declared charsets.

    Args:
        tasks: One task per experience.

    Returns:
        A frozenset of single characters (printable ASCII plus newline for the built-in families
        that use nothing else).

    Example:
        >>> from tasks import make_task
        >>> stream_charset([make_task("facts")]) == DEFAULT_CHARSET
        True
    """
    chars: frozenset[str] = frozenset()
    for task in tasks:
        chars |= frozenset(task.charset)
    return chars


def _check_declared(texts: Sequence[tuple[str, str]], declared: frozenset[str]) -> None:
    """Raise ConfigError at the first text with a character outside ``declared``."""
    for where, text in texts:
        bad = next((ch for ch in text if ch not in declared), None)
        if bad is not None:
            raise fail(
                f"the text of {where}", "inside the declared charset (the task's charset plus "
                "EnvConfig.extra_chars)", f"{bad} (U+{ord(bad):04X})",
                "declare the character: the task option extra_chars where the task has one, or "
                f"EnvConfig.extra_chars; text: {text[:80]!r}",
            )  # fmt: skip


def build_stream(
    config: StreamConfig, seed: int, tasks: Sequence[Task], *, extra_chars: str | frozenset[str] = ""
) -> Stream:
    """Build the stream for ``seed`` (a pure function of ``(config, seed)``).

    Args:
        config: The stream's configuration.
        seed: Non-negative stream seed.
        tasks: One task per experience (see :func:`make_tasks`).
        extra_chars: Characters declared for every experience besides its task's ``charset``
            (``EnvConfig.extra_chars``).

    Returns:
        The :class:`Stream`.

    Raises:
        ConfigError: If a study, query or probe text has a character outside its task's declared
            ``charset`` plus ``extra_chars`` (names the item, the task and the character).
    """
    extra = frozenset(extra_chars)
    items: list[StreamItem] = []
    probes: list[tuple[Problem, ...]] = []
    queried: list[tuple[bool, ...]] = []
    for j, (exp, task) in enumerate(zip(config.experiences, tasks, strict=True)):
        tseed = task_seed(seed, j)
        studied = [task.problem(tseed, i) for i in range(exp.n_study)]
        current = current_items(studied)
        order = _query_order(len(current), exp.n_query, np.random.default_rng([seed, j, 1]))
        block = [
            StreamItem(
                kind="study",
                experience=j,
                problem=p,
                text=p.context,
                memory_entry=p.context,
                last_of_experience=False,
            )
            for p in studied
        ]
        asked = [studied[current[k]] for k in order]
        block += [StreamItem(kind="query", experience=j, problem=p, text=p.prompt,
                             memory_entry=f"{p.prompt} {p.answer}",
                             last_of_experience=False) for p in asked]  # fmt: skip
        last = block[-1]
        block[-1] = StreamItem(kind=last.kind, experience=j, problem=last.problem, text=last.text,
                               memory_entry=last.memory_entry, last_of_experience=True)  # fmt: skip
        n_probe = len(current) if config.n_probe is None else min(config.n_probe, len(current))
        exp_probes = tuple(task.probe(tseed, current[k]) for k in range(n_probe))
        asked_items = {current[k] for k in order}
        queried.append(tuple(current[k] in asked_items for k in range(n_probe)))
        allowed = task.charset | extra
        shown = [t for it in block for t in (it.text, it.memory_entry)]
        shown += [t for p in exp_probes for t in (p.prompt, p.answer)]
        if not allowed.issuperset("".join(shown)):  # fast path; the slow one names the culprit
            label = f"experience {j}, task {task.name!r}"
            _check_declared(
                [(f"item {len(items) + n} ({it.kind}, {label})", f"{it.text} {it.memory_entry}")
                 for n, it in enumerate(block)]
                + [(f"probe {k} ({label})", f"{p.prompt} {p.answer}") for k, p in enumerate(exp_probes)],
                allowed,
            )  # fmt: skip
        items.extend(block)
        probes.append(exp_probes)
    return Stream(seed=seed, items=tuple(items), probes=tuple(probes), tasks=tuple(tasks), queried=tuple(queried))


def _norm_text(text: str) -> str:
    """Lower-cased letters and digits of ``text``, words joined by one space (leakage comparison)."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def probe_leakage(stream: Stream) -> float:
    """Share of the probes whose prompt was shown by day, up to case, punctuation and spacing.

    A probe leaks when its normalised prompt equals the normalised text of any study item or query
    shown in the stream (any experience). The protocol wants 0: a probe then measures what was
    learnt from the memory, not a memorised quiz question. Whole prompts are compared: a probe
    whose answer stem is the start of a studied sentence (``facts``' default ``probe_stem:
    canonical``: "...\nAnswer: Ann lives in") does not leak by this measure; ``probe_stem:
    reworded`` rewords the stem too.

    Args:
        stream: A built stream.

    Returns:
        Leaked probes / all probes, in [0, 1]; 0.0 for a stream without probes.

    Example:
        >>> cfg = StreamConfig(experiences=(ExperienceConfig(task="facts", n_study=6, n_query=6),))
        >>> probe_leakage(build_stream(cfg, 0, make_tasks(cfg)))
        0.0
    """
    shown = {_norm_text(it.text) for it in stream.items}
    prompts = [p.prompt for ps in stream.probes for p in ps]
    if not prompts:
        return 0.0
    return sum(_norm_text(p) in shown for p in prompts) / len(prompts)


def check_charset(stream: Stream, charset: frozenset[str]) -> None:
    """Check that every text the env can show fits the Text spaces.

    Args:
        stream: A built stream.
        charset: The env's character set.

    Raises:
        ConfigError: Naming the first item with a character outside ``charset`` (or a prompt
            longer than 4096 characters), the character and how to fix it.
    """
    prompts = [it.text for it in stream.items] + [p.prompt for ps in stream.probes for p in ps]
    entries = [it.memory_entry for it in stream.items]
    if charset.issuperset("".join(prompts + entries)) and max(map(len, prompts), default=0) <= MAX_PROMPT_CHARS:
        return  # the common case, checked at C speed; the loop below names the first offender
    texts: list[tuple[str, str, bool]] = []  # (where, text, is shown as a prompt)
    for n, item in enumerate(stream.items):
        where = f"item {n} ({item.kind}, experience {item.experience}, task {item.problem.task!r})"
        texts += [(where, item.text, True), (where, item.memory_entry, False)]
    for j, probes in enumerate(stream.probes):
        texts += [(f"probe {k} of experience {j}", p.prompt, True) for k, p in enumerate(probes)]
    for where, text, is_prompt in texts:
        bad = next((ch for ch in text if ch not in charset), None)
        if bad is not None:
            raise fail(
                f"the text of {where}", "inside the env charset", f"{bad} (U+{ord(bad):04X})",
                f"add the character to EnvConfig.extra_chars; text: {text[:80]!r}",
            )  # fmt: skip
        if is_prompt and len(text) > MAX_PROMPT_CHARS:
            raise fail(
                f"the text of {where}", f"at most {MAX_PROMPT_CHARS} characters", len(text),
                "shorten the task's items",
            )  # fmt: skip


def score_response(task: Task, problem: Problem, response: str) -> float:
    """Score ``response`` with ``task``, checking the score is in [0, 1].

    Raises:
        SleepEnvError: If the task returns a score outside [0, 1] (or nan): a bug in the task.
    """
    score = float(task.score(problem, response))
    if not 0.0 <= score <= 1.0:  # also rejects nan
        raise SleepEnvError(
            f"task {problem.task!r} scored {score} (must be in [0, 1]); fix the task's score()"
        )
    return score
