"""Class-incremental intent classification (CLINC150 / Banking77 style; paper §3.1).

Two sources of ``(text, label)`` examples:

- **A user's file** (``path=``): CLINC150's ``data_full.json`` (a JSON object of splits, each a list
  of ``[text, label]`` pairs; ``split`` picks one, default ``"train"``), a JSON list of
  ``[text, label]`` pairs or ``{"text", "label"}`` objects, a ``.jsonl`` file of such objects, or a
  ``.csv`` / ``.tsv`` file with a header naming a ``text`` column and a ``label``, ``category``
  (Banking77) or ``intent`` column.
- **A procedural generator** (no path): intents such as ``cancel_subscription`` are pairs of an
  action and a thing (:data:`ACTIONS` x :data:`THINGS`, 96 classes), each with templated utterances
  built from synonyms ("hey, could you help me stop my membership please"), so the label's words
  need not occur in the utterance.

The class list is sorted (files) or a fixed permutation drawn from
``np.random.default_rng([class_seed])`` (procedural); an experience uses the classes
``first_class .. first_class + n_classes - 1``, so a stream whose experiences take successive
blocks adds new classes in each experience (class-incremental). Item ``idx`` is one example of class
``idx % n_classes``: the class's utterances are shuffled with ``np.random.default_rng([seed, c])``
and pass ``k = idx // n_classes`` studies utterance ``3k``, asks ``3k + 1`` and probes ``3k + 2``
(cyclically), so queries and probes are utterances that were not studied (when a class has at
least 3 per pass). The answer is the label string; scoring is exact match of the response's first
clause after normalisation (lower case, ``_`` and ``-`` read as spaces, punctuation and articles
dropped).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from tasks.base import TEXT_CHARSET, Problem, Task, check_index
from tasks.facts import normalize_answer

__all__ = ["IntentsTask", "load_intents", "ACTIONS", "THINGS"]

ACTIONS: dict[str, tuple[str, ...]] = {
    "cancel": ("cancel", "stop", "end", "terminate"),
    "renew": ("renew", "extend", "prolong"),
    "check": ("check", "look up", "see"),
    "change": ("change", "update", "modify"),
    "report": ("report", "flag", "tell you about a problem with"),
    "pay": ("pay", "settle", "pay off"),
    "book": ("book", "reserve", "schedule"),
    "track": ("track", "follow", "find"),
}
"""Procedural actions and the verbs that express them."""

THINGS: dict[str, tuple[str, ...]] = {
    "subscription": ("subscription", "membership", "plan"),
    "order": ("order", "purchase", "delivery"),
    "card": ("card", "debit card", "bank card"),
    "appointment": ("appointment", "visit", "slot"),
    "bill": ("bill", "invoice", "statement"),
    "password": ("password", "login details", "pin"),
    "flight": ("flight", "plane ticket", "trip"),
    "parcel": ("parcel", "package", "shipment"),
    "account": ("account", "profile", "user account"),
    "insurance": ("insurance", "policy", "cover"),
    "table": ("table", "restaurant booking", "dinner table"),
    "loan": ("loan", "credit", "mortgage"),
}
"""Procedural things and the nouns that name them."""

_OPENERS = ("", "hey, ", "hi, ", "please ", "i need to ", "can you ", "could you help me ", "i want to ")
_CLOSERS = ("", " please", " today", " right now", " for me", " as soon as possible")
_CLAUSE = re.compile(r"[\r\n.,;:!?]")
_LABEL_COLUMNS = ("label", "category", "intent")


def _norm_label(text: str) -> str:
    return normalize_answer(text.replace("_", " ").replace("-", " "))


def load_intents(path: str | Path, split: str = "train") -> dict[str, tuple[str, ...]]:
    """Read ``(text, label)`` examples from a CLINC150/Banking77-style file.

    Args:
        path: ``.json`` (CLINC150 splits, or a list), ``.jsonl``, ``.csv`` or ``.tsv`` (see the
            module docstring).
        split: The split of a CLINC150-style JSON object (e.g. ``"train"``, ``"test"``).

    Returns:
        Label -> its texts in file order (whitespace-collapsed, duplicates kept once).

    Raises:
        ValueError: Naming the path and what is missing (file, split, column, or a malformed row).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"intents file {str(path)!r} does not exist; pass a CLINC150 .json or "
                         "Banking77 .csv file")  # fmt: skip
    rows: list[tuple[str, str]] = []
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                columns = reader.fieldnames or []
                label_col = next((c for c in _LABEL_COLUMNS if c in columns), None)
                if "text" not in columns or label_col is None:
                    raise ValueError(f"{path}: the header {columns} must name a 'text' column and one "
                                     f"of {list(_LABEL_COLUMNS)}")  # fmt: skip
                rows = [(r["text"] or "", r[label_col] or "") for r in reader]
        else:
            text = path.read_text(encoding="utf-8")
            if suffix == ".jsonl":
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                data = json.loads(text)
            if isinstance(data, dict):
                if split not in data:
                    raise ValueError(f"{path}: has no split {split!r} (keys: {sorted(data)[:10]}); "
                                     "pass split=<one of them>")  # fmt: skip
                data = data[split]
            if not isinstance(data, list):
                raise ValueError(f"{path}: expected a list of [text, label] pairs, got {type(data).__name__}")
            for n, row in enumerate(data):
                if isinstance(row, (list, tuple)) and len(row) == 2:
                    rows.append((row[0], row[1]))
                elif isinstance(row, dict) and "text" in row and any(c in row for c in _LABEL_COLUMNS):
                    rows.append((row["text"], row[next(c for c in _LABEL_COLUMNS if c in row)]))
                else:
                    raise ValueError(f"{path}: row {n} must be [text, label] or an object with keys "
                                     f"'text' and 'label', got {str(row)[:80]}")  # fmt: skip
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as err:
        raise ValueError(f"intents file {str(path)!r} is not readable ({err})") from None
    examples: dict[str, list[str]] = {}
    for text, label in rows:
        if not isinstance(text, str) or not isinstance(label, str):
            raise ValueError(f"{path}: texts and labels must be strings, got {text!r}, {label!r}")
        text, label = " ".join(text.split()), " ".join(label.split())
        if text and label and text not in examples.setdefault(label, []):
            examples[label].append(text)
    if not examples:
        raise ValueError(f"intents file {str(path)!r} has no (text, label) example")
    return {label: tuple(texts) for label, texts in examples.items()}


