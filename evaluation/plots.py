"""PNG plots of runs and comparisons (matplotlib, headless ``Agg`` backend).

- :func:`plot_lifetime`: probe accuracy over the lifetime (global step = env steps taken) with the
  wake-time query accuracy and a dashed line at every sleep;
- :func:`plot_accuracy_matrix`: the ``R`` heatmap (rows: after experience i; columns: experience j);
- :func:`plot_comparison`: per schedule and agent, the mean of a metric over seeds with its 95%
  bootstrap confidence interval as error bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_lifetime", "plot_accuracy_matrix", "plot_comparison"]


def _plt():
    try:
        import matplotlib
    except ImportError:
        from sleep_env.errors import DependencyNotInstalled

        raise DependencyNotInstalled("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lifetime(records: Sequence[Mapping[str, Any]], probes: Sequence[Mapping[str, Any]], path: str | Path, *,
                  title: str = "") -> Path:
    """Plot accuracy over one lifetime with sleep markers and save it as a PNG.

    Args:
        records: The step records (``steps.jsonl`` lines) in order.
        probes: The probe rounds (``probes.json``): ``{"step", "row", "scores"}``; row -1 = baseline.
        path: Output PNG path.
        title: Figure title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    steps = [p["step"] for p in probes]
    def mean(xs) -> float:
        a = np.array([np.nan if x is None else x for x in xs], dtype=float)
        return float(np.nanmean(a)) if a.size and not np.all(np.isnan(a)) else math.nan

    acc_all = [mean(p["scores"]) for p in probes]
    seen = [mean(p["scores"][: p["row"] + 1]) if p["row"] >= 0 else math.nan for p in probes]
    ax.plot(steps, acc_all, "o-", label="probe accuracy, all experiences")
    ax.plot(steps, seen, "s--", label="probe accuracy, experiences seen")
    q = [(r["step"] + 1, 0.0 if r.get("missed") else r["reward"]) for r in records if r["kind"] == "query"]
    if q:
        xs, ys = zip(*q)
        running = np.cumsum(ys) / np.arange(1, len(ys) + 1)
        ax.plot(xs, running, "-", alpha=0.7, label="wake query accuracy (running mean)")
    sleeps = [r["step"] + 1 for r in records if r["kind"] == "sleep"]
    for i, s in enumerate(sleeps):
        ax.axvline(s, color="grey", ls=":", lw=1, label="sleep" if i == 0 else None)
    ax.set_xlabel("global step (env steps taken)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    return _save(plt, fig, path)


def _save(plt, fig, path: str | Path) -> Path:
    """Lay out, write ``fig`` as a PNG at ``path`` (parents created) and close it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_accuracy_matrix(R: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """Plot ``R`` (T, T) as an annotated heatmap (``nan`` cells left blank) and save it as a PNG."""
    plt = _plt()
    R = np.asarray(R, dtype=float)
    t = R.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * t, 1.0 + 0.6 * t), dpi=110)
    im = ax.imshow(np.ma.masked_invalid(R), vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(t):
        for j in range(t):
            if not math.isnan(R[i, j]):
                ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if R[i, j] < 0.6 else "black")
    ax.set_xticks(range(t))
    ax.set_yticks(range(t))
    ax.set_xlabel("experience j (probed)")
    ax.set_ylabel("after experience i")
    ax.set_title(title or "R[i, j]", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(plt, fig, path)


def plot_comparison(table: Sequence[Mapping[str, Any]], path: str | Path,
                    metrics: Sequence[str] = ("acc", "forgetting", "availability")) -> Path:
    """Bar chart of each metric per schedule (one bar per agent) with 95% CI error bars; saved as a PNG.

    Args:
        table: Rows of :func:`evaluation.compare.aggregate`.
        path: Output PNG path.
        metrics: The metrics, one panel each.
    """
    plt = _plt()
    labels = list(dict.fromkeys(r["schedule"] for r in table))
    agents = list(dict.fromkeys(r["agent"] for r in table))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), dpi=110, squeeze=False)
    width = 0.8 / max(1, len(agents))
    for ax, m in zip(axes[0], metrics):
        for k, agent in enumerate(agents):
            rows = {r["schedule"]: r[m] for r in table if r["agent"] == agent}
            means = np.array([rows[s]["mean"] if rows[s]["mean"] is not None else np.nan for s in labels], float)
            lo = np.array([rows[s]["lo"] if rows[s]["lo"] is not None else np.nan for s in labels], float)
            hi = np.array([rows[s]["hi"] if rows[s]["hi"] is not None else np.nan for s in labels], float)
            err = np.vstack([np.nan_to_num(means - lo), np.nan_to_num(hi - means)])
            x = np.arange(len(labels)) + (k - (len(agents) - 1) / 2) * width
            ax.bar(x, np.nan_to_num(means), width, yerr=err, capsize=3, label=agent)
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(m)
        ax.axhline(0, color="black", lw=0.5)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("mean over seeds, 95% bootstrap CI", fontsize=9)
    return _save(plt, fig, path)
