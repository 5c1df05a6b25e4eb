"""Long-horizon location tracking in the style of bAbI / BABILong (Weston et al. 2015; Kuratov et al. 2024).

A small world of ``n_people`` people (from :data:`PEOPLE`), ``n_objects`` objects
(:data:`OBJECTS`) and ``n_places`` places (:data:`PLACES`). Item ``idx`` of seed ``seed`` is one
event, drawn from ``np.random.default_rng([seed, idx])`` given the world state after items
``0 .. idx-1``: with probability ``object_moves`` a person takes an object to a place it is not in
("Mary took the apple to the garden."), otherwise a person goes to a place they are not in
("John went to the kitchen."). The question is where the moved thing is now
("Question: Where is the apple?\\nAnswer: The apple is in the"); the probe rewords it. Each item's
``metadata["key"]`` is the thing that moved, so a stream asks about the newest location only
(``sleep_env.stream``): answering needs the latest of possibly many events about it.

Distractors (BABILong): with ``filler > 0`` each study text is wrapped in about ``filler``
characters of irrelevant sentences from :data:`FILLER` (drawn with
``np.random.default_rng([seed, idx, 2])``), so that with a short-term memory of C characters only
about C / filler events fit and the relevant facts lie far beyond the context capacity.
Scoring: 1.0 when the place occurs as a whole word in the response's first clause (as ``facts``).
"""

from __future__ import annotations

import re

import numpy as np

from tasks.base import Problem, SeedCache, Task, check_index
from tasks.facts import normalize_answer

__all__ = ["BabiTask", "PEOPLE", "OBJECTS", "PLACES", "FILLER"]

PEOPLE: tuple[str, ...] = ("Mary", "John", "Sandra", "Daniel", "Fred", "Julie", "Bill", "Emma")
OBJECTS: tuple[str, ...] = ("apple", "football", "milk", "key", "book", "hat", "lamp", "box")
PLACES: tuple[str, ...] = (
    "kitchen", "garden", "office", "hallway", "bedroom", "bathroom", "cellar", "attic",
    "library", "garage",
)  # fmt: skip
FILLER: tuple[str, ...] = (
    "The afternoon was quiet and the clocks ticked slowly.",
    "Somewhere a dog barked twice and then fell silent.",
    "Rain had been promised for days but never came.",
    "A cart rattled past on the cobbled road outside.",
    "The smell of fresh paint still hung in the air.",
    "Nobody could remember who had planted the old oak tree.",
    "The newspaper reported a long debate about the price of wool.",
    "Clouds drifted over the hills like slow grey ships.",
    "An old song played faintly on a distant radio.",
    "The baker down the road had sold out of bread by noon.",
    "Someone had left a window open, and the curtains moved gently.",
    "The letters on the sign had faded in the sun.",
    "A flock of starlings circled above the church tower.",
    "It was the kind of day on which very little happens.",
)  # fmt: skip
"""Irrelevant sentences for distractor filler (they never mention people, objects or places)."""

_CLAUSE = re.compile(r"[\r\n.,;:!?]")


def _move(rng: np.random.Generator, here: str | None, places: tuple[str, ...]) -> str:
    options = [p for p in places if p != here]
    return options[int(rng.integers(len(options)))]


