"""Replay written from the short-term memory itself: what a sleep distils (arXiv 2606.03979 §3.3).

The paper's sleep receives no new input: the replay data D is *sampled from the teacher*, the
pre-sleep model reading its short-term memory. This module turns the memories of a
:class:`~sleep_env.SleepWindow` into replay **prompts**, each with the memory text the teacher
reads while answering it; the teacher's own greedy answers become the targets
(``agents.sleep_agent``). Nothing here depends on one task's wording: a memory is cut into
*units* (its lines, and a line longer than ``max_unit_words`` words into its sentences), and every
template works on any unit of text.

Templates (``ReplayConfig.sources``):

- ``"cloze"``: completions of memory units from their prefixes. For a unit of ``n`` words, up to
  ``cuts_per_unit`` cut points ``c`` in ``[min_prefix_words, n - 1]`` are drawn (all of them when
  there are fewer); the prompt is :data:`RECALL_INSTRUCTION` with the first ``c`` words typed as the
  answer's start, and the teacher, reading the unit, completes it. Reason: a closed-book question
  about studied material is answered by continuing a statement of it ("Vanzem Paswick lives in" ->
  "Thorgamere"), and every cut of every unit is such a statement start, whichever of them a later
  question needs. Budget: at most ``cuts_per_unit`` rows per unit.
- ``"queries"``: the day's questions (``SleepWindow.queries``), answered by the teacher reading the
  memory lines the agent's reader selects. Reason: questions asked by day are part of the day's
  material too; they are one source, never the only one. Budget: one row per distinct question.

At most ``max_rows`` rows per sleep: the day's questions first, at most half of them when cloze is
on too (a seeded subsample beyond that), then a seeded subsample of the cloze prompts.

**Support check.** A generated row is dropped when the memory does not support the teacher's
answer. ``support="lexical"`` (default): every content word of the answer (:func:`content_words`)
must occur in the unit the teacher read; ``"none"`` keeps every non-empty answer. The lexical check
is a bag of words: it does not see word order, and an answer without content words (``"in"``,
``"42"``) passes. The drop rate is
reported by the sleep (``replay_dropped`` / ``replay_rows`` in the sleep report's metrics).
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass

import numpy as np

from agents.prompting import content_words, words

__all__ = ["ReplayConfig", "ReplayPrompt", "RECALL_INSTRUCTION", "memory_units", "cloze_prompts", "supported"]

#: Instruction of recall prompts: the answer's start (a prefix of a memory unit) follows it.
RECALL_INSTRUCTION = "Recall what you know."

_SOURCES = ("cloze", "queries")
_SUPPORT = ("lexical", "none")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, kw_only=True)
class ReplayConfig:
    """What a sleep's teacher writes its replay from (see the module docstring for each template).

    Attributes:
        sources: Templates, a non-empty tuple of ``"cloze"`` and ``"queries"``.
        cuts_per_unit: Cloze prefixes drawn per memory unit (all cuts when a unit has fewer), >= 1.
        min_prefix_words: Shortest cloze prefix in words, >= 1.
        max_unit_words: A memory line longer than this many words is cut into its sentences, >= 4.
        max_rows: Most replay rows written per sleep (a seeded subsample beyond it), >= 1.
        support: ``"lexical"`` (drop answers with a content word the unit does not contain) or
            ``"none"`` (keep every non-empty answer).
    """

    sources: tuple[str, ...] = ("cloze", "queries")
    cuts_per_unit: int = 4
    min_prefix_words: int = 2
    max_unit_words: int = 40
    max_rows: int = 96
    support: str = "lexical"

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ValueError: A field breaks its rule (the message names it, the value and the fix).
        """
        sources = tuple(self.sources) if isinstance(self.sources, (list, tuple)) else self.sources
        if not isinstance(sources, tuple) or not sources or any(s not in _SOURCES for s in sources):
            raise ValueError(f"replay sources must be a non-empty list of {_SOURCES}, got {self.sources!r}; "
                             "e.g. sources=('cloze', 'queries')")
        object.__setattr__(self, "sources", tuple(dict.fromkeys(sources)))
        for name, low in (("cuts_per_unit", 1), ("min_prefix_words", 1), ("max_unit_words", 4), ("max_rows", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"replay {name} must be an int >= {low}, got {value!r}; e.g. {name}="
                                 f"{getattr(ReplayConfig, name)}")
            object.__setattr__(self, name, int(value))
        if self.support not in _SUPPORT:
            raise ValueError(f"replay support must be one of {_SUPPORT}, got {self.support!r}; e.g. support='lexical'")


@dataclass(frozen=True)
class ReplayPrompt:
    """One replay prompt and the memory text its teacher reads.

    Attributes:
        prompt: The task-style prompt (``"...\\nAnswer: <start>"``): the student sees it closed-book.
        context: The memory text the teacher reads while answering (a unit, or selected lines).
        source: The template that wrote it (``"cloze"`` or ``"queries"``).
    """

    prompt: str
    context: str
    source: str


def _is_question(line: str) -> bool:
    line = line.strip()
    return line.startswith("Question:") or line.endswith("?")


def memory_units(memories: tuple[str, ...] | list[str], *, max_unit_words: int = 40) -> list[str]:
    """Cut memories into units of text: their lines, long lines into sentences; questions dropped.

    A line or sentence that is a question (``Question: ...`` or ending in ``?``) holds no fact and is dropped;
    an ``Answer:`` label is removed (the day's feedback answers are statements). Duplicates (up to
    case and a final period) count once, the first copy kept.

    Args:
        memories: Short-term memory items (text, newline-separated lines).
        max_unit_words: Lines with more words than this are cut at sentence ends (". ", "! ", "? ").

    Returns:
        The units in memory order.

    Example:
        >>> memory_units(["Ann lives in Rome.", "Question: Where does Ann live?\\nAnswer: Ann lives in Rome"])
        ['Ann lives in Rome.']
    """
    out: list[str] = []
    seen: set[str] = set()
    for item in memories:
        for line in str(item).split("\n"):
            line = line.strip()
            if not line or _is_question(line):
                continue
            line = line[len("Answer:"):].strip() if line.startswith("Answer:") else line
            parts = _SENTENCE_END.split(line) if len(line.split()) > max_unit_words else [line]
            for unit in (p.strip() for p in parts):
                key = unit.rstrip(".").lower()
                if unit and not _is_question(unit) and key not in seen:
                    seen.add(key)
                    out.append(unit)
    return out


def cloze_prompts(units: list[str], rng: np.random.Generator, *, cuts_per_unit: int = 4,
                  min_prefix_words: int = 2) -> list[ReplayPrompt]:
    """Cloze replay prompts: prefixes of each unit, to be completed by the teacher reading it.

    Args:
        units: Memory units (:func:`memory_units`).
        rng: Draws the cut points when a unit has more than ``cuts_per_unit`` of them.
        cuts_per_unit: Most prefixes per unit.
        min_prefix_words: Shortest prefix in words; a unit needs at least ``min_prefix_words + 1``
            words (units shorter than that give no prompt).

    Returns:
        Prompts in unit order, cut points increasing within a unit.

    Example:
        >>> [p.prompt.split("Answer: ")[1] for p in cloze_prompts(["Ann lives in Rome."], np.random.default_rng(0))]
        ['Ann lives', 'Ann lives in']
    """
    out = []
    for unit in units:
        toks = unit.split()
        cuts = list(range(min_prefix_words, len(toks)))
        if len(cuts) > cuts_per_unit:
            cuts = sorted(int(c) for c in rng.choice(cuts, cuts_per_unit, replace=False))
        out += [ReplayPrompt(f"{RECALL_INSTRUCTION}\nAnswer: {' '.join(toks[:c])}", unit, "cloze") for c in cuts]
    return out


def supported(answer: str, context: str) -> bool:
    """Whether ``context`` supports ``answer`` lexically: the answer is not blank and each of its
    content words (:func:`~agents.prompting.content_words`) occurs among the context's words.

    Example:
        >>> supported("Rome", "Ann lives in Rome."), supported("Paris", "Ann lives in Rome."), supported(" ", "x")
        (True, False, False)
    """
    if not words(answer):
        return False
    return content_words(answer) <= content_words(context) | {w.lower() for w in words(context)}
