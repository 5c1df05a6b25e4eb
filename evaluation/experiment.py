"""Run agents through one seeded stream and write a run directory (``sleep-env run``).

A run directory holds ``config.json`` (the resolved config), ``summary.json``
(``{"agents": {name: {"acc": ..., "bwt": ..., ...}}}``) and, per agent, ``<agent>/steps.jsonl``,
``<agent>/R.npy``, ``<agent>/baseline.npy`` and ``<agent>/lifetime.json``. Files are written
atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evaluation.config import RunConfig, config_to_dict
from evaluation.metrics import summarize
from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, SleepEnv, StreamConfig, make_schedule, run_lifetime
from sleep_env.errors import SleepEnvError

__all__ = ["run_experiment", "build_env_config", "fresh_material", "atomic_write_text"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".npy", dir=path.parent)
    os.close(fd)
    np.save(tmp, arr)
    os.replace(tmp, path)


def build_env_config(cfg: RunConfig) -> EnvConfig:
    """The env of a run: ``experiences`` x facts, a sleep allowed every ``cfg.period`` steps."""
    exp = ExperienceConfig(task="facts", task_kwargs={"probe_stem": cfg.probe_stem, "match": cfg.match},
                           n_study=cfg.facts_per_experience, n_query=cfg.queries_per_experience)
    return EnvConfig(
        stream=StreamConfig(experiences=(exp,) * cfg.experiences),
        schedule=FixedInterval(period=cfg.period) if cfg.schedule is None else make_schedule(cfg.schedule),
        context_chars=cfg.context_chars,
        seed=cfg.seed,
    )


def fresh_material(cfg: RunConfig):
    """Held-out facts (a seed no experience uses) for measuring in-context accuracy around sleeps.

    Returns:
        (problems, context): the problems, and their study statements joined by newlines.
    """
    from tasks import make_task

    task = make_task("facts", match=cfg.match)
    seed = int(np.random.SeedSequence([cfg.seed, 7_777_777]).generate_state(1)[0])
    problems = [task.problem(seed, i) for i in range(cfg.fresh_facts)]
    return task, problems, "\n".join(p.context for p in problems)


class _Measured:
    """Agent wrapper: measures in-context accuracy on fresh material before the first sleep and after each."""

    def __init__(self, agent, cfg: RunConfig, log: Callable[[str], None], *, routed: bool):
        self.agent, self.log = agent, log
        self.routed = routed  # a SleepAgent: also measure what always-on experts would do
        self.task, self.problems, self.context = fresh_material(cfg)
        self.in_context: list[float] = []
        self.in_context_experts_on: list[float] = []
        self.pending: float | None = None

    def measure(self) -> None:
        prompts = [p.prompt for p in self.problems]
        ctxs = [self.context] * len(prompts)
        score = lambda ans: float(np.mean([self.task.score(p, a) for p, a in zip(self.problems, ans)]))  # noqa: E731
        self.in_context.append(score(self.agent.answer(prompts, ctxs)))
        if self.routed:
            self.in_context_experts_on.append(score(self.agent.answer(prompts, ctxs, router="always")))

    def _after_sleep(self) -> None:
        # measured at the first call after a sleep, so it is not counted as time asleep
        if self.pending is None:
            return
        seconds, self.pending = self.pending, None
        self.measure()
        on = f", experts always on {self.in_context_experts_on[-1]:.2f}" if self.in_context_experts_on else ""
        self.log(f"  sleep {len(self.in_context) - 1}: {seconds:.0f} s asleep; in-context accuracy on fresh facts "
                 f"{self.in_context[-1]:.2f} (before the first sleep {self.in_context[0]:.2f}{on})")

    def act(self, obs):
        self._after_sleep()
        return self.agent.act(obs)

    def answer(self, prompts, contexts):
        self._after_sleep()
        return self.agent.answer(prompts, contexts)

    def sleep(self, window):
        t0 = time.perf_counter()
        report = self.agent.sleep(window)
        self.pending = time.perf_counter() - t0
        return report


def _make_agent(name: str, cfg: RunConfig):
    import torch

    from agents import InContextAgent, SleepAgent, SleepAgentConfig, TransformersEngine, load_model
    from agents.memory.experts import ExpertConfig

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, tok = load_model(cfg.model)
    engine = TransformersEngine(model, tok)
    if name == "in-context":
        return InContextAgent(engine)
    s = cfg.sleep
    acfg = SleepAgentConfig(
        steps=s.steps, batch_size=s.batch_size, lr=s.lr, on_policy_fraction=s.on_policy_fraction, beta=s.beta,
        replay_per_batch=s.replay_per_batch, recall_prefixes=s.recall_prefixes, router=s.router,
        experts=ExpertConfig(d_low=s.d_low, pool_size=s.pool_size, first_layer=s.first_layer), seed=cfg.seed,
    )
    return SleepAgent(engine, acfg)


def run_experiment(cfg: RunConfig, out: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Run every configured agent on the same seeded stream and write the run directory.

    Args:
        cfg: The run configuration.
        out: Run directory (created; existing files with the same names are replaced).
        quiet: No progress lines on stderr.

    Returns:
        The summary dict also written to ``summary.json``.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SleepEnvError(
            f"run directory {str(out)!r} already exists and is not an empty folder; pass a new --out "
            "(runs are never mixed or overwritten)"
        )
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    atomic_write_text(out / "config.json", json.dumps(config_to_dict(cfg), indent=2))
    summary: dict[str, Any] = {"agents": {}, "seed": cfg.seed, "model": cfg.model}
    for name in cfg.agents:
        t0 = time.perf_counter()
        log(f"[{name}] loading {cfg.model} ...")
        agent = _Measured(_make_agent(name, cfg), cfg, log, routed=name == "sleep")
        agent.measure()
        env = SleepEnv(build_env_config(cfg))
        n_total = cfg.experiences * (cfg.facts_per_experience + cfg.queries_per_experience)
        counter = {"n": 0}

        def on_step(rec, _c=counter):
            _c["n"] += 1
            if _c["n"] % 12 == 0:
                log(f"[{name}] step {_c['n']} ({rec.kind}), experience {rec.experience + 1}/{cfg.experiences}")

        log(f"[{name}] lifetime of {n_total} items, a sleep allowed every {cfg.period} steps")
        record = run_lifetime(env, agent, seed=cfg.seed, on_step=on_step)
        agent._after_sleep()  # a sleep at the very end of the stream
        R, b = record.accuracy_matrix, record.baseline
        metrics = summarize(R, b)
        queries = [r for r in record.steps if r.kind == "query"]
        entry = {
            **metrics,
            "closed_book_final_acc": metrics["acc"],
            "wake_query_acc": float(np.mean([r.reward for r in queries])) if queries else float("nan"),
            "sleeps": record.sleeps,
            "seconds_asleep": record.sleep_seconds,
            "in_context_acc_per_sleep": agent.in_context,
            "seconds": time.perf_counter() - t0,
        }
        if agent.in_context_experts_on:
            entry["in_context_acc_experts_always_on"] = agent.in_context_experts_on
        if agent.routed:
            entry["active_expert_parameters"] = agent.agent.memory.active_parameters()
        summary["agents"][name] = entry
        adir = out / name
        adir.mkdir(parents=True, exist_ok=True)
        _atomic_save_npy(adir / "R.npy", R)
        _atomic_save_npy(adir / "baseline.npy", b)
        atomic_write_text(adir / "steps.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in record.steps))
        atomic_write_text(adir / "lifetime.json", json.dumps(record.to_dict(), indent=1))
        atomic_write_text(out / "summary.json", json.dumps(_json_safe(summary), indent=2))
        del agent
    return summary


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x
