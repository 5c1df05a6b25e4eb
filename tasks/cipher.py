"""Continual translation of novel languages: procedural, invertible word-level languages (CTNL).

The paper's CTNL experiment (§3.3) learns unseen languages (Kalamang, Manchu) in context and
translates them into English, scored with chrF. Here each seed defines one invented language,
drawn from ``np.random.default_rng([seed])``: a bijective vocabulary (``n_nouns`` nouns,
``n_verbs`` verbs and ``n_adjectives`` adjectives taken from English pools, plus "the", each mapped to
a distinct invented word), a word order of subject, verb and object (one of the six) and an
adjective position (before or after its noun). A language is invertible: every invented word has one
English word and the order rule is fixed, so a sentence translates both ways exactly.

English sentences read ``the [adjective] noun verb the [adjective] noun`` (adjectives with
probability 1/2 each). Item ``idx`` studies one parallel sentence (``np.random.default_rng([seed,
idx])``): ``"<Language>: <sentence> = English: <sentence>"``. Its prompt asks to translate a *new*
sentence of the same language (``default_rng([seed, idx, 1])``) and :meth:`CipherTask.probe`
another one (``default_rng([seed, idx, 2])``), both different from the studied one. In a stream one
experience is one language (each experience has its own task seed). With few study items a query
may use a word that no studied sentence showed; chrF then gives partial credit. ``direction="to_english"``
(default, as in the paper) translates into English; ``"from_english"`` into the language.

Scoring: chrF (Popović 2015, character n-grams up to 6, beta 2) of the response's first line against
the reference, via ``sacrebleu.sentence_chrf``, divided by 100 (install ``sleep-env[tasks]``).
"""

from __future__ import annotations

import numpy as np

from tasks.base import Problem, Task, check_index, first_line

__all__ = ["CipherTask", "NOUNS", "VERBS", "ADJECTIVES", "ORDERS"]

NOUNS: tuple[str, ...] = (
    "dog", "cat", "farmer", "child", "bird", "horse", "teacher", "river", "king", "fish",
    "woman", "man", "stone", "tree", "boat", "house",
)  # fmt: skip
VERBS: tuple[str, ...] = (
    "sees", "likes", "finds", "carries", "follows", "paints", "hears", "pushes", "feeds", "calls",
)  # fmt: skip
ADJECTIVES: tuple[str, ...] = (
    "big", "small", "old", "young", "red", "green", "happy", "tired", "quiet", "brave",
)  # fmt: skip
ORDERS: tuple[str, ...] = ("SVO", "SOV", "VSO", "VOS", "OVS", "OSV")
"""Word orders of subject (S), verb (V) and object (O)."""

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "kh", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "aa", "ei", "ou")
_CODAS = ("", "", "n", "r", "k", "m", "sh", "l")


