"""Building blocks of Dreaming (:mod:`agents.dreaming`).

Dream templates and parsing, grounding and cloze items, the validators of Dreaming's inputs, the
gradient score and top-k + b selection (pure functions). The model side (the generator's low-rank
adapter, :class:`DreamTarget`, :func:`expert_target`) is :mod:`agents.dream_model`, re-exported here.

Import them from :mod:`agents.dreaming`, which re-exports every public name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from agents.dream_model import DreamTarget, LowRankAdapter, expert_target  # noqa: F401  (re-exported)

__all__ = ["DreamTemplate", "TEMPLATES", "parse_dream", "grounded", "cloze_pairs", "qa_pairs", "older_pairs", "check_memories", "relabel", "qa_text", "Teacher", "gradient_alignment", "select_dreams", "LowRankAdapter",
           "DreamTarget", "expert_target", "RECALL", "ARC_QUESTION",
           "REWORD_SHOTS", "split_question", "parse_rewording"]

_SCORES = ("cosine", "dot", "norm")
#: Instruction of recall rows (same as ``agents.sleep_agent.RECALL_INSTRUCTION``).
RECALL = "Recall what you know."


# -- templates and parsing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DreamTemplate:
    """How to ask for dreams of one task family and how to read them.

    Attributes:
        instruction: The request, shown after the memories.
        primer: Text typed at the start of the model's answer (part of the dream).
    """

    instruction: str
    primer: str


#: Prompt templates per task family. ``qa``: question/answer pairs (facts, SQuAD, bAbI, intents);
#: ``implications``: SEAL's knowledge-incorporation self-edit (statements implied by the passage);
#: ``arc``: new demonstrations of the same grid transformation.
TEMPLATES: dict[str, DreamTemplate] = {
    "qa": DreamTemplate("Write new questions about the facts above and answer each, as 'Question: ...' "
                        "then 'Answer: ...' lines.", "Question:"),
    "implications": DreamTemplate("List several implications of the facts above, one statement per line.", "1."),
    "arc": DreamTemplate("Write one new example of the same transformation, as 'Input:' and 'Output:' grids.", "Input:\n"),
}

_QA = re.compile(r"(?:Question|Q):\s*(.+?)\s*(?:\n\s*|(?<=\?)\s+)(?:Answer:|A:|The answer is\b)\s*([^\n]+?)(?=\s+(?:Question|Q):|\n|$)")
_IO = re.compile(r"Input:\s*\n((?:[0-9]+\n)+)\s*Output:\s*\n((?:[0-9]+(?:\n|$))+)")
_NUM = re.compile(r"^\s*(?:\d+[.)]|[-*])\s*")
ARC_QUESTION = "Question: What is the output grid for this test input?\n{grid}\nAnswer:"


def parse_dream(text: str, template: str, *, max_rows: int = 8) -> list[tuple[str, str]]:
    r"""Read a dream into SFT rows ``(task-style prompt, answer)``; ``[]`` when nothing parses (bad text never raises).

    Args:
        text: The dream (primer included).
        template: A key of :data:`TEMPLATES`.
        max_rows: Rows kept at most.

    ``qa`` accepts ``Question:``/``Q:`` lines followed by an ``Answer:``/``A:``/``The answer is`` line,
    or both on one line after a ``?`` (``Question: Where does Ann live? Answer: Rome Question: ...``);
    all seen in SmolLM2-135M's dreams.

    Raises:
        ValueError: ``template`` is not a key of :data:`TEMPLATES` (malformed ``text`` never raises).

    Returns:
        ``qa``: ``("Question: q\\nAnswer:", "a")`` per pair; ``implications``: ``(RECALL + "\\nAnswer:",
        statement)`` per line of at least 3 words; ``arc``: the ARC query prompt per Input/Output pair.
    """
    if not isinstance(template, str) or template not in TEMPLATES:  # a caller's mistake, not model output
        raise ValueError(f"parse_dream: template must be one of {sorted(TEMPLATES)}, got {template!r}")
    rows: list[tuple[str, str]] = []
    if not isinstance(text, str):
        return rows
    if template == "qa":
        rows = [(f"Question: {q.strip()}\nAnswer:", a.strip()) for q, a in _QA.findall(text) if q.strip() and a.strip()]
    elif template == "implications":
        lines = [_NUM.sub("", ln).strip() for ln in text.split("\n")]
        rows = [(f"{RECALL}\nAnswer:", ln) for ln in lines if len(ln.split()) >= 3]
    elif template == "arc":
        rows = [(ARC_QUESTION.format(grid=i.strip()), o.strip()) for i, o in _IO.findall(text + "\n")]
    return list(dict.fromkeys(rows))[:max_rows]


def cloze_pairs(memories: Sequence[str], queries: Sequence[tuple[str, str | None]], limit: int | None = None) -> list[tuple[str, str]]:
    """Cloze items of the day's memory statements: ``(the line up to an answer, the answer)``.

    For every answered query ``(question, answer)`` and every memory line that contains ``answer``
    (case-sensitive, as whole words) after some text, the pair ``(line[:start].rstrip(), answer)``
    for its first such occurrence:
    "Ann Lee lives in Rome." with the answer "Rome" gives ("Ann Lee lives in", "Rome"). Question
    lines (``Question: ...`` or ending in ``?``), label lines (the text before the answer ends
    with ":", e.g. "Answer: Rome") and lines where a question precedes the answer (a "?" in the text
    before it, e.g. "Where does Ann live? Rome") are skipped: they test the question format, not the
    statement.
    Used by Dreaming's recall guard (``DreamingConfig.recall_guard``).

    Args:
        memories: The sleep window's memories (split into lines here).
        queries: ``(question, answer | None)`` pairs; unanswered or blank answers are skipped.
        limit: Keep at most this many (the first ones), None = all.

    Returns:
        Distinct pairs in memory order (characters, no chat template).

    Raises:
        TypeError: ``memories`` is not a sequence of strings, or ``queries`` not (str, str | None) pairs.
        ValueError: ``limit`` is not None or an int >= 0.

    Example:
        >>> cloze_pairs(["Ann Lee lives in Rome.", "Answer: Rome", "Bo works as a baker."],
        ...             [("Where does Ann Lee live?", "Rome"), ("What does Bo do?", "baker"), ("?", None)])
        [('Ann Lee lives in', 'Rome'), ('Bo works as a', 'baker')]
    """
    memories = check_memories(memories)
    queries = qa_pairs("queries", queries)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
    answers = list(dict.fromkeys(a.strip() for _, a in queries if a and a.strip()))
    out: dict[tuple[str, str], None] = {}
    for line in (ln.strip() for m in memories for ln in m.split("\n") if ln.strip()):
        if line.startswith("Question:") or line.endswith("?"):
            continue
        for a in answers:
            for hit in re.finditer(rf"(?<!\w){re.escape(a)}(?!\w)", line):  # the first usable occurrence
                prefix = line[: hit.start()].rstrip()
                if prefix and not prefix.endswith(":") and "?" not in prefix and "？" not in prefix:  # no label, no question before
                    out[(prefix, a)] = None
                    break
    pairs = list(out)
    return pairs if limit is None else pairs[:limit]


def grounded(question: str, answer: str, memories: Sequence[str]) -> bool:
    """Whether a ``qa`` dream row only claims what one memory line states (lexical check, no model).

    The row's *claim* is the answer's content words that its question does not contain
    (:func:`agents.prompting.content_words`); its *subject* is the question's capitalised content
    words (names). The row is grounded iff some memory line contains every word of the claim and of
    the subject (a question without names: the claim and at least one of the question's content
    words). A row whose answer adds no word to its question claims nothing and is not grounded.

    Example: with the memory "Kailgul Griwood has a pet owl.", ("What pet does Kailgul Griwood
    have?", "Kailgul Griwood has a pet owl") and ("Who has an owl?", "Kailgul Griwood") are
    grounded; "... a pet cat" (a dreamt fact), "Kaidusvale" for "Kaidousvale" (a misspelt town) and
    another person's name as the answer are not.

    Args:
        question / answer: The row as parsed (text, no chat template).
        memories: The sleep window's memories (split into lines here).
    """
    from agents.prompting import content_words, words

    asked = content_words(question)
    claim = content_words(answer) - asked
    if not claim:
        return False
    subject = {w.lower().removesuffix("'s") for w in words(question) if w[0].isupper() and len(w) > 1} & asked
    for line in (ln for m in memories for ln in m.split("\n") if ln.strip()):
        said = content_words(line)
        if claim <= said and (subject <= said if subject else (not asked or bool(asked & said))):
            return True
    return False


#: Answers task-style prompts (``"Question: ...\nAnswer:"``) by reading the sleep window's memories;
#: "" = cannot answer from them (:func:`agents.prompting.context_teacher`).
Teacher = Callable[[list[str]], list[str]]


def _norm(text: str) -> str:
    """NFC, lower case, runs of non-alphanumerics (any script: "Köln" stays a word) -> one space (answer comparison)."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFC", text).lower()).strip()


