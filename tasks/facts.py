"""Procedural fictional facts: knowledge incorporation about people who do not exist.

Each seed defines a population of fictional people (syllable-generated first and last names such as
"Zorvak Quillby", unique within the seed), each with a home town (a syllable-generated town name), a
job (from :data:`JOBS`) and a pet (from :data:`PETS`). Item ``idx`` is one fact: entity
``idx // len(attributes)``, attribute ``attributes[idx % len(attributes)]``. An entity's name and
attribute values are a pure function of ``(seed, entity)``, drawn from
``np.random.default_rng([seed, entity])``, so any item can be rebuilt from ``(seed, idx)`` alone.

Templates (``{n}`` is the person's full name, ``{v}`` the value). A prompt reads
``"Question: <question>\\nAnswer: <stem>"`` and ends where the answer starts, so a model's
continuation is the answer:

- city: study ``{n} lives in {v}.``; prompt "Where does {n} live?" / "{n} lives in"; probe
  "In which town is {n}'s home?" / "{n}'s home town is".
- job: study ``{n} works as a {v}.`` (``an`` before a vowel); prompt "What does {n} do for a
  living?" / "{n} works as"; probe "What is {n}'s profession?" / "By profession, {n} is".
- pet: study ``{n} has a pet {v}.``; prompt "What pet does {n} have?" / "{n} has a pet"; probe
  "Which animal is {n}'s pet?" / "{n}'s pet is".

Attribute updates (``updates > 0``): item ``idx >= 1`` is, with probability ``updates`` (drawn from
``np.random.default_rng([seed, idx, 1])``), an *update* of the fact of a uniformly drawn earlier item
instead of a new fact: the study text says the value changed (``{n} has moved to {v}.``,
``{n} has changed jobs and now works as a {v}.``, ``{n} now has a pet {v}.``), the new value differs
from the newest earlier one, and prompt and probe ask the same question as for the original fact.
Every item carries ``metadata["key"]`` (``"<entity_index>.<attribute>"``), so a stream asks its
queries and probes about the newest value only (``sleep_env.stream``). Other items keep the layout
above, so ``updates=0`` (default) gives exactly the items without updates.
"""

from __future__ import annotations

import re
import string
from typing import Sequence

import numpy as np

from tasks.base import Problem, SeedCache, Task, check_index
from tasks.names import JOBS, PETS, make_name, make_town, pick

__all__ = ["FactsTask", "normalize_answer", "ATTRIBUTES", "JOBS", "PETS"]

ATTRIBUTES: tuple[str, ...] = ("city", "job", "pet")
"""The attribute kinds a :class:`FactsTask` can ask about."""

_STUDY = {
    "city": "{name} lives in {value}.",
    "job": "{name} works as {article} {value}.",
    "pet": "{name} has a pet {value}.",
}
_UPDATE = {
    "city": "{name} has moved to {value}.",
    "job": "{name} has changed jobs and now works as {article} {value}.",
    "pet": "{name} now has a pet {value}.",
}
# (question, cloze stem) pairs: the stem ends where the answer starts.
_PROMPT = {
    "city": ("Where does {name} live?", "{name} lives in"),
    "job": ("What does {name} do for a living?", "{name} works as"),
    "pet": ("What pet does {name} have?", "{name} has a pet"),
}
# Held-out probe phrasing: reworded questions. With probe_stem="canonical" (default) the answer stem
# is the study statement's own (a cloze of the fact, as in LAMA-style knowledge probes); with
# probe_stem="reworded" the stem is reworded too (harder: it tests transfer across surface forms).
_PROBE = {
    "city": ("In which town is {name}'s home?", "{name}'s home town is"),
    "job": ("What is {name}'s profession?", "By profession, {name} is"),
    "pet": ("Which animal is {name}'s pet?", "{name}'s pet is"),
}

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_LINE_END = re.compile(r"[\r\n]")
_CLAUSE_END = re.compile(r"[.,;:!?]")


