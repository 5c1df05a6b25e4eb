"""Dreaming: an RL-trained generator of synthetic rehearsal data (arXiv 2606.03979 §3.4).

After consolidation the model writes its own training data ("dreams") about the sleep window's
memories and keeps only what provably helps, SEAL-style (Zweiger et al. 2025, arXiv 2506.10943).
One :meth:`Dreaming.run` per sleep:

1. **Inputs** (:meth:`Dreaming.evaluator`): context ``C`` = ``SleepWindow.memories``; rehearsal
   evaluator ``tau`` = the day's queries with their feedback answers (ARC: plus every demonstration
   as a closed-book query, input grid -> output grid). ``tau(model)`` = mean over queries of the
   mean teacher-forced logprob (nats per token) of the answer, closed-book (``evaluator="logprob"``: smooth, one forward pass,
   moves with every SFT step) or greedy exact match in [0, 1] (``"exact"``: the probes' metric, but a
   step function that a few SFT steps rarely move on a small model). No answers (``feedback=False``)
   -> no evaluator -> no dreaming (the window carries nothing to reward against).
2. **Generate** m dreams ``~ LM(.|C)`` per round from a per-family template (:data:`TEMPLATES`; chat
   template when the tokenizer has one), with the generator's own adapter on and, switchable, **one
   random extra expert** active (``DreamTarget.random_expert``: a random consolidated expert switched
   on while the model reads ``C`` with its experts otherwise off; with none consolidated, a random
   low-rank direction). A dream is parsed into SFT rows; a dream that does not parse has no rows and
   reward 0 (model output is data: it never raises).
3. **Select** (G-DIG / GREATS-style): ``omega_i = cos(grad L_SFT(dream_i), grad L_tau)`` on the
   consolidated level's trainable tensors (:func:`gradient_alignment`): one SGD step on dream ``i``
   changes ``L_tau`` by ``-lr * g_i . g_tau`` to first order, so alignment predicts the trial's gain;
   the cosine removes the scale of long dreams. Keep the top ``top_k`` plus ``random_extra`` random
   others (:func:`select_dreams`).
4. **Trial**: per kept dream, the trainable tensors are snapshotted, fine-tuned ``trial_steps`` Adam
   steps on the dream, ``tau`` re-measured, the tensors restored (no model copy; the trial leaves the
   model bit-identical). Reward (Eq. 5) = 1 if ``tau`` beats the unmodified model's by more than
   ``min_improvement``, else 0.
5. **Learn to dream** (ReST-EM, Singh et al. 2024, arXiv 2312.06585): SFT of the *generator's*
   adapter (:class:`LowRankAdapter`, separate from the consolidated level) on the rewarded dreams'
   own token ids (a ``qa`` dream that grounding trimmed: its grounded rows only); ``rounds``
   generate-select-trial-learn rounds per sleep. Logged per round: the reward rate of the trialed
   dreams, the yield (share of dreams with rows) and their product, the generator's expected reward.
6. **Apply**: train the consolidated level on every rewarded dream's rows, transactionally: rolled
   back when ``tau`` gets worse, when a tensor turns non-finite, or (``apply_guard="exact"``) when
   fewer of tau's queries are answered exactly, fewer of earlier sleeps' answered queries
   (``older``; ``min_retention``), fewer cloze items of the day's memory statements
   (:func:`agents.dream_parts.cloze_pairs`; ``recall_guard``), or fewer of the held-out dream rows
   (grounded rows of the sleep's dreams that were not applied, the model's own rewordings of the
   day's facts: :func:`agents.dream_stages.held_out_pairs`; ``heldout_guard``).

Stages 2-6 are methods of :class:`agents.dream_stages.DreamStages`, the base class of :class:`Dreaming`.

Before selection, ``qa`` dream rows that no memory line supports are dropped
(``grounding="lexical"``, :func:`grounded`); only dreams with rows are selected and trialed.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Sequence

import numpy as np
import torch

from agents.dream_config import DREAM_SYSTEM_PROMPT, Dream, DreamingConfig, DreamReport, load_dreaming_config
from agents.dream_ops import Anchor, Row, adam_sft, exact_match, flat_grad, row_logprobs, sft_loss, tau_loss
from agents.dream_parts import (  # noqa: F401  (re-exported: the public names of Dreaming's parts live here too)
    ARC_QUESTION,
    RECALL,
    REWORD_SHOTS,
    TEMPLATES,
    DreamTarget,
    DreamTemplate,
    LowRankAdapter,
    Teacher,
    _demos,
    check_memories,
    cloze_pairs,
    expert_target,
    gradient_alignment,
    grounded,
    older_pairs,
    parse_dream,
    parse_rewording,
    qa_pairs,
    qa_text,
    relabel,
    select_dreams,
    split_question,
)
from agents.dream_stages import ApplyResult, DreamStages, held_out_pairs
from agents.prompting import PromptFormat

__all__ = ["DreamingConfig", "DreamReport", "DreamTarget", "Dream", "Dreaming", "ApplyResult", "LowRankAdapter", "TEMPLATES",
           "expert_target", "gradient_alignment", "grounded", "relabel", "select_dreams", "parse_dream", "load_dreaming_config"]


class Dreaming(DreamStages):
    """Runs Dreaming on an engine's model (see the module docstring).

    Args:
        engine: The agent's ``TransformersEngine`` (model held by reference).
        config: Knobs (None: ``DreamingConfig()``).
        fmt: Renders task-style prompts the way the agent answers (default ``PromptFormat(tokenizer)``).

    Raises:
        TypeError: ``config`` is not a :class:`DreamingConfig` (e.g. a dict).
        ValueError: the model has no ``mlp`` blocks for the generator's adapter.
    """

    def __init__(self, engine, config: DreamingConfig | None = None, *, fmt: PromptFormat | None = None):
        config = DreamingConfig() if config is None else config
        if not isinstance(config, DreamingConfig):
            raise TypeError(f"Dreaming config must be a DreamingConfig (or None for the defaults), got {type(config).__name__} "
                            f"{str(config)[:80]!r}; pass e.g. DreamingConfig(dreams=4, top_k=1), or load_dreaming_config(path)")
        self.engine, self.config = engine, config
        self.fmt = fmt or PromptFormat(engine.tokenizer)
        self.dream_fmt = PromptFormat(engine.tokenizer, system_prompt=DREAM_SYSTEM_PROMPT)
        self.rng = np.random.default_rng([config.seed, 7])
        self.generator = LowRankAdapter(engine.model, config.generator_rank, seed=config.seed)
        self.noise = LowRankAdapter(engine.model, config.generator_rank, seed=config.seed + 1)

    # -- inputs ------------------------------------------------------------------------------------------
    def template_for(self, memories: Sequence[str], queries) -> str:
        """The template key for a window (``config.template`` unless ``"auto"``)."""
        if self.config.template != "auto":
            return self.config.template
        if _demos(memories):
            return "arc"
        return "qa" if any(a for _, a in queries) else "implications"

    def evaluator(self, memories: Sequence[str], queries) -> list[Row]:
        """Rows of the evaluator tau: each answered query (and each ARC demonstration, closed-book) as (prompt ids, answer ids).

        Queries are rendered closed-book with :attr:`fmt`; answers are ``" " + answer`` without EOS.
        At most ``max_eval_queries`` (a random subset).
        """
        pairs = list(dict.fromkeys((q, a.strip()) for q, a in queries if a and a.strip()))
        pairs += [(ARC_QUESTION.format(grid=i), o) for i, o in _demos(memories)]
        if len(pairs) > self.config.max_eval_queries:
            pairs = [pairs[i] for i in sorted(self.rng.choice(len(pairs), self.config.max_eval_queries, replace=False))]
        return self._rows([(self.fmt.render(q), a) for q, a in pairs], eos=False)

    def _rows(self, pairs: Sequence[tuple[str, str]], *, eos: bool = True) -> list[Row]:
        tok, out = self.engine.tokenizer, []
        prompts = self.engine.encode([p for p, _ in pairs])
        for p, (_, a) in zip(prompts, pairs):
            ids = list(tok(" " + a.strip(), add_special_tokens=False)["input_ids"])
            if eos and self.engine.eos_id is not None:
                ids.append(self.engine.eos_id)
            if ids:
                out.append((p, ids))
        return out

    # -- model operations (bodies in agents.dream_ops; methods so that tests and subclasses can swap them) --
    def _logprobs(self, rows: Sequence[Row]) -> list[torch.Tensor]:
        return row_logprobs(self.engine, rows)

    def _sft_loss(self, rows: Sequence[Row]) -> torch.Tensor:
        return sft_loss(self.engine, rows)

    def _tau_loss(self, rows: Sequence[Row]) -> torch.Tensor:
        return tau_loss(self.engine, rows)

    def _grad(self, loss_fn, rows, params) -> torch.Tensor:
        return flat_grad(loss_fn, rows, params)

    def _train(self, params: list[torch.Tensor], batches, lr: float, mode, anchor: Anchor | None = None) -> list[float]:
        return adam_sft(self.engine, params, batches, lr, mode, anchor)

    def exact_match(self, rows: Sequence[Row], target: DreamTarget) -> float:
        """:func:`agents.dream_ops.exact_match` in ``target.student`` mode (share in [0, 1]; nan for none)."""
        return exact_match(self.engine, rows, target.student)

    @torch.no_grad()
    def tau(self, rows: Sequence[Row], target: DreamTarget) -> float:
        """The rehearsal evaluator on the current weights (closed-book, ``target.student`` mode).

        Returns:
            ``logprob``: mean over queries of the mean answer-token logprob (nats/token, <= 0);
            ``exact``: :meth:`exact_match`; nan for no rows or non-finite logits.
        """
        if not rows:
            return float("nan")
        if self.config.evaluator == "exact":
            return self.exact_match(rows, target)
        self.engine.model.eval()
        with target.student():
            v = float(-self._tau_loss(rows))
        return v if math.isfinite(v) else float("nan")

    # -- the whole loop ----------------------------------------------------------------------------------
    def run(self, memories: Sequence[str], queries, target: DreamTarget, *, teacher: Teacher | None = None,
            older: Sequence[tuple[str, str]] = ()) -> DreamReport:
        """One sleep's Dreaming: rounds of generate -> select -> trial -> learn, then apply.

        Args:
            memories: ``SleepWindow.memories`` (the context C).
            queries: ``SleepWindow.queries`` (``(prompt, answer | None)`` pairs; answers build tau).
            target: The consolidated level (see :func:`expert_target`).
            teacher: Answers dreamed questions from the memories (``config.answers == "teacher"``);
                None = the dreams' own answers are trained on (SEAL).
            older: Earlier sleeps' queries as ``(question, feedback answer)`` pairs (or a mapping
                question -> answer, as ``SleepAgent.answers``): the apply step must keep their greedy
                exact match (``config.min_retention``); empty = not checked; a pair whose answer is
                None or blank is skipped.

        Raises:
            TypeError: ``memories`` is not a sequence of strings, or ``queries`` / ``older`` are not
                (question, answer) pairs (checked before anything runs).

        Returns:
            The :class:`DreamReport`; ``skipped`` says why nothing ran (no evaluator / no memories).
        """
        t0, cfg, rep = time.perf_counter(), self.config, DreamReport()
        older = older_pairs(older)
        queries = qa_pairs("queries", queries)
        memories = check_memories(memories)
        stages = dict.fromkeys(("generate", "select", "trial", "learn", "apply"), 0.0)
        tau_rows = self.evaluator(memories, queries)
        if not tau_rows or not any(m.strip() for m in memories):  # blank memories are no memories
            rep.skipped = "no evaluator (no answered queries)" if not tau_rows else "no memories"
            rep.seconds = time.perf_counter() - t0
            return rep
        template = self.template_for(memories, queries)
        rep.tau_before = tau0 = self.tau(tau_rows, target)
        accepted: list[Dream] = []
        every: list[Dream] = []
        for _ in range(cfg.rounds if cfg.rest_em else 1):
            s = time.perf_counter()
            dreams = self.generate(memories, template, target, teacher=teacher)
            stages["generate"] += time.perf_counter() - s
            s = time.perf_counter()
            keep = self.select(dreams, tau_rows, target)
            stages["select"] += time.perf_counter() - s
            s = time.perf_counter()
            rewards = [self.trial(dreams[i], tau_rows, tau0, target) for i in keep]
            stages["trial"] += time.perf_counter() - s
            won = [dreams[i] for i, r in zip(keep, rewards) if r]
            accepted += won
            every += dreams
            usable = sum(bool(d.rows) for d in dreams)
            rep.sampled += len(dreams)
            rep.parsed += usable
            rep.rows_changed += sum(d.changed for d in dreams)
            rep.rows_ungrounded += sum(d.ungrounded for d in dreams)
            rep.trialed += len(keep)
            rep.rewarded += len(won)
            rep.sft_steps += cfg.trial_steps * len(keep)
            rep.reward_rate.append(len(won) / len(keep) if keep else float("nan"))  # nan: nothing parsed to trial
            rep.yield_rate.append(usable / len(dreams) if dreams else 0.0)
            rep.expected_reward.append(rep.yield_rate[-1] * rep.reward_rate[-1] if keep else 0.0)
            gains = [dreams[i].tau - tau0 for i in keep if math.isfinite(dreams[i].tau)]
            rep.trial_gain.append(float(np.mean(gains)) if gains else float("nan"))
            if cfg.rest_em and won:
                s = time.perf_counter()
                rep.sft_steps += len(self.learn(won, target))
                stages["learn"] += time.perf_counter() - s
        s = time.perf_counter()
        # heldout_guard implies apply_guard "exact" (DreamingConfig refuses it otherwise)
        held = self.held_out(queries, older, every, accepted, template, target) if accepted and cfg.heldout_guard else []
        rep.heldout_rows = len(held)
        rep.committed, rep.tau_after, rep.rows_applied, rep.retention, rep.recall, rep.heldout, rep.anchor_kl = self.apply(
            accepted, tau_rows, tau0, target, older, cloze_pairs(memories, queries) if cfg.recall_guard else (), held)
        rep.sft_steps += cfg.apply_steps if rep.rows_applied else 0
        stages["apply"] += time.perf_counter() - s
        rep.stage_seconds = stages
        rep.seconds = time.perf_counter() - t0
        return rep

    def held_out(self, queries, older, dreams: list[Dream], accepted: list[Dream], template: str,
                 target: DreamTarget) -> list[tuple[str, str]]:
        """The held-out set of the apply (``heldout_guard``): ``(rendered prompt, answer)`` pairs.

        The model's rewordings (:meth:`reword`) of the day's answered questions and of earlier sleeps'
        (``older``; at most ``max_eval_queries`` each, evenly spread), plus, for grounded ``qa`` dreams,
        the rows of the dreams not applied (:func:`held_out_pairs`, at most ``max_eval_queries``).

        Raises:
            TypeError: ``queries`` / ``older`` are not (question, answer) pairs (``older`` may be a
                mapping question -> answer, as in :meth:`run`).
        """
        queries, older = qa_pairs("queries", queries), older_pairs(older)
        cap = self.config.max_eval_queries
        spread = lambda xs: [xs[int(i * len(xs) / cap)] for i in range(cap)] if len(xs) > cap else list(xs)  # noqa: E731
        day = [(q, a) for q, a in dict.fromkeys(queries) if a and a.strip()]
        held = self.reword(spread(day), target) + self.reword(spread(list(older)), target)
        if template == "qa" and self.config.grounding == "lexical":
            held += held_out_pairs(dreams, accepted, [self.fmt.render(q) for q, _ in queries])[:cap]
        return list(dict.fromkeys(held))

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The generator's adapter tensors (``"A"``, ``"B"``: lists of CPU tensors), the RNG state and
        the ``apply_anchor`` the sleeps so far ran with."""
        return {"A": [a.detach().cpu().clone() for a in self.generator.A],
                "B": [b.detach().cpu().clone() for b in self.generator.B], "rng": self.rng.bit_generator.state,
                "apply_anchor": float(self.config.apply_anchor)}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (same model and ``generator_rank``).

        Warns:
            RuntimeWarning: the state was written with another ``apply_anchor`` than this
                Dreaming's, or before the field existed (its applies were plain SFT, ``apply_anchor:
                0``), e.g. a lifetime started before session 10 and resumed now with the default 1.0:
                the rest of the lifetime runs another apply than its start.

        Raises:
            ValueError: a tensor's shape differs.
        """
        saved = float(state.get("apply_anchor", 0.0))
        if saved != self.config.apply_anchor:
            warnings.warn(f"this Dreaming state was written with apply_anchor={saved:g}"
                          f"{'' if 'apply_anchor' in state else ' (written before the field existed: plain-SFT applies)'}"
                          f", but the resumed sleeps use apply_anchor={self.config.apply_anchor:g}; set dreaming: "
                          f"{{apply_anchor: {saved:g}}} to continue the lifetime as it started", RuntimeWarning, stacklevel=2)
        for name in ("A", "B"):
            dst = getattr(self.generator, name)
            if len(state[name]) != len(dst) or any(d.shape != s.shape for d, s in zip(dst, state[name])):
                raise ValueError(f"dreaming state {name} shapes differ from this generator's "
                                 f"({len(dst)} x {tuple(dst[0].shape)}); build Dreaming with the same model and generator_rank")
            for d, s in zip(dst, state[name]):
                d.copy_(s)
        self.rng.bit_generator.state = state["rng"]
