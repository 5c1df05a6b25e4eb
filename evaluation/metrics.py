"""Continual-learning metrics over an accuracy matrix (pure functions, numpy only).

``R`` has shape (T, T): ``R[i, j]`` is the score in [0, 1] on experience ``j`` measured right
after training through experience ``i`` (0-based; ``nan`` where not measured). ``baseline`` has
shape (T,): ``baseline[j]`` is the score on experience ``j`` of the model before the stream
(measured at reset).

Conventions (1-based in the formulas, as in the papers):

- ACC = (1/T) sum_j R[T, j] (the last row).
- BWT = 1/(T-1) sum_{i=1}^{T-1} (R[T, i] - R[i, i]) (Lopez-Paz & Ranzato 2017). BWT < 0 means
  forgetting, BWT > 0 means later experiences helped earlier ones.
- FWT = 1/(T-1) sum_{i=2}^{T} (R[i-1, i] - b_i) (Lopez-Paz & Ranzato 2017).
- Forgetting f_j = max_{l in [j, T-1]} R[l, j] - R[T, j] for j < T, averaged over the T-1 earlier
  experiences (Chaudhry et al. 2018); the last experience is excluded, not counted as 0.

Each function reads only the cells its formula needs, so ``nan`` in other cells (e.g. the upper
triangle of a run without forward evaluations) does not matter; a ``nan`` in a needed cell gives
``nan``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["average_accuracy", "backward_transfer", "forward_transfer", "forgetting", "summarize"]


def _as_matrix(R: ArrayLike) -> np.ndarray:
    """Return ``R`` as a float64 (T, T) array with T >= 1, or raise ``ValueError``."""
    arr = np.asarray(R, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(
            f"R must be a square (T, T) matrix with T >= 1 (R[i, j] = score on experience j after "
            f"experience i), got shape {arr.shape}; pass one row per experience trained"
        )
    return arr


def average_accuracy(R: ArrayLike) -> float:
    """Average accuracy (ACC): the mean score over all experiences after the last one.

    ACC = (1/T) sum_j R[T-1, j] (0-based), as in Lopez-Paz & Ranzato (2017), "Gradient Episodic
    Memory for Continual Learning", arXiv 1706.08840. Only the last row is read.

    Args:
        R: (T, T) float scores in [0, 1]; ``R[i, j]`` = score on experience j after experience i.

    Returns:
        ACC as a Python float in [0, 1]; ``nan`` if a cell of the last row is ``nan``.

    Raises:
        ValueError: If ``R`` is not a square matrix with T >= 1.

    Example:
        >>> R = [[0.9, 0.2, 0.1], [0.7, 0.8, 0.3], [0.6, 0.4, 0.95]]
        >>> round(average_accuracy(R), 6)
        0.65
    """
    R = _as_matrix(R)
    return float(np.mean(R[-1]))


def backward_transfer(R: ArrayLike) -> float:
    """Backward transfer (BWT): how later training changed the scores on earlier experiences.

    BWT = 1/(T-1) sum_{i=0}^{T-2} (R[T-1, i] - R[i, i]) (0-based), from Lopez-Paz & Ranzato (2017),
    "Gradient Episodic Memory for Continual Learning", arXiv 1706.08840. Sign convention:
    BWT < 0 means forgetting; BWT > 0 means later experiences improved earlier ones. The last
    experience is not averaged in (divide by T-1, not T).

    Args:
        R: (T, T) float scores in [0, 1]; ``R[i, j]`` = score on experience j after experience i.

    Returns:
        BWT as a Python float in [-1, 1]; ``nan`` when undefined (T = 1) or when a needed cell
        (the diagonal or the last row, except their shared corner) is ``nan``.

    Raises:
        ValueError: If ``R`` is not a square matrix with T >= 1.

    Example:
        >>> R = [[0.9, 0.2, 0.1], [0.7, 0.8, 0.3], [0.6, 0.4, 0.95]]
        >>> round(backward_transfer(R), 6)  # ((0.6 - 0.9) + (0.4 - 0.8)) / 2
        -0.35
    """
    R = _as_matrix(R)
    T = R.shape[0]
    if T < 2:
        return math.nan
    idx = np.arange(T - 1)
    return float(np.mean(R[T - 1, idx] - R[idx, idx]))


def forward_transfer(R: ArrayLike, baseline: ArrayLike | None) -> float:
    """Forward transfer (FWT): how earlier training changed the score on the next experience.

    FWT = 1/(T-1) sum_{i=1}^{T-1} (R[i-1, i] - b[i]) (0-based), from Lopez-Paz & Ranzato (2017),
    "Gradient Episodic Memory for Continual Learning", arXiv 1706.08840. ``b`` is the score of the
    model before the stream; without it FWT is undefined (it is not silently taken as 0). FWT > 0
    means earlier experiences helped on experiences not yet trained.

    Args:
        R: (T, T) float scores in [0, 1]; ``R[i, j]`` = score on experience j after experience i.
        baseline: (T,) float scores in [0, 1] before any training, or ``None`` if that evaluation
            was not run.

    Returns:
        FWT as a Python float in [-1, 1]; ``nan`` when undefined: T = 1, ``baseline`` is ``None``,
        or a needed cell (``R[i-1, i]`` or ``baseline[i]`` for i >= 1) is ``nan``.

    Raises:
        ValueError: If ``R`` is not a square matrix with T >= 1, or ``baseline`` is not of shape
            (T,).

    Example:
        >>> R = [[0.9, 0.2, 0.1], [0.7, 0.8, 0.3], [0.6, 0.4, 0.95]]
        >>> round(forward_transfer(R, [0.1, 0.1, 0.1]), 6)  # ((0.2 - 0.1) + (0.3 - 0.1)) / 2
        0.15
        >>> forward_transfer(R, None)
        nan
    """
    R = _as_matrix(R)
    T = R.shape[0]
    if baseline is not None:
        b = np.asarray(baseline, dtype=np.float64)
        if b.shape != (T,):
            raise ValueError(
                f"baseline must have shape (T,) = ({T},) to match R of shape {R.shape}, got shape "
                f"{b.shape}; pass one pre-training score per experience"
            )
    if T < 2 or baseline is None:
        return math.nan
    idx = np.arange(1, T)
    return float(np.mean(R[idx - 1, idx] - b[idx]))


def forgetting(R: ArrayLike) -> float:
    """Average forgetting: the mean drop from each earlier experience's best score to its last.

    f_j = max_{l in [j, T-2]} R[l, j] - R[T-1, j] for j in [0, T-2] (0-based), and
    F = 1/(T-1) sum_j f_j, after Chaudhry et al. (2018), "Riemannian Walk for Incremental
    Learning: Understanding Forgetting and Intransigence", arXiv 1801.10112. The last experience is
    excluded (not counted as 0), and the maximum runs over rows from j on only, so scores measured
    before experience j was trained do not count. F >= 0 up to improvements: F > 0 means
    forgetting, F < 0 means every earlier experience ended above its best earlier score.

    Args:
        R: (T, T) float scores in [0, 1]; ``R[i, j]`` = score on experience j after experience i.

    Returns:
        F as a Python float in [-1, 1]; ``nan`` when undefined (T = 1) or when a needed cell (on or
        below the diagonal, left of the last column) is ``nan``.

    Raises:
        ValueError: If ``R`` is not a square matrix with T >= 1.

    Example:
        >>> R = [[0.9, 0.2, 0.1], [0.7, 0.8, 0.3], [0.6, 0.4, 0.95]]
        >>> round(forgetting(R), 6)  # ((max(0.9, 0.7) - 0.6) + (0.8 - 0.4)) / 2
        0.35
    """
    R = _as_matrix(R)
    T = R.shape[0]
    if T < 2:
        return math.nan
    drops = [np.max(R[j : T - 1, j]) - R[T - 1, j] for j in range(T - 1)]
    return float(np.mean(drops))


def summarize(R: ArrayLike, baseline: ArrayLike | None = None) -> dict[str, Any]:
    """Compute all four metrics of one run.

    Args:
        R: (T, T) float scores in [0, 1]; ``R[i, j]`` = score on experience j after experience i.
        baseline: (T,) float pre-training scores, or ``None`` (then ``fwt`` is ``nan``).

    Returns:
        A dict with Python floats under ``"acc"`` (:func:`average_accuracy`), ``"bwt"``
        (:func:`backward_transfer`), ``"fwt"`` (:func:`forward_transfer`) and ``"forgetting"``
        (:func:`forgetting`); ``nan`` where undefined.

    Raises:
        ValueError: If ``R`` is not a square matrix with T >= 1, or ``baseline`` is not of shape
            (T,).

    Example:
        >>> R = [[0.9, 0.2, 0.1], [0.7, 0.8, 0.3], [0.6, 0.4, 0.95]]
        >>> {k: round(v, 6) for k, v in summarize(R, [0.1, 0.1, 0.1]).items()}
        {'acc': 0.65, 'bwt': -0.35, 'fwt': 0.15, 'forgetting': 0.35}
    """
    return {
        "acc": average_accuracy(R),
        "bwt": backward_transfer(R),
        "fwt": forward_transfer(R, baseline),
        "forgetting": forgetting(R),
    }
