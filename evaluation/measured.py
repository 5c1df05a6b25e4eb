"""The measuring wrapper of :mod:`evaluation.experiment`: in-context accuracy on fresh material
around each sleep, and the paired probe measurement around each Dreaming run (:class:`_Measured`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from evaluation.config import RunConfig
from sleep_env.stream import MAX_PROMPT_CHARS

__all__ = ["fresh_material"]


def fresh_material(cfg: RunConfig):
    """Held-out facts (a seed no experience uses) for measuring in-context accuracy around sleeps.

    Returns:
        (task, problems, context): the facts task, the problems, and their study statements joined by newlines.
    """
    from tasks import make_task

    task = make_task("facts", match=cfg.match)
    seed = int(np.random.SeedSequence([cfg.seed, 7_777_777]).generate_state(1)[0])
    problems = [task.problem(seed, i) for i in range(cfg.fresh_facts)]
    return task, problems, "\n".join(p.context for p in problems)


class _Measured:
    """Agent wrapper: measures in-context accuracy on fresh material before the first sleep and after each.

    With ``env`` and an agent that has a ``dream_monitor`` hook (SleepAgent, SEALAgent), it also answers
    the env's probes just before and just after each Dreaming run of a sleep and adds to that sleep's
    report ``eval_dream_probes_gained`` / ``eval_dream_probes_lost`` (sums of the per-probe score rises /
    falls over the whole probe set, in probes; the agent never sees them) and ``eval_dream_probe_seconds``
    (the time the two measurements took; it is part of the sleep's wall-clock ``seconds``).
    """

    def __init__(self, agent, cfg: RunConfig, log: Callable[[str], None], *, routed: bool, bar=None, env=None):
        self.agent, self.log, self.bar = agent, log, bar
        self.routed = routed  # a SleepAgent: also measure what always-on experts would do
        self.task, self.problems, self.context = fresh_material(cfg)
        self.in_context: list[float] = []
        self.in_context_experts_on: list[float] = []
        self.pending: float | None = None
        self.env, self.dream_eval, self._before = env, {}, None
        if env is not None and getattr(agent, "dreaming", None) is not None and hasattr(agent, "dream_monitor"):
            agent.dream_monitor = self._dream_probes

    def _dream_probes(self, when: str) -> None:
        """Answer the probes on the live model ("before" / "after" Dreaming) and keep the paired difference."""
        t0 = time.perf_counter()
        ps = self.env.probe_prompts()
        answers = [a[:MAX_PROMPT_CHARS] if isinstance(a, str) else a
                   for a in self.agent.answer(list(ps.prompts), list(ps.contexts))]
        scores = self.env.evaluate_probes(answers)
        if when == "before":
            self._before, self.dream_eval = scores, {"eval_dream_probe_seconds": time.perf_counter() - t0}
            return
        diff = scores - self._before
        self.dream_eval = {"eval_dream_probes_gained": float(diff.clip(min=0).sum()),
                           "eval_dream_probes_lost": float((-diff).clip(min=0).sum()),
                           "eval_dream_probe_seconds": self.dream_eval.get("eval_dream_probe_seconds", 0.0)
                           + time.perf_counter() - t0}

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
        if self.bar is not None:
            self.bar.set_postfix_str(f"asleep (sleep {window.model_version + 1}, level {window.level})")
        t0 = time.perf_counter()
        self.dream_eval = {}
        report = self.agent.sleep(window)
        if "eval_dream_probes_gained" in self.dream_eval:
            report = dataclasses.replace(report, metrics={**report.metrics, **self.dream_eval})
        self.pending = time.perf_counter() - t0
        if self.bar is not None:
            self.bar.set_postfix_str(f"awake, {window.model_version + 1} sleeps")
        return report
