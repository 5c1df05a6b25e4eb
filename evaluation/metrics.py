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
- LCA_beta = 1/(beta+1) sum_{b=0}^{beta} Z_b, Z_b = mean_k S[k, b]: the learning-curve area of
  Chaudhry et al. (2019) over the wake-time query scores ``S[k, b]`` (the b-th query of experience k).
- Availability = answered queries / queries presented (queries missed while asleep are unanswered).

Undefined values are ``nan`` (never a silent 0): BWT, FWT and forgetting with T = 1, FWT without a
baseline, LCA and availability of a lifetime without queries, a confidence interval of fewer than two
values.

Each function reads only the cells its formula needs, so ``nan`` in other cells (e.g. the upper
triangle of a run without forward evaluations) does not matter; a ``nan`` in a needed cell gives
``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "average_accuracy",
    "backward_transfer",
    "forward_transfer",
    "forgetting",
    "learning_curve_area",
    "query_score_matrix",
    "availability",
    "bootstrap_ci",
    "summarize",
    "split_accuracy",
]


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


def query_score_matrix(records: Iterable[Mapping[str, Any] | Any], n_experiences: int | None = None) -> np.ndarray:
    """Arrange the wake-time query scores of a lifetime by experience and position.

    Args:
        records: The lifetime's step records (``StepRecord`` objects or their ``to_dict()``) in order.
            Only ``kind == "query"`` records are read; a query missed while asleep scores 0.0
            (it was not answered).
        n_experiences: Number of rows T (default: 1 + the largest experience index seen).

    Returns:
        ``S`` (T, n) float64: ``S[k, b]`` = score in [0, 1] of the b-th query (0-based) of experience
        k; ``nan`` where experience k had fewer than b + 1 queries; n = the most queries of any
        experience (0 columns when there are no queries).

    Example:
        >>> recs = [{"kind": "query", "experience": 0, "reward": 1.0, "missed": False},
        ...         {"kind": "query", "experience": 1, "reward": 0.0, "missed": True}]
        >>> query_score_matrix(recs).tolist()
        [[1.0], [0.0]]
    """
    rows: dict[int, list[float]] = {}
    for r in records:
        d = r if isinstance(r, Mapping) else r.to_dict()
        if d["kind"] != "query":
            continue
        rows.setdefault(int(d["experience"]), []).append(0.0 if d.get("missed") else float(d["reward"]))
    t = n_experiences if n_experiences is not None else (max(rows) + 1 if rows else 0)
    n = max((len(v) for v in rows.values()), default=0)
    S = np.full((t, n), np.nan)
    for k, v in rows.items():
        if k < t:
            S[k, : len(v)] = v
    return S


