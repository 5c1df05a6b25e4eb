"""SQuAD-format knowledge incorporation: study a passage, later answer its questions closed-book.

Reads SQuAD v1.1 or v2.0 JSON (``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``) from a user's path, as
in the SEAL protocol's knowledge-incorporation setting (paper §3). Without a path the task reads the
small fixture shipped with the package (``tasks/data/squad_fictional.json``: 12 passages about
fictional places and things, 3 questions each, written for the tests), so a default run needs no
download.

Item layout: the answerable paragraphs (at least one question with an answer; v2.0 "impossible"
questions are skipped) are visited in the order ``np.random.default_rng([seed, pass]).permutation``
for pass ``idx // n_paragraphs``; item ``idx`` studies that paragraph's passage (``context``). Its
questions are shuffled with ``np.random.default_rng([seed, idx, 1])``: the prompt asks the first,
:meth:`SquadTask.probe` the second (the first again when the paragraph has one question).
Prompts read ``"Question: <question>\\nAnswer:"``, closed-book: the passage is not in the prompt.
Scoring is SQuAD's (Rajpurkar et al. 2016, arXiv 1606.05250; the official v1.1 script): the first
line of the response, normalised, against every gold answer, keeping the best: token F1 (default) or
exact match.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tasks.base import TEXT_CHARSET, Problem, Task, check_index, first_line
from tasks.facts import normalize_answer

__all__ = ["SquadTask", "load_squad", "squad_f1", "FIXTURE_PATH"]

FIXTURE_PATH = Path(__file__).parent / "data" / "squad_fictional.json"
"""The fictional SQuAD v1.1-format fixture shipped with the package (12 passages, 36 questions)."""


@dataclass(frozen=True)
class _Paragraph:
    title: str
    context: str
    questions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (id, question, gold answers)


def _need(obj: Any, key: str, where: str, path: Path, kind: type) -> Any:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: {where} must be a JSON object, got {type(obj).__name__}; "
                         "the file must follow the SQuAD v1.1/v2.0 layout")  # fmt: skip
    if key not in obj:
        raise ValueError(f"{path}: {where} has no key {key!r}; the file must follow the SQuAD "
                         "v1.1/v2.0 layout (data[].paragraphs[].qas[].answers[].text)")  # fmt: skip
    value = obj[key]
    if not isinstance(value, kind):
        raise ValueError(f"{path}: {where}.{key} must be a JSON {kind.__name__}, got "
                         f"{type(value).__name__}")  # fmt: skip
    return value


def load_squad(path: str | Path) -> tuple[_Paragraph, ...]:
    """Read the answerable paragraphs of a SQuAD v1.1/v2.0 JSON file.

    Args:
        path: Path of the JSON file.

    Returns:
        The paragraphs (in file order) that have at least one question with a non-empty answer;
        questions marked ``is_impossible`` or without answers are dropped.

    Raises:
        ValueError: If the file is missing, is not JSON, lacks a key (the message names the path,
            the position such as ``data[3].paragraphs[0].qas[2]`` and the key) or has no
            answerable question at all.

    Example:
        >>> len(load_squad(FIXTURE_PATH))
        12
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"squad file {str(path)!r} does not exist; pass the path of a SQuAD "
                         "v1.1/v2.0 JSON file") from None  # fmt: skip
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"squad file {str(path)!r} is not readable JSON ({err})") from None
    paragraphs = []
    for i, article in enumerate(_need(raw, "data", "the top level", path, list)):
        where = f"data[{i}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for k, para in enumerate(_need(article, "paragraphs", where, path, list)):
            pwhere = f"{where}.paragraphs[{k}]"
            context = _need(para, "context", pwhere, path, str)
            questions = []
            for q, qa in enumerate(_need(para, "qas", pwhere, path, list)):
                qwhere = f"{pwhere}.qas[{q}]"
                question = _need(qa, "question", qwhere, path, str)
                answers = _need(qa, "answers", qwhere, path, list)
                texts = tuple(
                    _need(a, "text", f"{qwhere}.answers[{n}]", path, str)
                    for n, a in enumerate(answers)
                )
                texts = tuple(t.strip() for t in texts if t.strip())
                if qa.get("is_impossible", False) or not texts or not question.strip():
                    continue
                questions.append((str(qa.get("id", qwhere)), " ".join(question.split()), texts))
            if questions:
                paragraphs.append(_Paragraph(str(title), context.strip(), tuple(questions)))
    if not paragraphs:
        raise ValueError(f"squad file {str(path)!r} has no answerable question; pass a SQuAD "
                         "file with data[].paragraphs[].qas[].answers[].text")  # fmt: skip
    return tuple(paragraphs)


