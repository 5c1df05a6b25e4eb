"""JSON-able env state for :meth:`SleepEnv.get_state` / :meth:`SleepEnv.set_state` (internal).

The episode part is :meth:`Episode.to_state <sleep_env.episode.Episode.to_state>`; this module
adds the header, ``R``, ``b``, the probe rows due and the env's generator state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sleep_env.episode import Episode
from sleep_env.errors import SleepEnvError

__all__ = ["STATE_VERSION", "env_state", "check_header", "read_probe_state"]

STATE_VERSION = 1
"""Version of the state dict format."""


def _floats(a: np.ndarray) -> list:
    """``a`` flattened to Python floats, ``nan`` written as ``None``."""
    return [None if np.isnan(x) else float(x) for x in a.ravel()]


def _array(values: list, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_floats`: float64 of ``shape``, ``None`` read as ``nan``."""
    return np.array([np.nan if x is None else x for x in values], dtype=float).reshape(shape)


def env_state(
    ep: Episode, *, n_experiences: int, R: np.ndarray, b: np.ndarray,
    probe_rows: tuple[int, ...], np_random: np.random.Generator | None,
) -> dict[str, Any]:  # fmt: skip
    """The env's whole mutable state as a JSON-able dict (``nan`` in ``R`` and ``b`` as ``None``)."""
    return {
        "version": STATE_VERSION,
        "stream_seed": int(ep.stream.seed),
        "n_experiences": n_experiences,
        **ep.to_state(),
        "R": _floats(R),
        "b": _floats(b),
        "probe_rows": list(probe_rows),
        "np_random": None if np_random is None else np_random.bit_generator.state,
    }


def check_header(state: Mapping[str, Any], n_experiences: int) -> None:
    """Check the state's version and number of experiences.

    Raises:
        SleepEnvError: If either differs from this env's.
        KeyError: If a header key is missing.
    """
    if state["version"] != STATE_VERSION or state["n_experiences"] != n_experiences:
        raise SleepEnvError(
            f"env state has version {state['version']!r} and {state['n_experiences']!r} experiences; "
            f"this env expects version {STATE_VERSION} and {n_experiences}; restore it into an env built "
            "from the same config"
        )


def read_probe_state(
    state: Mapping[str, Any], n_experiences: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Read ``(R, b, probe_rows)`` back from :func:`env_state`.

    Returns:
        ``R`` (T, T) float64, ``b`` (T,) float64 (``nan`` where not measured) and the probe rows due.

    Raises:
        KeyError, TypeError, ValueError: If a key is missing or a value has another shape.
    """
    t = n_experiences
    R = _array(state["R"], (t, t))
    b = _array(state["b"], (t,))
    rows = tuple(int(r) for r in state["probe_rows"])
    return R, b, rows
