"""Markdown reports of a run or compare directory (``sleep-env report RUN_DIR``).

The report (``<dir>/report.md``) embeds PNGs written to ``<dir>/plots/``: for a run directory, per
agent the accuracy over the lifetime with sleep markers and the ``R`` heatmap; for a compare
directory, the schedule comparison with 95% CI error bars, the table, and one lifetime plot and
heatmap per (schedule, agent) for the first seed that ran.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sleep_env.errors import SleepEnvError

__all__ = ["write_report"]

_RUN_COLS = ("acc", "acc_queried", "acc_unqueried", "bwt", "fwt", "forgetting", "lca", "availability", "wake_query_acc", "sleeps", "seconds_asleep")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SleepEnvError(f"{path} is unreadable or not JSON ({exc}); the directory is damaged") from None


def _agent_plots(adir: Path, plots: Path, stem: str, title: str) -> list[str]:
    """Lifetime plot + R heatmap of one finished agent directory; returns Markdown lines."""
    from evaluation.plots import plot_accuracy_matrix, plot_lifetime

    if not (adir / "R.npy").is_file():
        return [f"_{title}: no finished lifetime in {adir.name} (interrupted? `sleep-env run --resume`)._", ""]
    records = [json.loads(x) for x in (adir / "steps.jsonl").read_text().splitlines() if x.strip()]
    probes = _read_json(adir / "probes.json") if (adir / "probes.json").is_file() else []
    life = plot_lifetime(records, probes, plots / f"{stem}_lifetime.png", title=title)
    heat = plot_accuracy_matrix(np.load(adir / "R.npy"), plots / f"{stem}_R.png", title=f"R, {title}")
    rel = lambda p: p.relative_to(plots.parent).as_posix()  # noqa: E731
    return [f"![accuracy over the lifetime, {title}]({rel(life)})", "", f"![R heatmap, {title}]({rel(heat)})", ""]


def _run_report(d: Path) -> list[str]:
    summary = _read_json(d / "summary.json")
    cfg = _read_json(d / "config.json")
    try:
        agents = dict(summary["agents"])
    except (KeyError, TypeError, ValueError):
        raise SleepEnvError(f"{d / 'summary.json'} has no 'agents' mapping; it is not a run summary") from None
    lines = [f"# Run report: {d.name}", "", f"Model `{cfg.get('model')}`, seed {cfg.get('seed')}, "
             f"{cfg.get('experiences')} experiences, schedule `{cfg.get('schedule') or 'fixed-interval (sleep_period)'}`.", "",
             "| agent | " + " | ".join(_RUN_COLS) + " |", "|---" * (len(_RUN_COLS) + 1) + "|"]
    for name, e in agents.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(e.get(c)) for c in _RUN_COLS) + " |")
    from evaluation.rundir import pending_agents

    missing = pending_agents(summary, d)
    if missing:
        lines[2:2] = [f"**INCOMPLETE**: agent(s) {', '.join(missing)} have not finished; this report shows only the "
                      f"finished ones. Continue with `sleep-env run --resume {d}`.", ""]
    lines += ["", "ACC, BWT, FWT (Lopez-Paz & Ranzato 2017; BWT < 0 = forgetting), forgetting (Chaudhry et al. "
              "2018), LCA (Chaudhry et al. 2019) and availability; `acc_queried` / `acc_unqueried` = the final "
              "closed-book accuracy on the studied items that were / were never asked by day (a sleep that learns "
              "only the day's questions scores near 0 on the second); `nan` = undefined (e.g. BWT with one "
              "experience).", ""]
    for name in agents:
        lines += [f"## {name}", ""] + _agent_plots(d / name, d / "plots", name, name)
    return lines


def _compare_report(d: Path) -> list[str]:
    from evaluation.compare import format_table
    from evaluation.plots import plot_comparison

    result = _read_json(d / "compare.json")
    try:
        table, cells = result["table"], result["cells"]
    except (KeyError, TypeError):
        raise SleepEnvError(f"{d / 'compare.json'} has no table/cells; it is not a compare result") from None
    plots = d / "plots"
    comp = plot_comparison(table, plots / "comparison.png")
    failed = [c for c in cells if c["status"] != "ok"]
    lines = [f"# Schedule comparison: {d.name}", "",
             f"{len(result['labels'])} schedules x {len(result['agents'])} agents x {len(result['seeds'])} seeds "
             f"(seeds {result['seeds']}), executor `{result['executor']}`; every cell with the same seed saw the same stream.", "",
             f"![schedule comparison]({comp.relative_to(d).as_posix()})", "", "```", format_table(result), "```", ""]
    if failed:
        lines += ["Failed cells (after one retry):", ""] + [
            f"- {c['schedule']} / {c['agent']} / seed {c['seed']}: {c['error']}" for c in failed] + [""]
    for label in result["labels"]:
        for agent in result["agents"]:
            ok = [c for c in cells if c["schedule"] == label and c["agent"] == agent and c["status"] == "ok"]
            if not ok:
                continue
            c = ok[0]
            adir = d / c["run_dir"]  # relative to the compare directory
            lines += [f"## {label} / {agent} (seed {c['seed']})", ""]
            lines += _agent_plots(adir / agent, plots, f"{label}_{agent}_seed{c['seed']}", f"{label}, {agent}, seed {c['seed']}")
    return lines


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and its plots for a run directory or a compare directory.

    Args:
        run_dir: A directory written by ``sleep-env run`` (``summary.json``) or ``sleep-env compare``
            (``compare.json``).

    Returns:
        The path of ``report.md``.

    Raises:
        SleepEnvError: If ``run_dir`` is neither, or its files are damaged.
    """
    from evaluation.rundir import atomic_write_text

    d = Path(run_dir)
    if (d / "compare.json").is_file():
        lines = _compare_report(d)
    elif (d / "summary.json").is_file() and (d / "config.json").is_file():
        lines = _run_report(d)
    else:
        raise SleepEnvError(
            f"{str(d)!r} is not a run or compare directory (no summary.json + config.json, no compare.json); "
            "pass a directory written by `sleep-env run` or `sleep-env compare`"
        )
    path = d / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