class BabiTask(Task):
    """Where is each person and object after a long sequence of moves (bAbI/BABILong-style).

    Args:
        n_people: People in the world, 1 <= n_people <= 8.
        n_objects: Objects in the world, 0 <= n_objects <= 8.
        n_places: Places, 2 <= n_places <= 10.
        object_moves: Probability in [0, 1] that an event moves an object (needs ``n_objects >= 1``).
        filler: Approximate characters of distractor sentences around each event (>= 0; 0 = none).

    Raises:
        ValueError: If an option breaks its rule (the message names it).

    Example:
        >>> task = BabiTask()
        >>> p = task.problem(seed=0, idx=0)
        >>> p.context
        'Daniel took the milk to the garden.'
        >>> print(p.prompt)
        Question: Where is the milk?
        Answer: The milk is in the
        >>> task.score(p, " garden.\\n"), task.score(p, "kitchen")
        (1.0, 0.0)
    """

    name = "babi"

    def __init__(  # noqa: D107
        self,
        n_people: int = 4,
        n_objects: int = 4,
        n_places: int = 6,
        object_moves: float = 0.5,
        filler: int = 0,
    ) -> None:
        for field, value, low, high in (
            ("n_people", n_people, 1, len(PEOPLE)), ("n_objects", n_objects, 0, len(OBJECTS)),
            ("n_places", n_places, 2, len(PLACES)), ("filler", filler, 0, 10**6),
        ):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{field} must be an integer in [{low}, {high}], got {value!r}")
        if isinstance(object_moves, bool) or not isinstance(object_moves, (int, float)) or not 0 <= object_moves <= 1:
            raise ValueError(f"object_moves must be a probability in [0, 1], got {object_moves!r}")
        if object_moves > 0 and n_objects == 0:
            raise ValueError("object_moves must be 0 when n_objects is 0, got "
                             f"{object_moves!r}; add objects or pass object_moves=0")  # fmt: skip
        self.n_people, self.n_objects, self.n_places = int(n_people), int(n_objects), int(n_places)
        self.object_moves, self.filler = float(object_moves), int(filler)
        # seed -> events [(actor, thing, place, is_object)] and the current location of each thing.
        self._events: dict[int, list[tuple[str, str, str, bool]]] = SeedCache()
        self._where: dict[int, dict[str, str]] = SeedCache()

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return (f"BabiTask(n_people={self.n_people}, n_objects={self.n_objects}, n_places="
                f"{self.n_places}, object_moves={self.object_moves}, filler={self.filler})")  # fmt: skip

    def event(self, seed: int, idx: int) -> tuple[str, str, str, bool]:
        """Return event ``idx`` of seed ``seed`` (events depend on earlier ones, cached in order).

        Returns:
            ``(person, thing, place, is_object)``: who acted, what moved (the person or an
            object), where it is now, and whether an object moved.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer.
        """
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        events = self._events.setdefault(seed, [])
        where = self._where.setdefault(seed, {})
        people, objects = PEOPLE[: self.n_people], OBJECTS[: self.n_objects]
        places = PLACES[: self.n_places]
        while len(events) <= idx:
            rng = np.random.default_rng([seed, len(events)])
            person = people[int(rng.integers(len(people)))]
            if rng.random() < self.object_moves:
                thing = objects[int(rng.integers(len(objects)))]
                events.append((person, thing, _move(rng, where.get(thing), places), True))
            else:
                events.append((person, person, _move(rng, where.get(person), places), False))
            where[events[-1][1]] = events[-1][2]
        return events[idx]

    def problem(self, seed: int, idx: int) -> Problem:
        """Return event ``idx`` as a study text and the question where the moved thing now is."""
        return self._make(seed, idx, probe=False)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return the reworded question about the thing event ``idx`` moved."""
        return self._make(seed, idx, probe=True)

    def score(self, problem: Problem, response: str) -> float:
        """1.0 when the place occurs as whole words in the response's first clause, else 0.0."""
        if not isinstance(response, str):
            return 0.0
        got = normalize_answer(_CLAUSE.split(response, maxsplit=1)[0])
        want = normalize_answer(problem.answer)
        return 1.0 if got and want and f" {want} " in f" {got} " else 0.0

    def _filler(self, seed: int, idx: int) -> tuple[str, str]:
        if self.filler == 0:
            return "", ""
        rng = np.random.default_rng([seed, idx, 2])
        before, after = [], []
        total = 0
        while total < self.filler:
            sentence = FILLER[int(rng.integers(len(FILLER)))]
            (before if rng.random() < 0.5 else after).append(sentence)
            total += len(sentence) + 1
        return " ".join(before), " ".join(after)

    def _make(self, seed: int, idx: int, *, probe: bool) -> Problem:
        person, thing, place, is_object = self.event(seed, idx)
        name = f"the {thing}" if is_object else thing
        fact = f"{person} took the {thing} to the {place}." if is_object else f"{person} went to the {place}."
        before, after = self._filler(seed, idx)
        context = " ".join(part for part in (before, fact, after) if part)
        if probe:
            question = f"In which room is {name} now?" if is_object else f"Which room is {name} in now?"
        else:
            question = f"Where is {name}?"
        subject = name[0].upper() + name[1:]
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question}\nAnswer: {subject} is in the",
            answer=place,
            context=context,
            metadata={"key": thing, "actor": person, "object": is_object},
        )
