"""Prompt rendering and the context reader shared by every agent.

Prompt convention: a task prompt whose last line starts with ``"Answer:"`` carries an *answer stem*
(``"Answer: Zorvak Quillby lives in"``); the stem is typed into the assistant's turn so the model
continues it (measured on SmolLM2-135M-Instruct: 0.85 vs 0.46 in-context exact match with 4 facts). Everything before it is the question.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from agents.engine.base import SamplingParams

__all__ = ["PromptFormat", "ContextReader", "DEFAULT_SYSTEM_PROMPT", "ANSWER_PARAMS", "content_words", "words", "context_teacher"]

#: Greedy, short answers: they end at a newline or at the end of the first clause (". " or ", "),
#: which is also where the tasks' exact-match scoring cuts a response.
ANSWER_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=12, stop=("\n", ". ", ", "))

#: Short on purpose: every training step of a sleep runs it (35 instead of ~50 prompt tokens made
#: the default run ~20% faster at equal accuracy, measured with `sleep-env run`).
DEFAULT_SYSTEM_PROMPT = "Answer briefly."

#: A word: a letter or digit of any script ("Köln", "Zürich"), then letters, digits, "'" or "-"
#: (on ASCII text the same words as ``[A-Za-z0-9][A-Za-z0-9'-]*``).
_WORD = re.compile(r"[^\W_](?:[^\W_]|['-])*")
_STOP = frozenset(
    "a an the of in on at to for from by with is are was were be does do did has have had what where which who "
    "whom whose how when why question answer and or as that this it its their his her facts".split()
)


def words(text: str) -> list[str]:
    """The words of ``text`` (:data:`_WORD`), read in Unicode NFC form (a letter typed as base + accent
    mark is one letter: "Ko\u0308ln" reads as "Köln")."""
    return _WORD.findall(unicodedata.normalize("NFC", text))


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` of 3+ characters that are not stop words (a final ``'s`` dropped).

    The vocabulary the context reader matches on; also Dreaming's grounding check.
    """
    out = set()
    for w in words(text):
        lw = w.lower()
        lw = lw[:-2] if lw.endswith("'s") else lw
        if lw not in _STOP and len(lw) >= 3:
            out.add(lw)
    return out


def _split_stem(prompt: str) -> tuple[str, str]:
    lines = prompt.rstrip("\n").split("\n")
    if len(lines) > 1 and lines[-1].startswith("Answer:"):
        return "\n".join(lines[:-1]), lines[-1][len("Answer:") :].strip()
    return prompt, ""


def _is_question(line: str) -> bool:
    line = line.strip()
    return line.startswith("Question:") or line.endswith("?")


def _statement(line: str) -> str:
    """A context line as a statement: an ``Answer:`` label is dropped (the fact stays)."""
    line = line.strip()
    return line[len("Answer:") :].strip() if line.startswith("Answer:") else line


class PromptFormat:
    """Render ``(prompt, context)`` into the model's input text.

    Args:
        tokenizer: The model's tokenizer; its chat template is used when it has one.
        system_prompt: System message for chat models.
    """

    def __init__(self, tokenizer, system_prompt: str = DEFAULT_SYSTEM_PROMPT):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.chat = bool(getattr(tokenizer, "chat_template", None))

    def render(self, prompt: str, context: str = "") -> str:
        """Return the text to feed the model (chat template applied, answer stem in the assistant turn)."""
        question, stem = _split_stem(prompt)
        facts = f"Facts:\n{context.strip()}\n\n" if context.strip() else ""
        if not self.chat:
            return f"{facts}{question}\nAnswer:{' ' + stem if stem else ''}"
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": facts + question},
        ]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + stem


@dataclass(frozen=True, kw_only=True)
class ContextReader:
    """Pick the lines of a context that are relevant to a question (lexical overlap).

    Small models read a short, relevant context far better than a long one (SmolLM2-135M: 0.47 exact
    match with 12 facts in context, 0.97 with only the asked-about person's facts), so
    agents answer from the ``top_k`` best-matching lines. Capitalised words (names) weigh
    ``name_weight``, other content words 1.

    Question lines (``Question: ...`` or ending in ``?``) are never selected: they hold no fact, and
    a short-term memory that also holds the day's answered queries would otherwise fill the
    ``top_k`` lines with questions that share every word with the new one and push the facts out
    (SmolLM2-135M then answered 'dog' for a pet stated as 'iguana'). An answer line keeps its text
    without the ``Answer:`` label; a line repeated (up to case and a final period) counts once, the
    newest copy kept. Limitation: study items that are worked examples (``rg:`` tasks' ``Question: ...``
    / ``Answer: 2930`` pairs) give this reader no demonstrations (their question lines are dropped and
    a bare answer shares no word with a new question); such skill streams need another reader.

    Attributes:
        top_k: Lines kept, >= 1.
        name_weight: Weight of a shared capitalised word.
        min_score: A line needs at least this score to count as relevant.
    """

    top_k: int = 4
    name_weight: float = 3.0
    min_score: float = 3.0

    def __post_init__(self) -> None:
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"ContextReader.top_k must be an int >= 1 (lines kept), got {self.top_k!r}; e.g. top_k=4")

    def _terms(self, text: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for w in words(text):
            lw = w.lower()
            if lw in _STOP or len(lw) < 3:
                continue
            out[lw] = max(out.get(lw, 0.0), self.name_weight if w[0].isupper() else 1.0)
        return out

    def select(self, context: str, question: str) -> str:
        """Return the relevant lines of ``context`` (original order, newline-joined), or "" if none is."""
        q = self._terms(question)
        lines = [_statement(ln) for ln in context.split("\n") if ln.strip() and not _is_question(ln)]
        newest = {ln.rstrip(".").lower(): i for i, ln in enumerate(lines)}  # a fact said twice counts once
        lines = [ln for i, ln in enumerate(lines) if newest[ln.rstrip(".").lower()] == i]
        scored = []
        for i, ln in enumerate(lines):
            terms = self._terms(ln)
            s = sum(q[t] for t in terms if t in q)
            if s >= self.min_score:
                scored.append((s, i))
        scored.sort(key=lambda x: (-x[0], -x[1]))  # best first; newer lines win ties
        keep = sorted(i for _, i in scored[: self.top_k])
        return "\n".join(lines[i] for i in keep)


def context_teacher(reader: ContextReader, answer, memories) -> Callable[[list[str]], list[str]]:
    """A sleep's teacher as a function: answers prompts from ``memories``, or "" where it would guess.

    Args:
        reader: Picks the memory lines relevant to a prompt; a prompt with none gets "".
        answer: The agent's ``answer(prompts, contexts, ...)``, called with the whole memory as every
            prompt's context and ``router="never"`` (the experts stay off: the model reads).
        memories: The sleep window's memories.

    Used by Dreaming (``answers: teacher``) to answer dreamed questions.
    """
    context = "\n".join(memories)

    def teach(prompts: list[str]) -> list[str]:
        found = [bool(reader.select(context, p)) for p in prompts]
        answers = answer(prompts, [context] * len(prompts), router="never")
        return [a if f else "" for a, f in zip(answers, found)]

    return teach
