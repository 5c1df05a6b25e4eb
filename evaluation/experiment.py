"""Run agents through one seeded stream and write a run directory (``sleep-env run``), or resume one.

A run directory holds ``config.json`` (the resolved config), ``summary.json``
(``{"agents": {name: {"acc": ..., "bwt": ..., ...}}}``) and, per agent, ``<agent>/steps.jsonl``,
``<agent>/R.npy``, ``<agent>/baseline.npy``, ``<agent>/probes.json`` (the probe rounds with their
global step), ``<agent>/lifetime.json`` (written last: the agent's lifetime is complete) and
``<agent>/tb/`` (TensorBoard events). While an agent lives, ``<agent>/checkpoint.pt`` is replaced
atomically at every wake-up (see :mod:`evaluation.checkpoint`); :func:`resume_experiment` continues
from it and ends with the same ``R`` and summary (up to wall-clock fields) as an uninterrupted run.
With ``keep_checkpoints: true`` each wake-up's checkpoint is also kept as
``<agent>/checkpoint-sleep<k>.pt`` (a branch point for ``examples/reseed.py``).
Files are written atomically (temporary file + rename) and are strict JSON: an undefined value (nan or inf,
e.g. a sleep's ``dream_retention`` when nothing was checked) is ``null`` (:mod:`evaluation.rundir`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from evaluation.checkpoint import CHECKPOINT_NAME, StatefulAgent, keep_checkpoint, load_checkpoint, save_checkpoint
from evaluation.config import RunConfig, config_to_dict, load_config
from evaluation.measured import _Measured, fresh_material
from evaluation.metrics import availability, learning_curve_area, query_score_matrix, split_accuracy, summarize
from evaluation.rundir import atomic_save_npy, atomic_write_text, claim_output_dir, json_safe
from sleep_env import EnvConfig, FixedInterval, SleepEnv, TaskBoundary, make_schedule, run_lifetime
from sleep_env.errors import ConfigError, SleepEnvError

__all__ = [
    "run_experiment",
    "resume_experiment",
    "build_env_config",
    "fresh_material",
    "atomic_write_text",
    "TIMING_KEYS",
]

TIMING_KEYS = frozenset({"seconds", "seconds_asleep", "seconds_consolidation", "seconds_dreaming"})
"""Summary fields that measure wall-clock time (they differ between otherwise identical runs)."""


@runtime_checkable
class CountsParameters(Protocol):
    """Optional agent method: ``{"active": parameters per forward pass, "trainable": parameters a sleep trains}``."""

    def parameter_counts(self) -> dict[str, int]:
        """Return the two counts."""
        ...


def build_env_config(cfg: RunConfig) -> EnvConfig:
    """The env of a run: ``cfg.stream_config()`` (``stream:`` or ``experiences`` x facts) under ``cfg.schedule``.

    Default schedule: a sleep every ``cfg.period`` steps; with a ``stream:`` and ``sleep_period: 0``, a sleep at
    the end of every experience (``TaskBoundary``: experiences may differ in length).
    """
    if cfg.schedule is not None:
        schedule = make_schedule(cfg.schedule)
    elif cfg.stream is not None and not cfg.sleep_period:
        schedule = TaskBoundary()
    else:
        schedule = FixedInterval(period=cfg.period)
    return EnvConfig(
        stream=cfg.stream_config(),
        schedule=schedule,
        context_chars=cfg.context_chars,
        seed=cfg.seed,
    )


def _make_agent(name: str, cfg: RunConfig):
    import torch

    from agents import (
        InContextAgent,
        ReplaySFTAgent,
        SDFTSleepAgent,
        SFTSleepAgent,
        SleepAgent,
        SleepAgentConfig,
        TransformersEngine,
        load_model,
    )
    from agents.memory.experts import ExpertConfig
    from agents.replay import ReplayConfig

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # the same global torch RNG state in a fresh and a resumed run
    model, tok = load_model(cfg.model)
    engine = TransformersEngine(model, tok)
    if name == "in-context":
        return InContextAgent(engine)
    s = cfg.sleep
    acfg = SleepAgentConfig(
        steps=s.steps, batch_size=s.batch_size, lr=s.lr, on_policy_fraction=s.on_policy_fraction, beta=s.beta,
        replay_per_batch=s.replay_per_batch, replay=ReplayConfig(sources=s.replay, cuts_per_unit=s.cuts_per_unit, support=s.support),
        router=s.router,
        experts=ExpertConfig(d_low=s.d_low, pool_size=s.pool_size, first_layer=s.first_layer, levels=s.levels),
        alpha=s.alpha, gamma=s.gamma, z0=s.z0, expand=s.expand, min_retention=s.min_retention, seed=cfg.seed,
    )
    dreaming = None
    if cfg.dreaming is not None or name == "seal":
        from agents.dreaming import DreamingConfig

        dreaming = DreamingConfig(**(cfg.dreaming or {}))
    if name == "seal":
        from agents.seal import SEALAgent

        return SEALAgent(engine, dreaming, seed=cfg.seed)
    if name == "sleep":
        return SleepAgent(engine, acfg, dreaming=dreaming)
    return {"sft": SFTSleepAgent, "sft-replay": ReplaySFTAgent, "sdft": SDFTSleepAgent}[name](engine, acfg)


def _logger(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda msg: None

    def log(msg: str) -> None:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)  # keeps an open progress bar intact

    return log


def run_experiment(cfg: RunConfig, out: str | Path, *, quiet: bool = False, force: bool = False,
                   tensorboard: bool = True) -> dict[str, Any]:
    """Run every configured agent on the same seeded stream and write the run directory.

    Args:
        cfg: The run configuration.
        out: Run directory; it must not exist or be empty (a used one is refused unless ``force``).
        quiet: No progress bars or lines on stderr.
        force: Delete an existing ``out`` first.
        tensorboard: Write TensorBoard events under ``<agent>/tb``.

    Returns:
        The summary dict also written to ``summary.json``.

    Raises:
        SleepEnvError: If ``out`` is a file or a used folder and ``force`` is not set.
    """
    out = claim_output_dir(out, force=force, what="run directory", also="--resume it, ")
    atomic_write_text(out / "config.json", json.dumps(config_to_dict(cfg), indent=2))
    try:
        return _run_all(cfg, out, quiet=quiet, tensorboard=tensorboard, summary=None)
    except BaseException:
        # a run that failed before anything resumable existed (e.g. the model did not load) leaves no
        # folder behind to block a rerun; with a checkpoint or a finished agent it stays for --resume
        if not any(out.rglob(CHECKPOINT_NAME)) and not any(out.rglob("lifetime.json")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def resume_experiment(run_dir: str | Path, *, quiet: bool = False, tensorboard: bool = True) -> dict[str, Any]:
    """Continue an interrupted run directory: finished agents are kept, the others resume.

    An agent with a ``checkpoint.pt`` continues from its last wake-up; one killed before its first
    wake-up starts its lifetime again (its partial files are replaced). The result equals an
    uninterrupted run with the same config (same ``R``, records and summary except the wall-clock
    fields in :data:`TIMING_KEYS`).

    Args:
        run_dir: A directory written by :func:`run_experiment`.
        quiet: No progress bars or lines on stderr.
        tensorboard: Write TensorBoard events.

    Returns:
        The completed summary (also written to ``summary.json``).

    Raises:
        SleepEnvError: If ``run_dir`` is not a run directory, or a checkpoint or summary is corrupt.
    """
    out = Path(run_dir)
    cfg_path = out / "config.json"
    if not out.is_dir() or not cfg_path.is_file():
        raise SleepEnvError(
            f"{str(out)!r} is not a run directory (no config.json); pass a directory written by `sleep-env run`"
        )
    try:
        cfg = load_config(json.loads(cfg_path.read_text()))
    except (ValueError, ConfigError) as exc:
        raise SleepEnvError(f"{cfg_path} is not a valid run config ({exc}); the run directory is damaged") from None
    summary = None
    if (out / "summary.json").is_file():
        try:
            summary = json.loads((out / "summary.json").read_text())
            if not all(isinstance(v, dict) and "acc" in v for v in summary["agents"].values()):
                raise ValueError("an agent entry is not a summary")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SleepEnvError(f"{out / 'summary.json'} is corrupt; delete it to recompute the finished agents' entries") from None
    # read every checkpoint first: a corrupt one is reported before any agent runs again
    ckpts = {name: load_checkpoint(out / name / CHECKPOINT_NAME) for name in cfg.agents
             if not _finished(out, name, summary) and (out / name / CHECKPOINT_NAME).is_file()}
    return _run_all(cfg, out, quiet=quiet, tensorboard=tensorboard, summary=summary, ckpts=ckpts)


def _finished(out: Path, name: str, summary: dict | None) -> bool:
    return (out / name / "lifetime.json").is_file() and summary is not None and name in summary["agents"]


def _run_all(cfg: RunConfig, out: Path, *, quiet: bool, tensorboard: bool, summary: dict | None,
             ckpts: dict[str, dict] | None = None) -> dict[str, Any]:
    summary = summary or {"agents": {}, "seed": cfg.seed, "model": cfg.model}
    # completeness is recorded: a run killed between agents leaves "pending" non-empty
    summary["pending"] = [n for n in cfg.agents if not _finished(out, n, summary)]
    for name in cfg.agents:
        adir = out / name
        if _finished(out, name, summary):
            continue  # finished before the interruption
        ckpt = (ckpts or {}).get(name)
        if ckpt is None and adir.exists():
            shutil.rmtree(adir)  # killed before its first wake-up: start its lifetime again
        summary["agents"][name] = _run_agent(name, cfg, adir, ckpt, quiet=quiet, tensorboard=tensorboard)
        summary["pending"] = [n for n in summary["pending"] if n != name]
        atomic_write_text(out / "summary.json", json.dumps(json_safe(summary), indent=2))
    return summary


def _run_agent(name: str, cfg: RunConfig, adir: Path, ckpt: dict | None, *, quiet: bool,
               tensorboard: bool) -> dict[str, Any]:
    from tqdm import tqdm

    from evaluation.tblog import ScalarLogger

    log = _logger(quiet)
    t0 = time.perf_counter()
    adir.mkdir(parents=True, exist_ok=True)
    env = SleepEnv(build_env_config(cfg))
    n_items = sum(e.n_study + e.n_query for e in cfg.stream_config().experiences)
    log(f"[{name}] loading {cfg.model} ...")
    bar = tqdm(total=n_items, desc=f"[{name}] seed {cfg.seed}", unit="item", disable=quiet, file=sys.stderr,
               leave=False, dynamic_ncols=True)
    if quiet:  # transformers' own bars (weight loading) too
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    inner = _make_agent(name, cfg)
    agent = _Measured(inner, cfg, log, routed=name in ("sleep", "sft", "sft-replay", "sdft"), bar=bar, env=env)
    stateful = isinstance(inner, StatefulAgent)
    probes: list[dict[str, Any]] = []
    prior_seconds = 0.0
    resume = None
    if ckpt is not None:
        if ckpt["agent"] is not None:
            inner.load_state_dict(ckpt["agent"])
        extra = ckpt["extra"]
        agent.in_context, agent.in_context_experts_on = extra["in_context"], extra["in_context_experts_on"]
        probes, prior_seconds, resume = extra["probes"], extra["seconds"], ckpt["loop"]
        log(f"[{name}] resuming after sleep {resume['env']['model_version']} (step {resume['env']['steps']})")
    else:
        agent.measure()
    purge = None if resume is None else int(resume["env"]["steps"]) + 1
    tb = ScalarLogger(adir / "tb", purge_step=purge) if tensorboard else None
    if resume is not None:
        bar.update(sum(1 for r in resume["env"]["records"] if r["kind"] != "sleep"))

    def on_step(rec) -> None:
        if rec.kind != "sleep":
            bar.update(1)
        if tb is not None and rec.kind == "query" and not rec.missed:
            tb.scalar("wake/query_reward", rec.reward, rec.step + 1)

    done_rows = {p["row"] for p in probes}

    def on_probe(step: int, R: np.ndarray, b: np.ndarray) -> None:
        # the rows this round filled (a wake step can fill several); -1 = the baseline b at reset
        rows = [i for i in range(R.shape[0]) if i not in done_rows and not np.all(np.isnan(R[i]))]
        rows = rows or ([-1] if -1 not in done_rows else [])
        items, queried, exp = env.last_probe_scores, env.probe_queried, np.asarray(env.probe_prompts().experiences)
        for row in rows:
            done_rows.add(row)
            scores = b if row < 0 else R[row]
            seen = exp <= row if row >= 0 else np.ones_like(queried)  # experiences studied so far (all for b)
            acc_q, acc_u = split_accuracy(items[seen], queried[seen])
            probes.append({"step": step, "row": row, "scores": [None if np.isnan(x) else float(x) for x in scores],
                           "acc_queried": acc_q, "acc_unqueried": acc_u})
        if tb is not None and rows:
            row = rows[-1]
            scores = b if row < 0 else R[row]
            for tag, vals in (("probe/acc_all", scores), ("probe/acc_seen", scores[: row + 1] if row >= 0 else []),
                              ("probe/acc_queried", [acc_q]), ("probe/acc_unqueried", [acc_u])):
                vals = np.asarray(vals, dtype=float)
                if vals.size and not np.all(np.isnan(vals)):
                    tb.scalar(tag, float(np.nanmean(vals)), step)
            tb.flush()

    def on_wake(report, state) -> None:
        agent._after_sleep()  # take the post-sleep measurement before the checkpoint
        step = int(state["env"]["steps"])  # the wake step's global step
        if tb is not None:
            tb.scalar("sleep/seconds", report.seconds, step)
            tb.scalar("sleep/optimizer_steps", report.steps, step)
            tb.scalar("sleep/model_version", state["env"]["model_version"], step)
            for k, v in report.metrics.items():
                if np.isfinite(v):
                    tb.scalar(f"sleep/{k}", v, step)
            if agent.in_context:
                tb.scalar("sleep/in_context_acc_fresh", agent.in_context[-1], step)
            tb.flush()
        if stateful:
            extra = {"in_context": agent.in_context, "in_context_experts_on": agent.in_context_experts_on,
                     "probes": probes, "seconds": prior_seconds + time.perf_counter() - t0}
            save_checkpoint(adir / CHECKPOINT_NAME, loop=state, agent=inner.state_dict(), extra=extra)
            if cfg.keep_checkpoints:
                keep_checkpoint(adir / CHECKPOINT_NAME, int(state["env"]["totals"]["sleeps"]))

    if resume is None:
        log(f"[{name}] lifetime of {n_items} items under {type(env.config.schedule).__name__}")
    try:
        record = run_lifetime(env, agent, seed=cfg.seed, on_step=on_step, on_probe=on_probe, on_wake=on_wake,
                              resume=resume)
        agent._after_sleep()  # a sleep at the very end of the stream
    finally:
        bar.close()
        if tb is not None:
            tb.close()
    R, b = record.accuracy_matrix, record.baseline
    metrics = summarize(R, b)
    queries = [r for r in record.steps if r.kind == "query" and not r.missed]
    final = env.evaluate_probes(record.probe_answers[-1]) if record.probe_answers else np.zeros(0)
    acc_q, acc_u = split_accuracy(final, env.probe_queried) if final.size else (float("nan"), float("nan"))
    entry: dict[str, Any] = {
        **metrics,
        "acc_queried": acc_q,
        "acc_unqueried": acc_u,
        "closed_book_final_acc": metrics["acc"],
        "wake_query_acc": float(np.mean([r.reward for r in queries])) if queries else float("nan"),
        "lca": learning_curve_area(query_score_matrix(record.steps, len(cfg.stream_config().experiences))),
        "availability": availability(record.steps),
        "sleeps": record.sleeps,
        "seconds_asleep": record.sleep_seconds,
        "in_context_acc_per_sleep": agent.in_context,
        "seconds": prior_seconds + time.perf_counter() - t0,
    }
    if agent.in_context_experts_on:
        entry["in_context_acc_experts_always_on"] = agent.in_context_experts_on
    for part in ("consolidation", "dreaming"):  # wall-clock split of the sleeps (agents with Dreaming report it)
        per_sleep = [r.metrics[f"seconds_{part}"] for r in record.sleep_reports if f"seconds_{part}" in r.metrics]
        if per_sleep:
            entry[f"seconds_{part}"] = float(sum(per_sleep))
    dreamt = [r.metrics for r in record.sleep_reports if "dream_reward_rate_r0" in r.metrics]
    if dreamt:  # Dreaming's learning signal: does the reward rise over the ReST-EM rounds of a sleep?
        rounds = max(sum(k.startswith("dream_reward_rate_r") for k in m) for m in dreamt)
        for name in ("reward_rate", "yield_rate", "expected_reward"):  # mean over sleeps, per round
            per_round = [[m[f"dream_{name}_r{i}"] for m in dreamt if np.isfinite(m.get(f"dream_{name}_r{i}", np.nan))]
                         for i in range(rounds)]  # a round with nothing to trial (nan rate) does not count
            entry[f"dream_{name}_per_round"] = [float(np.mean(r)) if r else float("nan") for r in per_round]
        entry["dream_applies_committed"] = int(sum(m.get("dream_committed", 0.0) for m in dreamt))
        entry["dream_sleeps"] = len(dreamt)
        # what Dreaming alone changed, paired on the same model (probes answered just before and after it)
        for k in ("gained", "lost"):
            paired = [m[f"eval_dream_probes_{k}"] for m in dreamt if f"eval_dream_probes_{k}" in m]
            if paired:
                entry[f"dream_probes_{k}"] = float(sum(paired))
    if isinstance(inner, CountsParameters):
        counts = inner.parameter_counts()
        entry["active_parameters"], entry["trainable_parameters"] = int(counts["active"]), int(counts["trainable"])
    if agent.routed:
        entry["active_expert_parameters"] = inner.memory.active_parameters()
    atomic_save_npy(adir / "R.npy", R)
    atomic_save_npy(adir / "baseline.npy", b)
    atomic_write_text(adir / "steps.jsonl", "".join(json.dumps(json_safe(r.to_dict())) + "\n" for r in record.steps))
    atomic_write_text(adir / "probes.json", json.dumps(probes))
    # strict JSON: an undefined value (nan) is written as null, as in summary.json
    atomic_write_text(adir / "lifetime.json", json.dumps(json_safe(record.to_dict()), indent=1))  # the completion marker
    if (adir / CHECKPOINT_NAME).exists():
        os.unlink(adir / CHECKPOINT_NAME)  # nothing left to continue
    return entry