def relabel(parsed: list[list[tuple[str, str]]], teacher: Teacher) -> tuple[list[list[tuple[str, str]]], list[int]]:
    """Replace each row's answer by the teacher's (one batched call); drop rows it leaves unanswered.

    Args:
        parsed: Per dream, its ``(question prompt, answer)`` rows.
        teacher: Answers the question prompts from the memories ("" = cannot).

    Returns:
        (rows per dream, rows whose answer changed per dream; "rome." and "Rome" are the same answer).
    """
    flat = [q for rows in parsed for q, _ in rows]
    answers = iter(teacher(flat) if flat else [])
    out, changed = [], []
    for rows in parsed:
        new = [(q, a, (t or "").strip()) for (q, a), t in zip(rows, answers)]
        out.append([(q, t) for q, _, t in new if t])
        changed.append(sum(bool(t) and _norm(t) != _norm(a) for _, a, t in new))
    return out, changed


#: Few-shot prompt of the rewordings (raw text, no chat template: SmolLM2-135M-Instruct asked in its
#: chat template to reword a question answers it instead; with these three generic examples it writes
#: e.g. "What pet does X own?" for "What pet does X have?").
REWORD_SHOTS = ("Reword each question. Keep its meaning and its names.\n\n"
                "Question: What is the capital of France?\nReworded: Which city is the capital of France?\n\n"
                "Question: When was Mary Smith born?\nReworded: In which year is Mary Smith's birth?\n\n"
                "Question: Who owns the red car?\nReworded: Whose is the red car?\n\n"
                "Question: {question}\nReworded:")