def _word(rng: np.random.Generator, syllables: int) -> str:
    return "".join(
        _ONSETS[int(rng.integers(len(_ONSETS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
        + _CODAS[int(rng.integers(len(_CODAS)))]
        for _ in range(syllables)
    )  # fmt: skip


def _dependency_error(err: ImportError) -> ImportError:
    return ImportError(
        f"the cipher task scores with chrF from sacrebleu, which is not installed ({err}); "
        'install it with: pip install "sleep-env[tasks]"'
    )


class CipherTask(Task):
    """Translate sentences of a procedurally generated language (one language per seed).

    Args:
        n_nouns: Nouns in the vocabulary, 2 <= n_nouns <= 16.
        n_verbs: Verbs, 1 <= n_verbs <= 10.
        n_adjectives: Adjectives, 0 <= n_adjectives <= 10.
        direction: ``"to_english"`` (default) or ``"from_english"``.

    Raises:
        ValueError: If an option breaks its rule (the message names it).

    Example:
        >>> task = CipherTask()
        >>> p = task.problem(seed=0, idx=0)
        >>> p.context
        'Sholzaaic: shu vonkhi zaashfash mirpaal shu meinkeil traashtaar = English: the young fish calls the tired child'
        >>> print(p.prompt)
        Question: Translate from Sholzaaic into English: shu damlu paanseir kimsun shu vudosh traashtaar
        Answer:
        >>> p.answer
        'the quiet fish paints the old bird'
        >>> task.score(p, p.answer), task.score(p, "")
        (1.0, 0.0)
    """

    name = "cipher"

    def __init__(  # noqa: D107
        self, n_nouns: int = 6, n_verbs: int = 4, n_adjectives: int = 4, direction: str = "to_english"
    ) -> None:
        for field, value, low, high in (
            ("n_nouns", n_nouns, 2, len(NOUNS)), ("n_verbs", n_verbs, 1, len(VERBS)),
            ("n_adjectives", n_adjectives, 0, len(ADJECTIVES)),
        ):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{field} must be an integer in [{low}, {high}], got {value!r}")
        if direction not in ("to_english", "from_english"):
            raise ValueError(f"direction must be 'to_english' or 'from_english', got {direction!r}")
        self.n_nouns, self.n_verbs, self.n_adjectives = int(n_nouns), int(n_verbs), int(n_adjectives)
        self.direction = direction
        self._languages: dict[int, dict] = {}  # seed -> language (a cache of pure results)

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return (f"CipherTask(n_nouns={self.n_nouns}, n_verbs={self.n_verbs}, n_adjectives="
                f"{self.n_adjectives}, direction={self.direction!r})")  # fmt: skip

    def language(self, seed: int) -> dict:
        """Return the language of ``seed``: its name, lexicon, word order and adjective position.

        Returns:
            A dict with ``name`` (str), ``lexicon`` (English word -> invented word, bijective),
            ``nouns``, ``verbs``, ``adjectives`` (the English words used), ``order`` (one of
            :data:`ORDERS`) and ``adjective_first`` (bool).

        Raises:
            ValueError: If ``seed`` is not a non-negative integer.
        """
        seed = check_index("seed", seed)
        if seed not in self._languages:
            rng = np.random.default_rng([seed])
            nouns = [NOUNS[int(i)] for i in rng.choice(len(NOUNS), self.n_nouns, replace=False)]
            verbs = [VERBS[int(i)] for i in rng.choice(len(VERBS), self.n_verbs, replace=False)]
            adjs = [ADJECTIVES[int(i)] for i in rng.choice(len(ADJECTIVES), self.n_adjectives, replace=False)]
            lexicon: dict[str, str] = {}
            taken = set(NOUNS + VERBS + ADJECTIVES + ("the",))
            for english in ["the", *nouns, *verbs, *adjs]:
                word = _word(rng, 1 if english == "the" else 2)
                while word in taken:  # deterministic redraw: invented words are unique
                    word = _word(rng, 2)
                taken.add(word)
                lexicon[english] = word
            name = _word(rng, 2).capitalize() + "ic"
            self._languages[seed] = {
                "name": name, "lexicon": lexicon, "nouns": nouns, "verbs": verbs, "adjectives": adjs,
                "order": ORDERS[int(rng.integers(len(ORDERS)))], "adjective_first": bool(rng.random() < 0.5),
            }  # fmt: skip
        return self._languages[seed]

    def sentence_pair(self, seed: int, rng: np.random.Generator) -> tuple[str, str]:
        """Draw one sentence of the language of ``seed``: ``(english, translation)``."""
        lang = self.language(seed)

        def phrase() -> tuple[list[str], list[str]]:
            noun = lang["nouns"][int(rng.integers(len(lang["nouns"])))]
            adj = (lang["adjectives"][int(rng.integers(len(lang["adjectives"])))]
                   if lang["adjectives"] and rng.random() < 0.5 else None)  # fmt: skip
            english = ["the"] + ([adj] if adj else []) + [noun]
            inner = [noun] if adj is None else ([adj, noun] if lang["adjective_first"] else [noun, adj])
            return english, ["the", *inner]

        subject, verb = phrase(), lang["verbs"][int(rng.integers(len(lang["verbs"])))]
        obj = phrase()
        english = " ".join(subject[0] + [verb] + obj[0])
        parts = {"S": subject[1], "V": [verb], "O": obj[1]}
        foreign = " ".join(lang["lexicon"][w] for part in lang["order"] for w in parts[part])
        return english, foreign

    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx``: study one parallel sentence, translate a new one."""
        return self._make(seed, idx, 1)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return item ``idx`` with another new sentence to translate (a held-out probe)."""
        return self._make(seed, idx, 2)

    def score(self, problem: Problem, response: str) -> float:
        """chrF of the response's first line against the reference, in [0, 1] (sacrebleu).

        Raises:
            ImportError: If sacrebleu is not installed (``pip install "sleep-env[tasks]"``).
        """
        try:
            import sacrebleu
        except ImportError as err:
            raise _dependency_error(err) from None
        got = first_line(response).strip()
        if not got:
            return 0.0
        score = sacrebleu.sentence_chrf(got, [problem.answer]).score / 100.0
        return float(min(1.0, max(0.0, score))) if score == score else 0.0

    def _make(self, seed: int, idx: int, stream: int) -> Problem:
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        lang = self.language(seed)
        study = self.sentence_pair(seed, np.random.default_rng([seed, idx]))
        rng = np.random.default_rng([seed, idx, stream])
        asked = self.sentence_pair(seed, rng)
        for _ in range(100):  # a new sentence, not the studied one (deterministic redraws)
            if asked != study:
                break
            asked = self.sentence_pair(seed, rng)
        english, foreign = asked
        name = lang["name"]
        if self.direction == "to_english":
            source, answer, target = foreign, english, "English"
            src_name = name
        else:
            source, answer, target = english, foreign, name
            src_name = "English"
        if stream == 1:
            question = f"Translate from {src_name} into {target}: {source}"
        else:
            question = f'What is the {src_name} sentence "{source}" in {target}?'
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question}\nAnswer:",
            answer=answer,
            context=f"{name}: {study[1]} = English: {study[0]}",
            metadata={"language": name, "order": lang["order"], "direction": self.direction},
        )
