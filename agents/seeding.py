"""Knowledge Seeding: consolidate a faster memory into a fresh expert of the next level (arXiv 2606.03979 §3.3).

One consolidation of level ``l`` into level ``l+1``:

1. **Replay data D** comes from the *teacher* = the model before the sleep with its faster memory
   (the context when ``l = 0``; level ``l``'s experts otherwise). The caller builds it as
   :class:`Example` rows: the teacher's greedy answer ids and its logits on them.
2. **Expansion**: :meth:`ExpertMemory.expand` unmasks the next expert of level ``l+1``; it is the
   only trainable parameter set. The *student* is the model with the faster memory removed
   (no context; level ``l`` disabled) plus the new expert.
3. **Generalized distillation** (GKD, Agarwal et al. 2024, arXiv 2306.13649)::

       L_GD = (1-lam) * E_{(x,y)~D}[F(T||S)(y|x)] + lam * E_{x~D, y~S(.|x)}[F(T||S)(y|x)]

   token level, no gradient through sampling. As in GKD's Algorithm 1 each step draws its data
   source: the student's own samples with probability ``lam``, the teacher's otherwise. ``F`` is the
   generalized JSD with ``beta`` (0 = forward KL(T||S), 1 = reverse KL(S||T); :func:`generalized_jsd`).
4. **Learning to Imitate** (§2.6): for ``lti_prompts`` teacher samples per step, a random prefix of
   the teacher's answer (``prefix_min..prefix_max`` of its tokens) is given to the student, which
   samples ``group_size`` continuations; reward ``gamma*r_sem + (1-gamma)*r_abs`` against the
   teacher's continuation (:func:`imitation_reward`, token level, threshold ``z0`` inclusive), ``r_sem``
   from a frozen judge (:class:`ModelJudge`, the base model with experts off) or exact match;
   GRPO group-normalised advantages (:func:`group_advantages`), sequence-mean surrogate.
5. **Combined** (§2.7): minimise ``alpha * L_GD - (1-alpha) * E[r]`` (the surrogate's gradient).
6. **Transactional commit**: the student is checked on a held-out slice of D (or on D itself when
   ``holdout_fraction = 0``) and on (up to 16 rows of) replay of older memories; a non-finite loss, an older-memory
   retention below ``min_retention`` or a new-memory agreement below ``min_new_agreement`` rolls the
   expert memory back to its pre-sleep state (:attr:`SeedingResult.committed` is False).

"Agreement" = the student would reproduce the teacher's answer under greedy decoding: the argmax of
its teacher-forced logits equals every answer token (one forward pass, no generation). A final EOS is
not compared: the answer text ends at a stop string (", ", ". ", newline) or at EOS alike, and where the
teacher's answer was cut at a stop string the teacher itself predicts the stop, not EOS, so an exact
match including EOS called a perfect student wrong (SmolLM2: agreement 0.17 at probe accuracy 1.00).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.engine import SamplingParams, build_batch
from agents.engine.hf import position_ids
from agents.losses import generalized_jsd, group_advantages, imitation_reward, policy_gradient_loss, token_logprobs
from agents.memory.experts import ExpertMemory, PoolExhausted

__all__ = ["SeedingConfig", "Example", "SeedingResult", "KnowledgeSeeding", "ModelJudge", "completion_logits"]

_JUDGES = ("auto", "model", "exact")
_POOL_POLICIES = ("extend_newest", "error")
#: Below this many parameters the frozen judge is replaced by exact match under ``judge="auto"``:
#: SmolLM2-135M answers "Yes" to nearly any pair of short answers (it cannot judge).
JUDGE_MIN_PARAMETERS = 1_000_000_000


@dataclass(frozen=True, kw_only=True)
class SeedingConfig:
    """Knobs of one Knowledge Seeding consolidation (defaults and their reasons: README / module docstring).

    Attributes:
        steps: Optimiser steps per consolidation, >= 1.
        batch_size: Sequences per distillation step, >= 1.
        lr: Adam learning rate of the new expert, > 0.
        on_policy_fraction: GKD's lambda in [0, 1]: probability that a step trains on the student's own samples.
        beta: Generalized-JSD beta in [0, 1] (0 = forward KL(teacher || student), 1 = reverse KL).
        alpha: Weight of the distillation term in [0, 1]; ``1 - alpha`` weighs Learning to Imitate
            (1 = no LTI: no generation during training).
        gamma: Weight of the semantic reward in the LTI reward, in [0, 1] (0 = token-level edit reward only).
        z0: Largest token edit distance that earns the edit reward (inclusive), >= 0.
        prefix_min: Shortest LTI prefix as a fraction of the teacher answer's tokens, in [0, 1).
        prefix_max: Longest LTI prefix fraction, in [prefix_min, 1).
        group_size: Student continuations per LTI prefix (GRPO group), >= 2.
        lti_prompts: Teacher samples per LTI step, >= 1.
        judge: ``"auto"`` (the frozen base model judges when it has >= 1e9 parameters, else exact
            match), ``"model"`` or ``"exact"``.
        replay_per_batch: Sequences per step from older memories' replay, in [0, batch_size).
        expand: Unmask a new expert per consolidation (False = ablation "no expansion": keep training
            the level's newest expert).
        on_pool_full: ``"extend_newest"`` (warn and keep training the level's newest expert; nothing is
            wiped) or ``"error"`` (raise :class:`PoolExhausted`).
        holdout_fraction: Share of the new replay kept out of training for the commit check, in [0, 1).
        min_retention: Commit only if the student still agrees with at least this share of the older
            replay (when there is any), in [0, 1].
        min_new_agreement: Commit only if the student agrees with at least this share of the new
            check slice, in [0, 1].
    """

    steps: int = 28
    batch_size: int = 12
    lr: float = 1.5e-2
    on_policy_fraction: float = 0.0
    beta: float = 0.0
    alpha: float = 1.0
    gamma: float = 0.5
    z0: int = 4
    prefix_min: float = 0.0
    prefix_max: float = 0.5
    group_size: int = 4
    lti_prompts: int = 4
    judge: str = "auto"
    replay_per_batch: int = 6
    expand: bool = True
    on_pool_full: str = "extend_newest"
    holdout_fraction: float = 0.0
    min_retention: float = 0.25
    min_new_agreement: float = 0.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "lti_prompts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (advantages are relative within a group), got {self.group_size}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("on_policy_fraction", "beta", "alpha", "gamma", "min_retention", "min_new_agreement"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.z0 < 0:
            raise ValueError(f"z0 must be >= 0 (a token edit distance), got {self.z0}")
        if not 0.0 <= self.prefix_min <= self.prefix_max < 1.0:
            raise ValueError(f"prefix_min/prefix_max must satisfy 0 <= prefix_min <= prefix_max < 1, got "
                             f"{self.prefix_min}/{self.prefix_max}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if self.judge not in _JUDGES:
            raise ValueError(f"judge must be one of {_JUDGES}, got {self.judge!r}")
        if self.on_pool_full not in _POOL_POLICIES:
            raise ValueError(f"on_pool_full must be one of {_POOL_POLICIES}, got {self.on_pool_full!r}")
        if not 0 <= self.replay_per_batch < self.batch_size:
            raise ValueError(f"replay_per_batch must be in [0, batch_size), got {self.replay_per_batch}")


@dataclass
class Example:
    """One replay row: the teacher's answer to a prompt, as token ids.

    Attributes:
        student_prompt: Prompt ids the student sees (no faster memory).
        teacher_prompt: Prompt ids the teacher sees (with its faster memory, e.g. the context lines).
        completion: The teacher's answer ids, ending with EOS.
        teacher_levels: Expert levels on when the teacher scores (None = experts off).
        old: Replay of an older memory (retention check) rather than the memory being consolidated.
        teacher_logits: (len(completion), V) float32 teacher logits on ``completion``.
    """

    student_prompt: list[int]
    teacher_prompt: list[int]
    completion: list[int]
    teacher_levels: tuple[int, ...] | None
    old: bool = False
    teacher_logits: torch.Tensor | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SeedingResult:
    """Outcome of :meth:`KnowledgeSeeding.consolidate`.

    Attributes:
        committed: The new expert was kept (False: rolled back to the pre-sleep memory).
        expert: Slot index of the expert trained (-1 when nothing was trained).
        steps: Optimiser steps taken.
        metrics: Scalars (losses in nats, agreements and rewards in [0, 1]).
    """

    committed: bool
    expert: int
    steps: int
    metrics: dict[str, float]


def completion_logits(model, prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> list[torch.Tensor]:
    """Logits that predict each completion token: B tensors of shape (len(completion), V), float32."""
    ids, attn, cmask = build_batch(prompts, completions, pad_id)
    w = max(len(c) for c in completions)
    # left padding puts every completion at the right end: only the last w+1 positions matter
    out = model(input_ids=ids, attention_mask=attn, position_ids=position_ids(attn), logits_to_keep=w + 1)
    logits = out.logits[:, :-1].float()  # (B, w, V)
    m = cmask[:, -w:]  # (B, w)
    return [logits[b][m[b]] for b in range(ids.shape[0])]


def _content_len(completion: list[int], eos_id: int | None) -> int:
    """Tokens of the answer proper: ``completion`` without a final EOS (at least one token)."""
    n = len(completion) - (1 if completion and completion[-1] == eos_id else 0)
    return max(n, 1)


class ModelJudge:
    """The frozen semantic judge of Learning to Imitate: the base model (experts off) asked "same meaning?".

    Verdict = 1 when the model gives " Yes" a higher logprob than " No" after the question.

    Args:
        engine: The agent's engine (its model is judged with experts off).
        memory: The agent's expert memory (switched off while judging).
        fmt: Renders the judge question (``agents.PromptFormat``).
    """

    def __init__(self, engine, memory: ExpertMemory, fmt):
        self.engine, self.memory, self.fmt = engine, memory, fmt

    @torch.no_grad()
    def __call__(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Judge (prediction, reference) text pairs; returns one verdict per pair."""
        if not pairs:
            return []
        texts = [self.fmt.render(f"Do these two answers mean the same thing?\nA: {a}\nB: {b}\nAnswer Yes or No.")
                 for a, b in pairs]
        with self.memory.routed(False):
            yes = self.engine.score(texts, ["Yes"] * len(texts))
            no = self.engine.score(texts, ["No"] * len(texts))
        return [float(y.sum()) > float(n.sum()) for y, n in zip(yes, no)]


class KnowledgeSeeding:
    """Runs consolidations on an agent's model (see the module docstring).

    Args:
        engine: The agent's ``TransformersEngine`` (its model carries ``memory``).
        memory: The agent's expert memory.
        config: Consolidation knobs.
        rng: The agent's numpy generator (batches, prefixes, sampling seeds).
        judge: Callable ``pairs -> verdicts`` for ``r_sem``; None = exact match.
    """

    def __init__(self, engine, memory: ExpertMemory, config: SeedingConfig, rng: np.random.Generator, judge=None):
        self.engine, self.memory, self.config, self.rng, self.judge = engine, memory, config, rng, judge

    # -- teacher side ------------------------------------------------------------------------------
    @torch.no_grad()
    def attach_teacher_logits(self, exs: list[Example], *, hide: int | None = None) -> None:
        """Teacher logits on each completion (teacher prompt, teacher levels; slot ``hide`` masked)."""
        groups: dict = {}
        for e in exs:
            groups.setdefault(e.teacher_levels, []).append(e)
        for levels, group in groups.items():
            with self.routing(levels), self.memory.masked(hide):
                logits = completion_logits(self.engine.model, [e.teacher_prompt for e in group],
                                           [e.completion for e in group], self.engine.pad_id)
            for e, lg in zip(group, logits):
                e.teacher_logits = lg.detach()

    def routing(self, levels: tuple[int, ...] | None):
        """Context manager: experts off (``levels=None``) or only the experts of ``levels`` on."""
        if levels is None:
            return self.memory.routed(False)
        stack = contextlib.ExitStack()
        stack.enter_context(self.memory.routed(True))
        stack.enter_context(self.memory.levels_enabled(levels))
        return stack

    # -- consolidation -----------------------------------------------------------------------------
    def _new_slot(self, level: int) -> tuple[int, bool]:
        """Expert to train at ``level``: a fresh one, or the newest (no expansion / pool full)."""
        cfg, mem = self.config, self.memory
        newest = mem.slots(level)[mem.used[level] - 1] if mem.used[level] else None
        if newest is not None and not cfg.expand:
            mem.make_trainable(newest)
            return newest, False
        try:
            return mem.expand(level), True
        except PoolExhausted:
            if cfg.on_pool_full == "error":
                raise
            warnings.warn(f"expert pool of level {level} exhausted (pool_size={mem.cfg.pool_size}); "
                          "consolidating into its newest expert (on_pool_full='extend_newest')", RuntimeWarning, stacklevel=3)
            mem.make_trainable(newest)
            return newest, False

    def consolidate(self, new: list[Example], old: list[Example], *, level: int, student_levels: tuple[int, ...]) -> SeedingResult:
        """Train a new expert of ``level`` to reproduce the teacher on ``new`` (and keep ``old``).

        Args:
            new: Replay of the memory being consolidated (teacher logits attached).
            old: Replay of older memories (teacher logits attached), mixed into every step.
            level: Level (1..K) that receives the new expert.
            student_levels: Expert levels on in the student (the new expert's level included).

        Returns:
            The :class:`SeedingResult`; on rollback the memory is exactly as before the call.

        Raises:
            PoolExhausted: the level's pool is full and ``on_pool_full == "error"``.
        """
        cfg = self.config
        if not new:
            return SeedingResult(committed=True, expert=-1, steps=0, metrics={"examples": 0.0})
        snapshot = self.memory.state_dict()
        n_hold = int(len(new) * cfg.holdout_fraction)
        perm = self.rng.permutation(len(new))
        check_new = [new[i] for i in perm[:n_hold]] if n_hold else new
        train = [new[i] for i in perm[n_hold:]] if n_hold else new
        k, fresh = self._new_slot(level)
        params = self.memory.trainable_parameters()
        opt = torch.optim.Adam(params, lr=cfg.lr)
        losses, rewards, n_on = [], [], 0
        for _ in range(cfg.steps):
            n_old = min(cfg.replay_per_batch, len(old))
            batch = [train[i] for i in self.rng.choice(len(train), min(cfg.batch_size - n_old, len(train)), replace=False)]
            batch += [old[i] for i in self.rng.choice(len(old), n_old, replace=False)] if n_old else []
            if self.rng.random() < cfg.on_policy_fraction:
                batch = self._on_policy(batch, k, student_levels)
                n_on += 1
            loss = self._distill_loss(batch, student_levels) * cfg.alpha if batch else torch.zeros(())
            if cfg.alpha < 1.0:
                pg, r = self._imitation_loss(train, student_levels)
                loss = loss + (1.0 - cfg.alpha) * pg
                rewards.append(r)
            opt.zero_grad()
            if loss.requires_grad:  # an all-empty on-policy batch has no target token: no step
                loss.backward()
                opt.step()
            losses.append(float(loss.detach()))
        self.memory.freeze_all()
        self.engine.model.eval()
        agree_new, finite_new = self.agreement(check_new, student_levels)
        agree_old, finite_old = self.agreement(old[:16], student_levels)  # 16 rows: one batched forward pass
        finite = finite_new and finite_old and all(math.isfinite(x) for x in losses) and all(bool(torch.isfinite(p).all()) for p in params)
        committed = finite and agree_new >= cfg.min_new_agreement and (not old or agree_old >= cfg.min_retention)
        if not committed:
            self.memory.load_state_dict(snapshot)
        metrics = {"loss_first": losses[0], "loss_last": losses[-1], "examples": float(len(train)),
                   "replay_examples": float(len(old)), "on_policy_steps": float(n_on), "expert": float(k),
                   "expanded": float(fresh), "agreement_new": agree_new, "retention_old": agree_old,
                   "level": float(level), "committed": float(committed)}
        if rewards:
            metrics["lti_reward_mean"] = float(np.mean(rewards))
        return SeedingResult(committed=committed, expert=k, steps=cfg.steps, metrics=metrics)

    def _student_logits(self, exs: list[Example], student_levels) -> list[torch.Tensor]:
        self.engine.model.train()
        with self.routing(student_levels):
            return completion_logits(self.engine.model, [e.student_prompt for e in exs],
                                     [e.completion for e in exs], self.engine.pad_id)

    def _distill_loss(self, batch: list[Example], student_levels) -> torch.Tensor:
        s_logits = self._student_logits(batch, student_levels)
        width, vocab = max(len(e.completion) for e in batch), s_logits[0].shape[-1]
        S = torch.zeros(len(batch), width, vocab)
        T = torch.zeros(len(batch), width, vocab)
        mask = torch.zeros(len(batch), width, dtype=torch.bool)
        for b, (e, s) in enumerate(zip(batch, s_logits)):
            n = len(e.completion)
            S[b, :n], T[b, :n], mask[b, :n] = s, e.teacher_logits, True
        return generalized_jsd(S, T, beta=self.config.beta, mask=mask)

    def _sample(self, rows: list[list[int]], temperature: float) -> list[list[int]]:
        """Student samples from token-id prompts (no gradient), EOS kept."""
        params = SamplingParams(temperature=temperature, max_new_tokens=12, seed=int(self.rng.integers(2**31)))
        return [list(r.token_ids) for r in self.engine.generate_ids(rows, params)]

    @torch.no_grad()
    def _on_policy(self, batch: list[Example], hide: int, student_levels) -> list[Example]:
        """GKD on-policy data: the student's own samples (no grad), re-scored by the teacher."""
        self.engine.model.eval()
        with self.routing(student_levels):
            samples = self._sample([e.student_prompt for e in batch], 1.0)
        out = [Example(e.student_prompt, e.teacher_prompt, s, e.teacher_levels, e.old)
               for e, s in zip(batch, samples) if s]
        self.attach_teacher_logits(out, hide=hide)
        return out

    def _imitation_loss(self, pool: list[Example], student_levels) -> tuple[torch.Tensor, float]:
        """Learning to Imitate: GRPO surrogate on student continuations of random teacher prefixes."""
        cfg, eos = self.config, self.engine.eos_id
        picks = [pool[i] for i in self.rng.choice(len(pool), min(cfg.lti_prompts, len(pool)), replace=False)]
        prompts, refs = [], []
        for e in picks:
            n = len(e.completion)
            lo, hi = int(cfg.prefix_min * n), max(int(cfg.prefix_min * n), int(cfg.prefix_max * n))
            p = min(int(self.rng.integers(lo, hi + 1)), n - 1)
            prompts += [e.student_prompt + e.completion[:p]] * cfg.group_size
            refs += [e.completion[p:]] * cfg.group_size
        self.engine.model.eval()
        with torch.no_grad(), self.routing(student_levels):
            conts = self._sample(prompts, 1.0)
        strip = lambda t: [x for x in t if x != eos]  # noqa: E731 -- compare answers, not the stop token
        semantic = [None] * len(conts)
        if self.judge is not None:
            dec = self.engine.tokenizer.decode
            semantic = self.judge([(dec(strip(c)), dec(strip(r))) for c, r in zip(conts, refs)])
        r = torch.tensor([imitation_reward(strip(c), strip(ref), gamma=cfg.gamma, z0=cfg.z0, semantic=s)
                          for c, ref, s in zip(conts, refs, semantic)])
        adv = group_advantages(r, cfg.group_size)
        keep = [i for i, c in enumerate(conts) if c]
        if not keep:  # no target token -> no step, not a fake zero loss
            return torch.zeros(()), float(r.mean())
        self.engine.model.train()
        with self.routing(student_levels):
            logits = completion_logits(self.engine.model, [prompts[i] for i in keep], [conts[i] for i in keep], self.engine.pad_id)
        width = max(len(conts[i]) for i in keep)
        lp = torch.zeros(len(keep), width)
        mask = torch.zeros(len(keep), width, dtype=torch.bool)
        for b, (i, lg) in enumerate(zip(keep, logits)):
            n = len(conts[i])
            lp[b, :n] = token_logprobs(lg.unsqueeze(0), torch.tensor([conts[i]]))[0]
            mask[b, :n] = True
        return policy_gradient_loss(lp, adv[keep], mask), float(r.mean())

    @torch.no_grad()
    def agreement(self, exs: list[Example], student_levels) -> tuple[float, bool]:
        """Share of ``exs`` whose teacher answer (final EOS excluded) the student reproduces under greedy decoding.

        Returns:
            (agreement in [0, 1] (nan for no rows), whether every logit was finite).
        """
        if not exs:
            return float("nan"), True
        self.engine.model.eval()
        hits, finite = 0, True
        for s in range(0, len(exs), self.engine.batch_size):
            chunk = exs[s : s + self.engine.batch_size]
            with self.routing(student_levels):
                logits = completion_logits(self.engine.model, [e.student_prompt for e in chunk],
                                           [e.completion for e in chunk], self.engine.pad_id)
            finite = finite and all(bool(torch.isfinite(lg).all()) for lg in logits)
            for e, lg in zip(chunk, logits):
                n = _content_len(e.completion, self.engine.eos_id)
                hits += bool((lg[:n].argmax(-1) == torch.tensor(e.completion[:n])).all())
        return hits / len(exs), finite