def _procedural() -> dict[str, tuple[str, ...]]:
    examples = {}
    for action, verbs in ACTIONS.items():
        for thing, nouns in THINGS.items():
            examples[f"{action}_{thing}"] = tuple(
                f"{o}{v} my {n}{c}" for o in _OPENERS for v in verbs for n in nouns for c in _CLOSERS
            )
    return examples


class IntentsTask(Task):
    """Classify utterances into intents; each experience can add a new block of classes.

    Args:
        path: A CLINC150/Banking77-style file (see :func:`load_intents`); ``None`` = procedural.
        split: The split of a CLINC150-style JSON file.
        first_class: Index of the experience's first class in the class list (>= 0).
        n_classes: Classes in the experience (>= 1; ``first_class + n_classes`` <= number of classes).
        class_seed: Seed of the procedural class order (the same in every experience of a stream).

    Raises:
        ValueError: If an option breaks its rule, or (on first use) the file is malformed or has
            too few classes.

    Example:
        >>> task = IntentsTask(n_classes=4)
        >>> p = task.problem(seed=0, idx=0)
        >>> p.context
        'The request "could you help me check my account today" has the intent check_account.'
        >>> print(p.prompt)
        Question: What is the intent of the request "could you help me see my profile for me"?
        Answer: The intent is
        >>> task.score(p, " check_account.\\n"), task.score(p, "Check account"), task.score(p, "pay_bill")
        (1.0, 1.0, 0.0)
    """

    name = "intents"

    def __init__(  # noqa: D107
        self,
        path: str | Path | None = None,
        split: str = "train",
        first_class: int = 0,
        n_classes: int = 5,
        class_seed: int = 0,
    ) -> None:
        for field, value, low in (("first_class", first_class, 0), ("n_classes", n_classes, 1),
                                  ("class_seed", class_seed, 0)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{field} must be an integer >= {low}, got {value!r}")
        self.path = None if path is None else Path(path)
        if self.path is not None and not self.path.is_file():
            raise ValueError(f"path must be an existing intents file, got {str(self.path)!r}; pass a "
                             "CLINC150 .json or Banking77 .csv file, or None for procedural intents")  # fmt: skip
        self.split, self.first_class, self.n_classes = split, int(first_class), int(n_classes)
        self.class_seed = int(class_seed)
        self._classes: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        path = None if self.path is None else str(self.path)
        return (f"IntentsTask(path={path!r}, split={self.split!r}, first_class={self.first_class}, "
                f"n_classes={self.n_classes}, class_seed={self.class_seed})")  # fmt: skip

    def classes(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Return this experience's classes: ``(label, utterances)`` pairs (loaded on first use).

        Raises:
            ValueError: If the file is malformed or has fewer than ``first_class + n_classes`` classes.
        """
        if self._classes is None:
            if self.path is None:
                examples = _procedural()
                labels = sorted(examples)
                order = np.random.default_rng([self.class_seed]).permutation(len(labels))
                labels = [labels[int(i)] for i in order]
            else:
                examples = load_intents(self.path, self.split)
                labels = sorted(examples)
            stop = self.first_class + self.n_classes
            if stop > len(labels):
                raise ValueError(f"first_class + n_classes must be <= {len(labels)} (the number of "
                                 f"classes), got {self.first_class} + {self.n_classes}")  # fmt: skip
            self._classes = tuple((lab, examples[lab]) for lab in labels[self.first_class:stop])
        return self._classes

    @property
    def charset(self) -> frozenset[str]:  # type: ignore[override]
        """Printable ASCII + newline, plus every character of a file's texts and labels."""
        if self.path is None:
            return TEXT_CHARSET
        chars = set(TEXT_CHARSET)
        for label, texts in self.classes():
            chars.update(label)
            for t in texts:
                chars.update(t)
        return frozenset(chars)

    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx``: a studied labelled utterance and a new utterance to classify."""
        return self._make(seed, idx, 1)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return item ``idx`` with a third utterance of the same class (a held-out probe)."""
        return self._make(seed, idx, 2)

    def score(self, problem: Problem, response: str) -> float:
        """1.0 when the response's first clause is the label (normalised), else 0.0."""
        if not isinstance(response, str):
            return 0.0
        got = _norm_label(_CLAUSE.split(response, maxsplit=1)[0])
        return 1.0 if got and got == _norm_label(problem.answer) else 0.0

    def _make(self, seed: int, idx: int, which: int) -> Problem:
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        classes = self.classes()
        k, c = divmod(idx, len(classes))
        label, texts = classes[c]
        order = np.random.default_rng([seed, self.first_class + c]).permutation(len(texts))
        studied = texts[int(order[(3 * k) % len(texts)])]
        asked = texts[int(order[(3 * k + which) % len(texts)])]
        if which == 1:
            question = f'What is the intent of the request "{asked}"?'
        else:
            question = f'Which intent does the request "{asked}" express?'
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question}\nAnswer: The intent is",
            answer=label,
            context=f'The request "{studied}" has the intent {label}.',
            metadata={"label": label, "class_index": self.first_class + c},
        )
