"""Dreaming: an RL-trained generator of synthetic rehearsal data (arXiv 2606.03979 §3.4; PAPER-NOTES §2.9).

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
   (``older``; ``min_retention``), or fewer cloze items of the day's memory statements
   (:func:`agents.dream_parts.cloze_pairs`; ``recall_guard``).

Before selection, ``qa`` dream rows that no memory line supports are dropped
(``grounding="lexical"``, :func:`grounded`); only dreams with rows are selected and trialed.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import NamedTuple, Sequence

import numpy as np
import torch

from agents.dream_parts import (
    ARC_QUESTION,
    TEMPLATES,
    DreamTarget,
    check_memories,
    cloze_pairs,
    older_pairs,
    qa_pairs,
    Teacher,
    LowRankAdapter,
    _demos,
    expert_target,
    gradient_alignment,
    grounded,
    parse_dream,
    qa_text,
    relabel,
    select_dreams,
)
from agents.dream_config import DREAM_SYSTEM_PROMPT, Dream, DreamingConfig, DreamReport, load_dreaming_config
from agents.dream_ops import Row, adam_sft, exact_match, flat_grad, row_logprobs, sft_loss, tau_loss
from agents.engine import SamplingParams
from agents.prompting import PromptFormat

__all__ = ["DreamingConfig", "DreamReport", "DreamTarget", "Dream", "Dreaming", "ApplyResult", "LowRankAdapter", "TEMPLATES",
           "expert_target", "gradient_alignment", "grounded", "relabel", "select_dreams", "parse_dream", "load_dreaming_config"]


class ApplyResult(NamedTuple):
    """What :meth:`Dreaming.apply` did (a tuple, in this order)."""

    committed: bool  #: the apply step was kept
    tau_after: float  #: tau after the apply (the restored value on rollback), nats/token or accuracy
    rows: int  #: SFT rows trained on (0 = nothing applied)
    retention: float  #: exact match on the older queries, after / before (nan: not checked or 0 before)
    recall: float  #: exact recall of the cloze items, after / before (nan: not checked or 0 before)


class Dreaming:
    """Runs Dreaming on an engine's model (see the module docstring).

    Args:
        engine: The agent's ``TransformersEngine`` (model held by reference).
        config: Knobs.
        fmt: Renders task-style prompts the way the agent answers (default ``PromptFormat(tokenizer)``).

    Raises:
        ValueError: the model has no ``mlp`` blocks for the generator's adapter.
    """

    def __init__(self, engine, config: DreamingConfig = DreamingConfig(), *, fmt: PromptFormat | None = None):
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

    def _train(self, params: list[torch.Tensor], batches, lr: float, mode) -> list[float]:
        return adam_sft(self.engine, params, batches, lr, mode)

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

    # -- stages ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, memories: Sequence[str], template: str, target: DreamTarget, n: int | None = None,
                 teacher: Teacher | None = None) -> list[Dream]:
        """Sample ``n`` (default ``config.dreams``) dreams conditioned on the memories (stage 2).

        With a ``teacher`` and ``config.answers == "teacher"``, each ``qa`` row's answer is the
        teacher's answer to the dreamed question (a row the teacher cannot answer from the memories is
        dropped; ``Dream.changed`` counts the rows whose answer it replaced). With
        ``config.grounding == "lexical"`` a ``qa`` row that claims what no memory line states is
        dropped (:func:`grounded`; ``Dream.ungrounded`` counts them).
        """
        cfg = self.config
        n = cfg.dreams if n is None else n
        t = TEMPLATES[template]
        context = "\n".join(memories)[-cfg.context_chars :]
        prompt = self.dream_fmt.render(f"{t.instruction}\nAnswer: {t.primer}", context)
        self.engine.model.eval()
        rolls = []
        for start in range(0, n, cfg.dreams_per_expert):  # one random expert per batch of dreams
            params = SamplingParams(temperature=cfg.temperature, max_new_tokens=cfg.dream_tokens,
                                    n=min(cfg.dreams_per_expert, n - start), seed=int(self.rng.integers(2**31)))
            with contextlib.ExitStack() as stack:
                stack.enter_context(target.reader())
                stack.enter_context(self.generator.on())
                if cfg.random_expert:
                    stack.enter_context(self._random_expert(target))
                rolls += self.engine.generate([prompt], params)
        texts = [t.primer.strip() + r.text for r in rolls]
        parsed = [parse_dream(text, template, max_rows=cfg.max_rows) for text in texts]
        changed = [0] * len(parsed)
        if teacher is not None and cfg.answers == "teacher" and template == "qa":
            parsed, changed = relabel(parsed, teacher)
        dropped = [0] * len(parsed)
        learn_ids: list[tuple[int, ...]] = [tuple(r.token_ids) for r in rolls]
        if cfg.grounding == "lexical" and template == "qa":
            kept = [[(q, a) for q, a in rows if grounded(q, a, memories)] for rows in parsed]
            dropped = [len(a) - len(b) for a, b in zip(parsed, kept)]
            parsed = kept
            learn_ids = [self._clean_ids(rows) if k else ids for rows, k, ids in zip(kept, dropped, learn_ids)]
        return [Dream(prompt, text, tuple(r.token_ids), [(self.fmt.render(q), a) for q, a in rows], changed=c, ungrounded=u,
                      learn_ids=li)
                for text, r, rows, c, u, li in zip(texts, rolls, parsed, changed, dropped, learn_ids)]

    def _clean_ids(self, rows: list[tuple[str, str]]) -> tuple[int, ...]:
        """The dream rewritten as its grounded rows only (:func:`qa_text`; what ReST-EM then imitates), as token ids + EOS."""
        if not rows:
            return ()
        ids = list(self.engine.tokenizer(qa_text(rows), add_special_tokens=False)["input_ids"])
        return tuple(ids + ([self.engine.eos_id] if self.engine.eos_id is not None else []))

    def _random_expert(self, target: DreamTarget):
        ctx = target.random_expert(self.rng) if target.random_expert is not None else None
        if ctx is not None:
            return ctx
        self.noise.randomize(self.rng, self.config.noise_std)  # no other consolidated expert: a random low-rank direction
        return self.noise.on()

    def select(self, dreams: list[Dream], tau_rows: list[Row], target: DreamTarget) -> list[int]:
        """Keep top-k by gradient alignment + b random among the dreams with rows (stage 3).

        Sets ``Dream.score`` (``-inf`` without rows) and ``Dream.reward = 0`` for a dream without rows:
        it is never trialed, so it does not count in the reward rate. Returns indices into ``dreams``
        (at most ``top_k + random_extra``; fewer when fewer dreams parsed).
        """
        cfg = self.config
        encoded = {i: self._rows(d.rows) if d.rows else [] for i, d in enumerate(dreams)}
        for i, d in enumerate(dreams):
            d.score = float("-inf")
            if not encoded[i]:
                d.reward = 0
        live = [i for i, rows in encoded.items() if rows]
        if not live:
            return []
        if cfg.gradient_selection:
            self.engine.model.eval()
            with target.student():
                ref = self._grad(self._tau_loss, tau_rows, target.params)
                for i in live:
                    dreams[i].score = gradient_alignment(self._grad(self._sft_loss, encoded[i], target.params), ref)
            picked = select_dreams([dreams[i].score for i in live], cfg.top_k, cfg.random_extra, self.rng)
        else:
            picked = select_dreams([0.0] * len(live), 0, cfg.top_k + cfg.random_extra, self.rng)
        return [live[j] for j in picked]

    def trial(self, dream: Dream, tau_rows: list[Row], tau0: float, target: DreamTarget) -> int:
        """Fine-tune an isolated copy of the trainable tensors on ``dream``; reward 1 if tau improves (stage 4).

        The tensors are restored in place afterwards, so the model is bit-identical before and after.
        Sets ``dream.reward`` and ``dream.tau``; an unparseable dream gets reward 0 without a trial.
        """
        rows = self._rows(dream.rows)
        if not rows or not math.isfinite(tau0):
            dream.reward = 0
            return 0
        snap = [p.detach().clone() for p in target.params]
        try:
            self.engine.model.eval()
            self._train(target.params, [rows] * self.config.trial_steps, self.config.lr, target.student)
            dream.tau = self.tau(tau_rows, target)
        finally:
            with torch.no_grad():
                for p, s in zip(target.params, snap):
                    p.copy_(s)
        dream.reward = int(math.isfinite(dream.tau) and dream.tau - tau0 > self.config.min_improvement)
        return dream.reward

    def learn(self, dreams: list[Dream], target: DreamTarget) -> list[float]:
        """ReST-EM M-step: SFT of the generator's adapter on the dreams' own tokens (stage 5).

        A ``qa`` dream from which grounding dropped rows is imitated as its grounded rows only
        (``Dream.learn_ids``): the generator learns the rewarded pairs, not the dreamt ones beside them.
        Only :attr:`generator`'s tensors change. Returns the losses (nats/token); [] without dreams.
        """
        rows = [(self.engine.encode([d.prompt])[0], list(d.learn_ids if d.learn_ids is not None else d.token_ids))
                for d in dreams]
        rows = [r for r in rows if r[1]]
        if not rows:
            return []
        bs = self.config.batch_size
        batches = [[rows[i] for i in self.rng.choice(len(rows), min(bs, len(rows)), replace=False)]
                   for _ in range(self.config.generator_steps)]

        @contextlib.contextmanager
        def mode():
            with target.reader(), self.generator.on():
                yield

        self.engine.model.eval()
        return self._train(self.generator.parameters(), batches, self.config.generator_lr, mode)

    def apply(self, dreams: list[Dream], tau_rows: list[Row], tau0: float, target: DreamTarget,
              older: Sequence[tuple[str, str]] = (), cloze: Sequence[tuple[str, str]] = ()) -> ApplyResult:
        """Train the consolidated level on the dreams' rows; roll back if tau gets worse or NaN (stage 6).

        With ``config.apply_guard == "exact"`` it is also rolled back when fewer of tau's queries are
        answered exactly (greedy) than before (logprob evaluator: a likelihood can rise while an answer
        flips), when the greedy exact match on the ``older`` queries (earlier sleeps' questions with
        their feedback answers; at most ``max_eval_queries``) falls below ``config.min_retention``
        times its value before the apply, or (``config.recall_guard``) when fewer of the ``cloze``
        items (``(statement prefix, answer)`` text pairs, :func:`agents.dream_parts.cloze_pairs`; raw
        text, at most ``max_eval_queries``) are completed exactly than before.

        Returns:
            An :class:`ApplyResult` (a tuple: committed, tau after (the restored value on rollback),
            rows used, retention, recall; the last two are after / before ratios, nan when not
            checked or 0 before).
        """
        cfg = self.config
        rows = self._rows([r for d in dreams for r in d.rows])
        if not rows:
            return ApplyResult(False, tau0, 0, float("nan"), float("nan"))
        guard = cfg.apply_guard == "exact"
        exact0 = self.exact_match(tau_rows, target) if guard and cfg.evaluator == "logprob" else float("nan")
        old_rows = self.evaluator((), older) if guard and cfg.min_retention > 0 and older else []
        old0 = self.exact_match(old_rows, target) if old_rows else float("nan")
        cloze_rows = self._rows(list(cloze)[: cfg.max_eval_queries], eos=False) if guard and cfg.recall_guard else []
        cloze0 = self.exact_match(cloze_rows, target) if cloze_rows else float("nan")
        snap = [p.detach().clone() for p in target.params]
        bs = min(cfg.batch_size, len(rows))
        batches = [[rows[i] for i in self.rng.choice(len(rows), bs, replace=False)] for _ in range(cfg.apply_steps)]
        self.engine.model.eval()
        losses = self._train(target.params, batches, cfg.lr, target.student)
        after = self.tau(tau_rows, target)
        retention = self.exact_match(old_rows, target) / old0 if old_rows and old0 > 0 else float("nan")
        cloze1 = self.exact_match(cloze_rows, target) if cloze_rows else float("nan")
        recall = cloze1 / cloze0 if cloze_rows and cloze0 > 0 else float("nan")
        finite = all(math.isfinite(x) for x in losses) and all(bool(torch.isfinite(p).all()) for p in target.params)
        ok = finite and math.isfinite(after) and after >= tau0
        ok = ok and (math.isnan(retention) or retention >= cfg.min_retention)
        ok = ok and (math.isnan(cloze0) or cloze1 >= cloze0)
        ok = ok and (math.isnan(exact0) or self.exact_match(tau_rows, target) >= exact0)
        if ok:
            return ApplyResult(True, after, len(rows), retention, recall)
        with torch.no_grad():
            for p, s in zip(target.params, snap):
                p.copy_(s)
        return ApplyResult(False, tau0, len(rows), retention, recall)

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
        if not tau_rows or not memories:
            rep.skipped = "no evaluator (no answered queries)" if not tau_rows else "no memories"
            rep.seconds = time.perf_counter() - t0
            return rep
        template = self.template_for(memories, queries)
        rep.tau_before = tau0 = self.tau(tau_rows, target)
        accepted: list[Dream] = []
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
        rep.committed, rep.tau_after, rep.rows_applied, rep.retention, rep.recall = self.apply(
            accepted, tau_rows, tau0, target, older, cloze_pairs(memories, queries) if cfg.recall_guard else ())
        rep.sft_steps += cfg.apply_steps if rep.rows_applied else 0
        stages["apply"] += time.perf_counter() - s
        rep.stage_seconds = stages
        rep.seconds = time.perf_counter() - t0
        return rep

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The generator's adapter tensors (``"A"``, ``"B"``: lists of CPU tensors) and the RNG state."""
        return {"A": [a.detach().cpu().clone() for a in self.generator.A],
                "B": [b.detach().cpu().clone() for b in self.generator.B], "rng": self.rng.bit_generator.state}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (same model and ``generator_rank``).

        Raises:
            ValueError: a tensor's shape differs.
        """
        for name in ("A", "B"):
            dst = getattr(self.generator, name)
            if len(state[name]) != len(dst) or any(d.shape != s.shape for d, s in zip(dst, state[name])):
                raise ValueError(f"dreaming state {name} shapes differ from this generator's "
                                 f"({len(dst)} x {tuple(dst[0].shape)}); build Dreaming with the same model and generator_rank")
            for d, s in zip(dst, state[name]):
                d.copy_(s)
        self.rng.bit_generator.state = state["rng"]
