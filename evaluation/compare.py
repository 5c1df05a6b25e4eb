"""Compare sleep schedules: a grid of schedules x agents x seeds, run locally or on Ray (``sleep-env compare``).

Every cell is an ordinary run directory (``<out>/runs/<schedule>/<agent>/seed_<k>/``, see
:mod:`evaluation.experiment`) of one agent under one schedule on the stream of one seed; all cells
with the same seed see the identical stream (the stream is a pure function of the seed, and the
schedule only decides when the agent may sleep). The table gives, per (schedule, agent), the mean
over seeds of each metric with a 95% percentile-bootstrap confidence interval
(:func:`evaluation.metrics.bootstrap_ci`), and is written as ``compare.csv`` and ``compare.json``.

A cell that raises (or whose worker process dies) is retried once; there the retry continues the
cell's run directory from its last checkpoint. A cell that fails twice stays in the results with
``status="failed"`` and its error, is counted in the table's ``failed`` column, and makes
``sleep-env compare`` exit with status 1: never silently dropped.

Config (YAML): every ``sleep-env run`` key (the base run), plus::

    seeds: [0, 1, 2]                 # default: [seed]
    schedules:                       # non-empty; a name or {name: ..., parameters, label: optional}
      - never
      - {name: fixed-interval, period: 12}
      - {name: multi-level, periods: [12, 24]}
      - {name: memory-pressure, threshold: 0.8}
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evaluation.config import RunConfig, _Loader, check_bare_dreaming, config_to_dict, load_config, read_config_text, yaml_problem
from evaluation.executors import cores, run_local, run_ray
from evaluation.metrics import bootstrap_ci
from sleep_env.errors import ConfigError, SleepEnvError
from sleep_env.schedules import make_schedule, schedule_to_dict

__all__ = ["CompareConfig", "load_compare_config", "compare", "run_cell", "aggregate", "format_table", "TABLE_METRICS"]

TABLE_METRICS = ("acc", "acc_queried", "acc_unqueried", "bwt", "fwt", "forgetting", "lca", "availability", "wake_query_acc", "sleeps", "seconds_asleep")
"""Summary fields tabulated per (schedule, agent): mean and 95% CI over seeds."""


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """A comparison grid.

    Attributes:
        base: The run every cell starts from (its ``seed`` and ``schedule`` are replaced per cell).
        schedules: Canonical schedule mappings (``{"name": ..., **parameters}``), >= 1.
        labels: One unique, path-safe label per schedule (table rows and directory names).
        seeds: Stream seeds, >= 1, distinct.
    """

    base: RunConfig
    schedules: tuple[dict[str, Any], ...]
    labels: tuple[str, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.schedules:
            raise ConfigError("schedules must be a non-empty list, got []; list at least one, e.g. schedules: [never]")
        if not self.seeds:
            raise ConfigError("seeds must be a non-empty list of integers, got []; e.g. seeds: [0, 1, 2]")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct, got {list(self.seeds)}")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"schedule labels must be unique, got {list(self.labels)}; add label: to tell them apart")

    def cells(self) -> list[dict[str, Any]]:
        """The grid in order schedule, agent, seed: ``{"schedule", "agent", "seed", "config"}`` per cell."""
        out = []
        for label, spec in zip(self.labels, self.schedules):
            for agent in self.base.agents:
                for seed in self.seeds:
                    cfg = dataclasses.replace(self.base, schedule=spec, sleep_period=0, seed=seed, agents=(agent,),
                                              threads=self.base.threads or 1)
                    out.append({"schedule": label, "agent": agent, "seed": seed, "config": config_to_dict(cfg)})
        return out


def _label(spec: dict[str, Any]) -> str:
    parts = [spec["name"]]
    for k, v in spec.items():
        if k != "name":
            parts.extend(str(x) for x in (v if isinstance(v, list) else [v]))
    return "-".join(parts)


def load_compare_config(source: str | Path | Mapping[str, Any]) -> CompareConfig:
    """Load a :class:`CompareConfig` from a YAML file or a mapping.

    Raises:
        ConfigError: A missing file, bad YAML, an empty or invalid ``schedules`` / ``seeds`` list, or
            a bad run key (the message names the field and the value).
    """
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"compare config {str(path)!r} does not exist; pass the path of a YAML file")
        try:
            text = read_config_text(path)
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader
        except yaml.YAMLError as exc:
            raise ConfigError(f"compare config is not valid YAML: {yaml_problem(exc)}") from None
        check_bare_dreaming(text, data)
        if not isinstance(data, dict):
            raise ConfigError(f"compare config must be a mapping with a schedules: list, got {data!r}")
    for single, grid in (("schedule", "schedules"), ("seed", "seeds"), ("sleep_period", "schedules")):
        if single in data and grid in data:  # the grid wins; silently dropping the other would mislead
            raise ConfigError(f"compare config has both {single!r} and {grid!r}; a compare runs every entry of "
                              f"{grid!r}: drop {single!r} (or fold it into {grid!r})")
    raw_schedules = data.pop("schedules", None)
    raw_seeds = data.pop("seeds", None)
    if raw_schedules is None:
        raise ConfigError("compare config has no 'schedules' key; add e.g. schedules: [never, {name: fixed-interval, period: 12}]")
    if not isinstance(raw_schedules, list):
        raise ConfigError(f"schedules must be a list, got {raw_schedules!r}")
    base = load_config(data)
    specs, labels = [], []
    for i, raw in enumerate(raw_schedules):
        label = None
        if isinstance(raw, Mapping):
            raw = dict(raw)
            label = raw.pop("label", None)
        try:
            spec = schedule_to_dict(make_schedule(raw))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"schedules[{i}]: {exc}") from None
        specs.append(spec)
        label = str(label) if label is not None else _label(spec)
        if not label or any(c in label for c in "/\\") or label.startswith("."):
            raise ConfigError(f"schedules[{i}].label must be a non-empty name without '/', got {label!r}")
        labels.append(label)
    if raw_seeds is None:
        seeds = (base.seed,)
    else:
        if not isinstance(raw_seeds, list) or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32 for s in raw_seeds):
            raise ConfigError(f"seeds must be a list of integers in [0, 2**32), got {raw_seeds!r}; e.g. seeds: [0, 1, 2]")
        seeds = tuple(raw_seeds)
    return CompareConfig(base=base, schedules=tuple(specs), labels=tuple(labels), seeds=seeds)


def run_cell(cell: Mapping[str, Any]) -> dict[str, Any]:
    """Run (or continue) one cell in this process and return its summary entry.

    Args:
        cell: ``{"config": config dict of one agent, "run_dir": path}`` (from :meth:`CompareConfig.cells`).

    Returns:
        The agent's summary entry (metrics as in ``summary.json``).
    """
    from evaluation.experiment import resume_experiment, run_experiment

    run_dir = Path(cell["run_dir"])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if (run_dir / "config.json").is_file():  # a retry continues from the last checkpoint
        summary = resume_experiment(run_dir, quiet=True)
    else:
        summary = run_experiment(load_config(cell["config"]), run_dir, quiet=True)
    return next(iter(summary["agents"].values()))


def compare(
    config: CompareConfig,
    out: str | Path,
    *,
    executor: str = "local",
    address: str | None = None,
    workers: int = 0,
    quiet: bool = False,
    force: bool = False,
    report: bool = True,
    cell_fn: Callable[[Mapping[str, Any]], dict[str, Any]] = run_cell,
) -> dict[str, Any]:
    """Run the grid and write ``compare.json``, ``compare.csv`` (and the plots and ``report.md``).

    Args:
        config: The grid.
        out: The compare directory; must not exist or be empty unless ``force`` (then it is deleted).
        executor: ``"local"`` (a pool of ``workers`` processes) or ``"ray"`` (a local Ray instance
            with ``workers`` CPUs, or the cluster at ``address``; the project must be importable there).
        address: Ray cluster address (e.g. ``"ray://head:10001"`` or ``"auto"``); ``None`` starts a local instance.
        workers: Cells run side by side; 0 = the CPU cores available. Each cell uses ``threads`` torch
            threads (default 1).
        quiet: No progress bar.
        force: Replace an existing ``out``.
        report: Also write the plots and ``report.md``.
        cell_fn: The function run per cell (picklable; default :func:`run_cell`).

    Returns:
        ``{"cells": [...], "table": [...], "labels": [...], "seeds": [...], "executor": ...}`` as in
        ``compare.json``; each cell's ``run_dir`` is relative to ``out``.

    Raises:
        SleepEnvError: If ``out`` is used and ``force`` is not set, or ``executor`` is unknown.
    """
    from tqdm import tqdm

    from evaluation.rundir import claim_output_dir

    if executor not in ("local", "ray"):
        raise SleepEnvError(f"executor must be 'local' or 'ray', got {executor!r}")
    out = claim_output_dir(out, force=force, what="compare directory")
    cells = config.cells()
    for c in cells:
        c["rel_dir"] = f"runs/{c['schedule']}/{c['agent']}/seed_{c['seed']}"  # relative: the directory may move
        c["run_dir"] = str((out / c["rel_dir"]).resolve())
    workers = workers or min(len(cells), cores())
    results: list[dict[str, Any]] = [
        {"schedule": c["schedule"], "agent": c["agent"], "seed": c["seed"], "run_dir": c["rel_dir"],
         "status": "pending", "attempts": 0, "error": None, "metrics": None} for c in cells
    ]
    bar = tqdm(total=len(cells), desc="compare", unit="cell", disable=quiet, file=sys.stderr, dynamic_ncols=True)

    def on_done(i: int, attempt: int, metrics: dict | None, exc: BaseException | None) -> bool:
        r = results[i]
        r["attempts"] = attempt + 1
        if exc is None:
            r.update(status="ok", metrics=metrics, error=None)
            bar.update(1)
            return False
        r["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:500]
        if attempt == 0:
            bar.write(f"cell {r['schedule']}/{r['agent']}/seed {r['seed']} failed ({r['error']}); retrying once",
                      file=sys.stderr)
            return True
        r["status"] = "failed"
        bar.update(1)
        return False

    t0 = time.perf_counter()
    try:
        if executor == "local":
            run_local(cells, cell_fn, workers, on_done)
        else:
            run_ray(cells, cell_fn, address, workers, on_done)
    finally:
        bar.close()
    result = {
        "executor": executor,
        "labels": list(config.labels),
        "schedules": [dict(s) for s in config.schedules],
        "agents": list(config.base.agents),
        "seeds": list(config.seeds),
        "seconds": time.perf_counter() - t0,
        "cells": results,
        "table": aggregate(results, config.labels, config.base.agents),
    }
    _write(out, result)
    if report:
        from evaluation.report import write_report

        write_report(out)
    return result


def aggregate(results: list[Mapping[str, Any]], labels: tuple[str, ...] | list[str],
              agents: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Mean and 95% bootstrap CI over seeds of each :data:`TABLE_METRICS` field, per (schedule, agent).

    Returns:
        One row per (schedule, agent) in grid order: ``{"schedule", "agent", "n" (seeds that ran),
        "failed" (cells that failed twice), <metric>: {"mean", "lo", "hi"}}``; ``nan`` where undefined.
    """
    rows = []
    for label in labels:
        for agent in agents:
            mine = [r for r in results if r["schedule"] == label and r["agent"] == agent]
            ok = [r["metrics"] for r in mine if r["status"] == "ok"]
            row: dict[str, Any] = {"schedule": label, "agent": agent, "n": len(ok),
                                   "failed": sum(r["status"] == "failed" for r in mine)}
            for m in TABLE_METRICS:
                vals = [math.nan if e.get(m) is None else float(e[m]) for e in ok]
                mean, lo, hi = bootstrap_ci(vals)
                row[m] = {"mean": mean, "lo": lo, "hi": hi}
            rows.append(row)
    return rows


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _write(out: Path, result: dict[str, Any]) -> None:
    from evaluation.rundir import atomic_write_text, json_safe

    atomic_write_text(out / "compare.json", json.dumps(json_safe(result), indent=2))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["schedule", "agent", "n", "failed"] + [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "lo", "hi")])
    for row in result["table"]:
        vals = [row[m][s] for m in TABLE_METRICS for s in ("mean", "lo", "hi")]
        w.writerow([row["schedule"], row["agent"], row["n"], row["failed"]] + ["" if _num(v) is None else repr(float(v)) for v in vals])
    atomic_write_text(out / "compare.csv", buf.getvalue())


def format_table(result: Mapping[str, Any], metrics: tuple[str, ...] = ("acc", "acc_unqueried", "forgetting", "bwt", "lca",
                                                                         "availability", "sleeps")) -> str:
    """The comparison table as text: ``mean [lo, hi]`` per metric (95% bootstrap CI over seeds)."""

    def cell(v: Mapping[str, float]) -> str:
        if _num(v["mean"]) is None:
            return "nan"
        ci = "" if _num(v["lo"]) is None else f" [{v['lo']:.2f}, {v['hi']:.2f}]"
        return f"{v['mean']:.2f}{ci}"

    head = ["schedule", "agent", "seeds"] + [m for m in metrics]
    rows = [[r["schedule"], r["agent"], f"{r['n']}" + (f" ({r['failed']} failed)" if r["failed"] else "")]
            + [cell(r[m]) for m in metrics] for r in result["table"]]
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    text = [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    if any(r["n"] > 1 or r["failed"] for r in result["table"]):
        text.append("mean [95% bootstrap CI] over seeds")
    else:  # one seed per cell and none failed: no interval to show
        text.append("one seed per cell: values, no confidence interval (add seeds: [0, 1, 2] for one)")
    return "\n".join(text)