def learning_curve_area(S: ArrayLike, beta: int | None = None) -> float:
    """Learning-curve area (LCA): how fast new material is picked up while awake.

    LCA_beta = 1/(beta+1) sum_{b=0}^{beta} Z_b with Z_b = (1/T) sum_k S[k, b], from Chaudhry et
    al. (2019), "Efficient Lifelong Learning with A-GEM", arXiv 1812.00420, Eq. 4. There ``S[k, b]``
    is the accuracy on task k after b mini-batches of it; here it is the score of the b-th wake-time
    query of experience k (:func:`query_score_matrix`), so LCA is the area under the average
    within-experience learning curve. Higher is better; it lies in [0, 1].

    Args:
        S: (T, n) float scores in [0, 1] (``nan`` where an experience had fewer queries; such
            cells are left out of the mean Z_b).
        beta: Last query position b included (0-based); default ``n - 1``.

    Returns:
        LCA as a Python float in [0, 1]; ``nan`` when undefined (no queries, or a position b <= beta
        with no score in any experience).

    Raises:
        ValueError: If ``S`` is not 2-D or ``beta`` is negative.

    Example:
        >>> round(learning_curve_area([[0.0, 1.0], [0.5, 1.0]]), 6)  # (Z_0 + Z_1) / 2 = (0.25 + 1) / 2
        0.625
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"S must be a 2-D (experiences, queries) matrix, got shape {S.shape}; build it with query_score_matrix")
    if beta is not None and beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}; pass the last query position to include")
    n = S.shape[1] if beta is None else min(beta + 1, S.shape[1])
    if S.shape[0] == 0 or n == 0:
        return math.nan
    cols = S[:, :n]
    if np.any(np.all(np.isnan(cols), axis=0)):
        return math.nan
    return float(np.mean(np.nanmean(cols, axis=0)))


def split_accuracy(scores: ArrayLike, queried: ArrayLike) -> tuple[float, float]:
    """Closed-book accuracy on the items asked by day and on the items never asked.

    The protocol's guard against learning the quiz: every studied item is probed, only a seeded
    subset is asked by day, so a sleep that consolidates the day's questions rather than the day's
    memories scores ``acc_queried`` near 1 and ``acc_unqueried`` near 0. Both are item means over
    the whole probe set (every experience).

    Args:
        scores: (N,) float probe scores in [0, 1] of one probe round (e.g. the last row's answers).
        queried: (N,) bool, aligned with ``scores``: the probe's item was asked by day.

    Returns:
        ``(acc_queried, acc_unqueried)`` as Python floats in [0, 1]; ``nan`` for an empty side.

    Raises:
        ValueError: If the two arrays are not 1-D of the same length.

    Example:
        >>> split_accuracy([1.0, 1.0, 0.0, 0.5], [True, False, False, False])
        (1.0, 0.5)
        >>> split_accuracy([1.0], [True])
        (1.0, nan)
    """
    s = np.asarray(scores, dtype=np.float64)
    q = np.asarray(queried, dtype=bool)
    if s.ndim != 1 or q.shape != s.shape:
        raise ValueError(f"scores and queried must be 1-D arrays of one length, got shapes {s.shape} and {q.shape}; "
                         "pass one probe round's scores and env.probe_queried")
    side = lambda m: float(s[m].mean()) if m.any() else math.nan  # noqa: E731
    return side(q), side(~q)


def availability(records: Iterable[Mapping[str, Any] | Any]) -> float:
    """Share of the presented queries that the agent answered (it was awake).

    Availability = (queries not missed) / (queries presented); a query passes unanswered when it
    arrives while the agent sleeps (``EnvConfig.sleep_cost_steps``). Queries never presented
    (a truncated lifetime) are not counted.

    Args:
        records: The lifetime's step records (``StepRecord`` objects or their ``to_dict()``).

    Returns:
        A Python float in [0, 1]; ``nan`` when the lifetime presented no query.

    Example:
        >>> availability([{"kind": "query", "missed": False}, {"kind": "query", "missed": True},
        ...               {"kind": "study", "missed": False}])
        0.5
    """
    total = answered = 0
    for r in records:
        d = r if isinstance(r, Mapping) else r.to_dict()
        if d["kind"] == "query":
            total += 1
            answered += not d.get("missed", False)
    return answered / total if total else math.nan


def bootstrap_ci(
    values: ArrayLike, *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of a sample (e.g. one metric over seeds).

    Resamples the values with replacement ``n_resamples`` times (``np.random.default_rng(seed)``,
    so the interval is reproducible) and takes the (1 - confidence)/2 and (1 + confidence)/2
    quantiles of the resampled means (Efron & Tibshirani 1993, "An Introduction to the
    Bootstrap", ch. 13). ``nan`` values (undefined metrics) are dropped first.

    Args:
        values: (n,) floats.
        confidence: Coverage in (0, 1).
        n_resamples: Bootstrap resamples, >= 1.
        seed: Seed of the resampling generator.

    Returns:
        ``(mean, low, high)`` as Python floats; all ``nan`` without a value, and ``low``/``high``
        ``nan`` with a single value (one seed gives no interval).

    Raises:
        ValueError: If ``confidence`` is not in (0, 1) or ``n_resamples`` < 1.

    Example:
        >>> m, lo, hi = bootstrap_ci([0.5, 0.6, 0.7])
        >>> round(m, 6), 0.5 <= lo <= m <= hi <= 0.7
        (0.6, True)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}; pass e.g. 0.95")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if x.size == 1:
        return mean, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(lo), float(hi)