def split_question(prompt: str) -> tuple[str, str, str] | None:
    r"""``(label, question, stem)`` of a one-line question prompt, or None.

    ``"Question: Where does Ann live?\nAnswer: Ann lives in"`` -> ``("Question: ", "Where does Ann
    live?", "Ann lives in")``; the label is ``"Question: "`` or ``""``, the stem ``""`` when there is no
    ``Answer:`` line. None when the question part is not one line ending in "?" (e.g. a passage).

    Raises:
        TypeError: ``prompt`` is not a string.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {prompt!r}")
    lines = prompt.rstrip("\n").split("\n")
    stem = ""
    if len(lines) > 1 and lines[-1].startswith("Answer:"):
        stem, lines = lines[-1][len("Answer:"):].strip(), lines[:-1]
    if len(lines) != 1:
        return None
    q = lines[0].strip()
    label = "Question: " if q.startswith("Question:") else ""
    q = q[len("Question:"):].strip() if label else q
    return (label, q, stem) if q.endswith("?") and len(q) > 1 else None


#: Capitalised words that start a question or sentence without being names (a first word not in
#: this set counts as a name: "Ann lives where?").
_OPENERS = frozenset("""what where who whom whose when which why how is are was were does do did can could will
would should has have had in on at for from to by of the a an and or if tell name give""".split())


def _words(text: str) -> list[str]:
    """Words (letters of any script, digits, hyphens); a possessive "'s" / "’s" is split off ("Lee's" -> "Lee")."""
    return re.findall(r"[^\W_][\w-]*", text)


def _names(question: str) -> list[str]:
    """The names a rewording must keep: capitalised words, the first one only if it is not an opener."""
    words = _words(question)
    return [w for i, w in enumerate(words) if w[0].isupper() and (i > 0 or w.lower() not in _OPENERS)]


def parse_rewording(text: str, question: str) -> str | None:
    r"""The model's rewording of ``question`` from its completion of :data:`REWORD_SHOTS`, or None.

    Kept: the first line, stripped, when it ends in "?", has a word before it, is at most 200
    characters, differs from the question (lower case, punctuation ignored) and keeps every name of
    it (capitalised words, any script, whole words; "Lee's" keeps "Lee"; a first word counts unless
    it is a question opener such as "What"). A rewording may still change the meaning ("Who lives in
    Ann Lee?"); the guard compares the same items before and after an apply, so such an item adds
    noise, not bias. Model output is data: ``text`` that is not a string gives None.

    Args:
        text: The model's completion (characters).
        question: The question that was reworded (str).

    Raises:
        TypeError: ``question`` is not a string.

    Example:
        >>> parse_rewording(" What pet does Ann Lee own?\nQuestion: x", "What pet does Ann Lee have?")
        'What pet does Ann Lee own?'
        >>> parse_rewording(" In which town is Ann Lee's home?", "Where does Ann Lee live?")
        "In which town is Ann Lee's home?"
        >>> [parse_rewording(t, "What pet does Ann Lee have?") for t in (" What pet does Ann Lee have?", " Whodat?", "Pets", " ?")]
        [None, None, None, None]
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a string, got {question!r}")
    line = text.strip().split("\n")[0].strip() if isinstance(text, str) else ""
    if not line.endswith("?") or not _words(line) or len(line) > 200 or _norm(line) == _norm(question):
        return None
    words = set(_words(line))
    return line if all(n in words for n in _names(question)) else None


def qa_text(rows: Sequence[tuple[str, str]]) -> str:
    """``qa`` rows written back in the dream format, after the primer: ``" q1\nAnswer: a1\nQuestion: q2\nAnswer: a2"``."""
    qs = [q.removeprefix("Question:").removesuffix("Answer:").strip() for q, _ in rows]
    return " " + "\nQuestion: ".join(f"{q}\nAnswer: {a}" for q, (_, a) in zip(qs, rows))


def _demos(memories: Sequence[str]) -> list[tuple[str, str]]:
    """ARC demonstrations in the memories as (input grid, output grid) text pairs."""
    return [(i.strip(), o.strip()) for m in memories for i, o in _IO.findall(m + "\n")]


# -- pure maths -----------------------------------------------------------------------------------------
def gradient_alignment(grad: torch.Tensor, reference: torch.Tensor, kind: str = "cosine") -> float:
    """Scalar importance of a dream from its SFT gradient (arXiv 2606.03979 §3.4; GREATS, arXiv 2409.19458).

    Args:
        grad: (P,) float, flattened ``grad_theta L_SFT(dream)`` on the trainable tensors.
        reference: (P,) float, flattened ``grad_theta L_tau`` (loss = minus tau's logprob).
        kind: ``"cosine"`` (default; ``g.r / (|g| |r|)`` in [-1, 1]), ``"dot"`` (``g.r``: GREATS'
            first-order loss reduction per unit step) or ``"norm"`` (``|g|``: G-DIG-style magnitude,
            ignores the reference).

    Returns:
        The score (higher = keep); 0.0 when a norm is 0; ``-inf`` when a value is not finite.
    """
    if kind not in _SCORES:
        raise ValueError(f"kind must be one of {_SCORES}, got {kind!r}")
    g, r = grad.double(), reference.double()
    if not (bool(torch.isfinite(g).all()) and bool(torch.isfinite(r).all())):
        return float("-inf")
    if kind == "norm":
        return float(g.norm())
    dot = float(g @ r)
    if kind == "dot":
        return dot
    den = float(g.norm() * r.norm())
    return dot / den if den > 0 else 0.0


def select_dreams(scores: Sequence[float], k: int, b: int, rng: np.random.Generator) -> list[int]:
    """Top-``k`` indices by score plus ``b`` distinct random others.

    Args:
        scores: One score per dream (``-inf`` for a dream without rows: ranked last).
        k: Kept by score (ties: lower index first).
        b: Kept at random among the rest.
        rng: Source of the random picks.

    Returns:
        ``min(k + b, len(scores))`` distinct indices: the top-k first (best first), then the random ones.

    Raises:
        ValueError: ``k`` or ``b`` is not an int >= 0.
    """
    for name, v in (("k", k), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"select_dreams: {name} must be an int >= 0 (dreams kept), got {v!r}")
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    top = order[:k]
    rest = order[k:]
    extra = [rest[i] for i in rng.choice(len(rest), min(b, len(rest)), replace=False)] if rest and b else []
    return top + [int(i) for i in extra]


def older_pairs(older) -> list[tuple[str, str]]:
    """``older`` as a list of ``(question, answer)``; a mapping is read as question -> answer; None = none.

    Raises:
        TypeError: ``older`` is not a collection of (str, str | None) pairs.
    """
    return qa_pairs("older", [] if older is None else older.items() if isinstance(older, Mapping) else older)


def qa_pairs(name: str, items) -> list[tuple[str, str | None]]:
    """``items`` as a list of ``(str, str | None)`` pairs, or a TypeError naming ``name``, the item and the fix."""
    fix = f"pass e.g. {name}=[('Where does Ann live?', 'Rome')]"
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"{name} must be a collection of (question, answer) pairs, got {items!r}; {fix}")
    out = list(items)
    for item in out:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
                and (item[1] is None or isinstance(item[1], str))):
            raise TypeError(f"{name} must hold (question, answer) pairs of strings (answer may be None), got {item!r}; {fix}")
    return [(q, a) for q, a in out]


def check_memories(memories) -> list[str]:
    """``memories`` as a list of strings (a generator is read once), or a TypeError naming the fix."""
    items = list(memories) if isinstance(memories, Iterable) and not isinstance(memories, (str, bytes, Mapping)) else None
    if items is None or not all(isinstance(m, str) for m in items):
        raise TypeError(f"memories must be a sequence of strings (SleepWindow.memories), got {memories!r:.80}; "
                        "pass e.g. ['Ann lives in Rome.']")
    return items