def squad_f1(prediction: str, gold: str) -> float:
    """Return SQuAD's token F1 between two answers after :func:`~tasks.facts.normalize_answer`.

    F1 = 2PR/(P+R) over the multiset of shared tokens (the official v1.1 script).

    Example:
        >>> squad_f1("the Grey Sound", "Grey Sound")
        1.0
        >>> round(squad_f1("grey sea", "the Grey Sound"), 2)
        0.5
    """
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


class SquadTask(Task):
    """Closed-book questions about studied SQuAD-format passages (knowledge incorporation).

    Args:
        path: A SQuAD v1.1/v2.0 JSON file; ``None`` = the shipped fictional fixture.
        metric: ``"f1"`` (token F1, default) or ``"em"`` (exact match), best over gold answers.

    Raises:
        ValueError: If ``path`` is not an existing file or ``metric`` is unknown. A malformed file
            raises on first use (naming the path and the missing key).

    Example:
        >>> task = SquadTask()
        >>> p = task.problem(seed=0, idx=0)
        >>> print(p.prompt)
        Question: What stone is the library's tower built of?
        Answer:
        >>> p.answer, task.score(p, " Red sandstone.\\nQuestion: ..."), task.score(p, "sandstone")
        ('red sandstone', 1.0, 0.6666666666666666)
        >>> SquadTask(metric="em").score(p, "sandstone")
        0.0
    """

    name = "squad"

    def __init__(self, path: str | Path | None = None, metric: str = "f1") -> None:  # noqa: D107
        if metric not in ("f1", "em"):
            raise ValueError(f"metric must be 'f1' or 'em', got {metric!r}; pass 'f1' (token F1)")
        self.metric = metric
        self.path = FIXTURE_PATH if path is None else Path(path)
        if not self.path.is_file():
            raise ValueError(f"path must be an existing SQuAD JSON file, got {str(self.path)!r}; "
                             "pass e.g. 'data/dev-v1.1.json' or None for the shipped fixture")  # fmt: skip
        self._paragraphs: tuple[_Paragraph, ...] | None = None
        self._charset: frozenset[str] | None = None

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return f"SquadTask(path={str(self.path)!r}, metric={self.metric!r})"

    def _data(self) -> tuple[_Paragraph, ...]:
        if self._paragraphs is None:  # parsed on first use, never at construction
            self._paragraphs = load_squad(self.path)
        return self._paragraphs

    @property
    def charset(self) -> frozenset[str]:  # type: ignore[override]
        """Printable ASCII + newline plus every character of the file's passages and questions."""
        if self._charset is not None:
            return self._charset
        chars = set(TEXT_CHARSET)
        for p in self._data():
            chars.update(p.context, p.title)
            for _, question, answers in p.questions:
                chars.update(question)
                for a in answers:
                    chars.update(a)
        self._charset = frozenset(chars)
        return self._charset

    def __len__(self) -> int:
        """Return the number of answerable paragraphs (one pass)."""
        return len(self._data())

    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx``: study a passage, asked one of its questions closed-book.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer, or the file is malformed.
        """
        return self._make(seed, idx, 0)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return another question about item ``idx``'s passage (the same one if it has only one)."""
        return self._make(seed, idx, 1)

    def score(self, problem: Problem, response: str) -> float:
        """Score the response's first line: best token F1 (or exact match) over the gold answers.

        Returns:
            A score in [0, 1]; 0.0 for an empty or non-string response. Never raises on text.
        """
        got = first_line(response)
        golds = problem.metadata.get("answers") or (problem.answer,)
        if self.metric == "em":
            want = normalize_answer(got)
            return 1.0 if want and any(want == normalize_answer(g) for g in golds) else 0.0
        return float(max(squad_f1(got, g) for g in golds))

    def _make(self, seed: int, idx: int, which: int) -> Problem:
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        paragraphs = self._data()
        n_pass, slot = divmod(idx, len(paragraphs))
        para = paragraphs[int(np.random.default_rng([seed, n_pass]).permutation(len(paragraphs))[slot])]
        order = np.random.default_rng([seed, idx, 1]).permutation(len(para.questions))
        qid, question, answers = para.questions[int(order[which % len(order)])]
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question}\nAnswer:",
            answer=answers[0],
            context=para.context,
            metadata={"title": para.title, "id": qid, "answers": answers},
        )
