"""The lexicon of the fictional-facts task: professions, pets and syllable-built names.

Names and towns are drawn from syllable pieces (ASCII lowercase letters, capitalised), so they are
pronounceable, unknown to any pretrained model, and a pure function of the generator's state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["JOBS", "PETS", "make_name", "make_town", "pick"]

JOBS: tuple[str, ...] = (
    "baker", "pilot", "carpenter", "dentist", "farmer", "florist", "nurse", "plumber",
    "teacher", "tailor", "chemist", "architect", "librarian", "lawyer", "mechanic", "painter",
    "butcher", "electrician", "engineer", "journalist", "photographer", "surgeon", "accountant",
    "gardener",
)  # fmt: skip
"""Common one-word professions (24)."""

PETS: tuple[str, ...] = (
    "cat", "dog", "ferret", "rabbit", "hamster", "parrot", "tortoise", "goldfish", "canary",
    "lizard", "iguana", "gecko", "hedgehog", "chinchilla", "snake", "frog", "mouse", "rat", "pony",
    "owl",
)  # fmt: skip
"""Common one-word pet animals (20)."""

# Syllable pieces for fictional names (ASCII lowercase letters only). A word is
# onset + vowel + coda, with simpler consonants inside a word than at its edges.
_ONSETS = (
    "b", "br", "d", "dr", "f", "fl", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "pr", "qu",
    "r", "s", "sk", "st", "t", "th", "tr", "v", "w", "z",
)  # fmt: skip
_MID_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u", "a", "o", "e", "ai", "ou")
_MID_CODAS = ("", "", "", "r", "n", "l", "s")
_END_CODAS = ("", "n", "r", "l", "k", "x", "m", "s", "th", "v")
_SURNAME_ENDS = (
    "by", "ton", "well", "wick", "more", "field", "worth", "stone", "dale", "ley", "hart", "croft",
    "wood", "ridge",
)  # fmt: skip
_TOWN_ENDS = (
    "tow", "ham", "mere", "holm", "stead", "bury", "port", "vale", "thorpe", "ford", "wick", "moor",
    "gate", "haven",
)  # fmt: skip

def pick(rng: np.random.Generator, pool: Sequence[str]) -> str:
    """One element of ``pool``, drawn uniformly with ``rng``."""
    return pool[int(rng.integers(len(pool)))]


def _head(rng: np.random.Generator) -> str:
    """Draw a word's first syllable: onset + vowel + (simple) coda, e.g. "zor" or "bras"."""
    return pick(rng, _ONSETS) + pick(rng, _VOWELS) + pick(rng, _MID_CODAS)


def make_name(rng: np.random.Generator) -> str:
    """Draw one fictional full name, e.g. "Zorvak Quilby" (two capitalised ASCII words)."""
    first = _head(rng) + pick(rng, _MID_ONSETS) + pick(rng, _VOWELS) + pick(rng, _END_CODAS)
    last = _head(rng) + pick(rng, _SURNAME_ENDS)
    return f"{first.capitalize()} {last.capitalize()}"


def make_town(rng: np.random.Generator) -> str:
    """Draw one fictional town name, e.g. "Brastow" (one capitalised ASCII word)."""
    stem = _head(rng)
    if rng.random() < 0.5:
        stem += pick(rng, _MID_ONSETS) + pick(rng, _VOWELS) + pick(rng, _MID_CODAS)
    return (stem + pick(rng, _TOWN_ENDS)).capitalize()
