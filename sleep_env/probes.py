"""Probe sets and probe scoring: pure functions of a built stream (used by ``SleepEnv``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sleep_env.errors import InvalidAction
from sleep_env.stream import Stream, score_response
from sleep_env.types import ProbeSet

__all__ = ["probe_set", "score_probes", "probe_item_scores", "experience_means"]


def probe_set(stream: Stream, context: str) -> ProbeSet:
    """The held-out probes of every experience, in experience order, each with ``context``."""
    probes = [(p.prompt, j) for j, ps in enumerate(stream.probes) for p in ps]
    return ProbeSet(
        prompts=tuple(p for p, _ in probes),
        contexts=(context,) * len(probes),
        experiences=tuple(j for _, j in probes),
    )


def probe_item_scores(stream: Stream, answers: Sequence[str], *, max_chars: int | None = None) -> np.ndarray:
    """The score of each probe answer.

    Args:
        stream: The built stream whose probes were asked.
        answers: One answer per probe of :func:`probe_set`, in its order (text).
        max_chars: Longest answer allowed, in characters (``None`` = no limit); the env passes its
            action space's ``max_length``.

    Returns:
        (N,) float64, scores in [0, 1], one per probe in :func:`probe_set` order.

    Raises:
        InvalidAction: If ``answers`` is not a sequence of strings (a single ``str`` is refused),
            their number differs from the number of probes, or an answer is longer than
            ``max_chars`` (``InvalidAction`` is a ``ValueError``).
    """
    problems = [(p, j) for j, ps in enumerate(stream.probes) for p in ps]
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise InvalidAction(
            f"answers must be a list of str (one per probe), got {type(answers).__name__} {answers!r:.100}; "
            "pass agent.answer(probes.prompts, probes.contexts)"
        )
    answers = list(answers)
    if len(answers) != len(problems):
        raise InvalidAction(
            f"answers must hold one answer per probe: expected {len(problems)}, "
            f"got {len(answers)}; answer every prompt of env.probe_prompts()"
        )
    bad = [i for i, a in enumerate(answers) if not isinstance(a, str)]
    if bad:
        a = answers[bad[0]]
        raise InvalidAction(
            f"every probe answer must be a str, got answers[{bad[0]}] = {type(a).__name__} {a!r:.80}; "
            "an agent with nothing to say answers '' (scored 0)"
        )
    long = [i for i, a in enumerate(answers) if max_chars is not None and len(a) > max_chars]
    if long:
        raise InvalidAction(
            f"answers[{long[0]}] has {len(answers[long[0]])} characters, more than max_length={max_chars}; "
            f"truncate it (e.g. answer[:{max_chars}])"
        )
    return np.array([score_response(stream.tasks[j], problem, answer)
                     for (problem, j), answer in zip(problems, answers, strict=True)], dtype=np.float64)


def score_probes(stream: Stream, answers: Sequence[str], *, max_chars: int | None = None) -> np.ndarray:
    """Mean probe score per experience: :func:`probe_item_scores` averaged within each experience.

    Returns:
        (T,) float64, scores in [0, 1], one per experience.

    Raises:
        InvalidAction: As :func:`probe_item_scores`.
    """
    return experience_means(stream, probe_item_scores(stream, answers, max_chars=max_chars))


def experience_means(stream: Stream, items: np.ndarray) -> np.ndarray:
    """Per-experience means of per-probe scores (:func:`probe_item_scores` order) -> (T,) float64."""
    exp = np.array([j for j, ps in enumerate(stream.probes) for _ in ps], dtype=np.int64)
    sizes = np.array([len(ps) for ps in stream.probes], dtype=float)
    return np.bincount(exp, weights=items, minlength=len(stream.probes)) / sizes