def normalize_answer(text: str) -> str:
    """Normalise an answer for exact match, as the SQuAD evaluation script does.

    Lowercases, removes ASCII punctuation, drops the articles "a", "an" and "the", and collapses
    runs of whitespace to single spaces (stripping both ends).

    Args:
        text: Any string (characters).

    Returns:
        The normalised string; may be empty.

    Example:
        >>> normalize_answer("  The  Brastow! ")
        'brastow'
        >>> normalize_answer("an old-town baker")
        'oldtown baker'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_check_index = check_index


class FactsTask(Task):
    """Fictional facts about procedurally generated people (knowledge incorporation).

    Item ``idx`` of seed ``seed`` is one fact about entity ``idx // len(attributes)``. Its
    ``context`` is the study statement, its ``prompt`` a cloze question whose continuation is the
    answer, and :meth:`probe` asks the same fact in a held-out phrasing with the same answer. Names
    are unique within a seed. Every string is printable ASCII (plus ``"\\n"`` in prompts).

    Scoring (see :meth:`score`): by default the answer must occur as whole words in the response's
    first clause (``match="contains"``, PopQA-style; "the town of Brastow" scores 1.0); with
    ``match="exact"`` the normalised first clause must equal the answer.

    Args:
        n_entities: Number of people in one pass over the task (>= 1). It sets ``len(task)`` =
            ``n_entities * len(attributes)`` items; like reasoning-gym's ``size`` it bounds
            iteration, not indexing: any ``idx >= 0`` is valid and gives a further person.
        attributes: Which attribute kinds to ask about, in item order; a non-empty subset of
            :data:`ATTRIBUTES` without repeats. An entity's values do not depend on this choice.
        probe_stem: ``"canonical"`` (probes keep the study statement's answer stem) or
            ``"reworded"``.
        match: ``"contains"`` or ``"exact"`` (see :meth:`score`).
        updates: Probability in [0, 1) that an item (after the first) updates an earlier fact
            instead of stating a new one (see the module docstring); 0 = no updates.

    Raises:
        ValueError: If ``n_entities`` or ``attributes`` breaks the rules above.

    Example:
        >>> task = FactsTask()
        >>> p = task.problem(seed=0, idx=0)
        >>> p.context
        'Vanzem Paswick lives in Thorgamere.'
        >>> print(p.prompt)
        Question: Where does Vanzem Paswick live?
        Answer: Vanzem Paswick lives in
        >>> task.score(p, " Thorgamere.\\nQuestion: ...")
        1.0
        >>> task.score(p, "Brastow")
        0.0
        >>> task.probe(seed=0, idx=0).answer == p.answer
        True
    """

    name = "facts"

    def __init__(  # noqa: D107 (documented in the class docstring)
        self,
        n_entities: int = 4,
        attributes: Sequence[str] = ATTRIBUTES,
        probe_stem: str = "canonical",
        match: str = "contains",
        updates: float = 0.0,
    ) -> None:
        if (
            isinstance(updates, bool)
            or not isinstance(updates, (int, float, np.floating))
            or not 0.0 <= updates < 1.0
        ):
            raise ValueError(
                f"updates must be a probability in [0, 1), got {updates!r}; pass e.g. 0.3 "
                "(0 = no attribute updates)"
            )
        self.updates = float(updates)
        # seed -> [(entity, attribute, value, is_update)] for items 0, 1, ...; a cache of pure results.
        self._items: dict[int, list[tuple[int, str, str, bool]]] = SeedCache()
        self._newest: dict[int, dict[tuple[int, str], str]] = SeedCache()
        if match not in ("contains", "exact"):
            raise ValueError(
                f"match must be 'contains' or 'exact', got {match!r}; 'contains' accepts the answer "
                "anywhere in the response's first clause (PopQA-style), 'exact' needs equality"
            )
        self.match = match
        if probe_stem not in ("canonical", "reworded"):
            raise ValueError(
                f"probe_stem must be 'canonical' or 'reworded', got {probe_stem!r}; "
                "'canonical' keeps the study statement's answer stem, 'reworded' rewords it too"
            )
        self.probe_stem = probe_stem
        if isinstance(n_entities, bool) or not isinstance(n_entities, (int, np.integer)):
            raise ValueError(f"n_entities must be an integer >= 1, got {n_entities!r}; pass e.g. 4")
        if n_entities < 1:
            raise ValueError(f"n_entities must be >= 1, got {n_entities}; pass e.g. 4")
        if isinstance(attributes, str):
            raise ValueError(
                f"attributes must be a sequence of names, got the string {attributes!r}; "
                f"pass e.g. ({attributes!r},)"
            )
        attributes = tuple(attributes)
        unknown = [a for a in attributes if a not in ATTRIBUTES]
        if not attributes or unknown or len(set(attributes)) != len(attributes):
            raise ValueError(
                f"attributes must be a non-empty subset of {ATTRIBUTES} without repeats, got "
                f"{attributes!r}; pass e.g. ('city', 'job')"
            )
        self.n_entities = int(n_entities)
        self.attributes: tuple[str, ...] = attributes
        # seed -> [(name, values)] for entities 0, 1, ...; a cache of pure results, never state.
        self._entities: dict[int, list[tuple[str, dict[str, str]]]] = SeedCache()

    def __len__(self) -> int:
        """Return the number of items in one pass: ``n_entities * len(attributes)``."""
        return self.n_entities * len(self.attributes)

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return (
            f"FactsTask(n_entities={self.n_entities}, attributes={self.attributes!r}, "
            f"probe_stem={self.probe_stem!r}, match={self.match!r}, updates={self.updates!r})"
        )

    def entity(self, seed: int, entity: int) -> tuple[str, dict[str, str]]:
        """Return the name and attribute values of one fictional person.

        The values come first from ``np.random.default_rng([seed, entity])``; the same generator
        then draws names until one differs from those of entities ``0 .. entity-1`` of the seed.

        Args:
            seed: Non-negative integer seed.
            entity: Non-negative entity index.

        Returns:
            ``(name, values)``: the full name (two capitalised ASCII words) and a dict with one
            value for each of ``"city"``, ``"job"`` and ``"pet"``.

        Raises:
            ValueError: If ``seed`` or ``entity`` is not a non-negative integer.

        Example:
            >>> name, values = FactsTask().entity(seed=0, entity=0)
            >>> name, values["city"]
            ('Vanzem Paswick', 'Thorgamere')
        """
        seed = _check_index("seed", seed)
        entity = _check_index("entity", entity)
        known = self._entities.setdefault(seed, [])
        if len(known) <= entity:
            taken = {name for name, _ in known}  # built only when new entities are drawn
        while len(known) <= entity:
            rng = np.random.default_rng([seed, len(known)])
            values = {"city": make_town(rng), "job": pick(rng, JOBS), "pet": pick(rng, PETS)}
            name = make_name(rng)
            while name in taken:  # deterministic redraw from the same generator
                name = make_name(rng)
            taken.add(name)
            known.append((name, values))
        name, values = known[entity]
        return name, dict(values)

    def problem(self, seed: int, idx: int) -> Problem:
        """Return fact ``idx`` of seed ``seed``, asked in the study phrasing.

        Args:
            seed: Non-negative integer seed.
            idx: Non-negative item index; entity ``idx // len(attributes)``, attribute
                ``attributes[idx % len(attributes)]``.

        Returns:
            The :class:`~tasks.base.Problem` (``metadata`` holds ``entity`` (the name),
            ``attribute`` and ``entity_index``).

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer.

        Example:
            >>> FactsTask().problem(seed=0, idx=1).context
            'Vanzem Paswick works as a journalist.'
        """
        return self._make(seed, idx, _PROMPT)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return fact ``idx`` of seed ``seed``, asked in the held-out probe phrasing.

        The question is always reworded; the answer stem is the study statement's own
        (``probe_stem="canonical"``, default) or reworded too (``probe_stem="reworded"``).

        Args:
            seed: Non-negative integer seed.
            idx: Non-negative item index (as in :meth:`problem`).

        Returns:
            A :class:`~tasks.base.Problem` equal to ``problem(seed, idx)`` except for ``prompt``.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer.

        Example:
            >>> print(FactsTask().probe(seed=0, idx=0).prompt)
            Question: In which town is Vanzem Paswick's home?
            Answer: Vanzem Paswick lives in
            >>> print(FactsTask(probe_stem="reworded").probe(seed=0, idx=0).prompt)
            Question: In which town is Vanzem Paswick's home?
            Answer: Vanzem Paswick's home town is
        """
        if self.probe_stem == "reworded":
            return self._make(seed, idx, _PROBE)
        return self._make(seed, idx, {k: (_PROBE[k][0], _PROMPT[k][1]) for k in _PROBE})

    def score(self, problem: Problem, response: str) -> float:
        """Score a response against the answer after SQuAD-style normalisation.

        The response is cut at its first line break, then at the first of ``. , ; : ! ?``, and
        normalised with :func:`normalize_answer` (so " a baker." and "Baker" match "baker").
        ``match="contains"`` (default) scores 1.0 when the normalised answer occurs in it as whole
        words ("the town of Brastow" matches "Brastow"; the answer-in-generation criterion of PopQA,
        Mallen et al. 2023, arXiv 2212.10511, for free-form closed-book answers); ``match="exact"``
        needs equality (SQuAD exact match; a response that restates the stem scores 0.0). There is
        no partial credit.

        Args:
            problem: A problem made by this task.
            response: The agent's text (characters); any string, including empty, garbage or
                non-ASCII. A non-string scores 0.0 too.

        Returns:
            1.0 if the normalised response equals the normalised answer, else 0.0.

        Example:
            >>> task = FactsTask()
            >>> p = task.problem(seed=0, idx=1)
            >>> p.answer
            'journalist'
            >>> task.score(p, " a Journalist, since 2010"), task.score(p, "")
            (1.0, 0.0)
            >>> task.score(p, "a freelance journalist"), FactsTask(match="exact").score(p, "a freelance journalist")
            (1.0, 0.0)
        """
        if not isinstance(response, str):
            return 0.0
        text = _LINE_END.split(response, maxsplit=1)[0]
        text = _CLAUSE_END.split(text, maxsplit=1)[0]
        got = normalize_answer(text)
        want = normalize_answer(problem.answer)
        if not got or not want:
            return 0.0
        if self.match == "exact":
            return 1.0 if got == want else 0.0
        return 1.0 if f" {want} " in f" {got} " else 0.0

    def item(self, seed: int, idx: int) -> tuple[int, str, str, bool]:
        """Return what item ``idx`` of seed ``seed`` states (see the module docstring).

        Args:
            seed: Non-negative integer seed.
            idx: Non-negative item index.

        Returns:
            ``(entity, attribute, value, is_update)``: the entity index, the attribute, its value
            as of this item, and whether the item updates an earlier fact.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer.

        Example:
            >>> task = FactsTask(updates=0.5)
            >>> [task.item(0, i)[3] for i in range(6)]
            [False, False, False, True, False, True]
        """
        seed, idx = _check_index("seed", seed), _check_index("idx", idx)
        if self.updates == 0.0:
            entity, slot = divmod(idx, len(self.attributes))
            attribute = self.attributes[slot]
            return entity, attribute, self.entity(seed, entity)[1][attribute], False
        done = self._items.setdefault(seed, [])
        newest = self._newest.setdefault(seed, {})
        while len(done) <= idx:  # items depend on earlier ones (the newest value): build in order
            i = len(done)
            rng = np.random.default_rng([seed, i, 1])
            if i >= 1 and rng.random() < self.updates:
                entity, attribute = done[int(rng.integers(i))][:2]
                old = newest[(entity, attribute)]
                if attribute == "city":
                    value = make_town(rng)
                    while value == old:  # deterministic redraw from the same generator
                        value = make_town(rng)
                else:
                    pool = [v for v in (JOBS if attribute == "job" else PETS) if v != old]
                    value = pick(rng, pool)
                done.append((entity, attribute, value, True))
            else:
                entity, slot = divmod(i, len(self.attributes))
                attribute = self.attributes[slot]
                done.append((entity, attribute, self.entity(seed, entity)[1][attribute], False))
            newest[(entity, attribute)] = done[-1][2]
        return done[idx]

    def _make(self, seed: int, idx: int, phrasing: dict[str, tuple[str, str]]) -> Problem:
        idx = _check_index("idx", idx)
        entity, attribute, value, is_update = self.item(seed, idx)
        name = self.entity(seed, entity)[0]
        article = "an" if value[0] in "aeiou" else "a"
        question, stem = phrasing[attribute]
        study = _UPDATE if is_update else _STUDY
        metadata = {"entity": name, "attribute": attribute, "entity_index": entity,
                    "key": f"{entity}.{attribute}"}  # fmt: skip
        if is_update:
            metadata["update"] = True
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question.format(name=name)}\nAnswer: {stem.format(name=name)}",
            answer=value,
            context=study[attribute].format(name=name, value=value, article=article),
            metadata=metadata,
        )
