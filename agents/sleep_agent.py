"""``SleepAgent``: consolidates its short-term memory into a fresh low-rank expert while asleep.

Walking-skeleton version of the paper's Knowledge Seeding (arXiv 2606.03979 §3.3; PAPER-NOTES
§2.4-2.8). One sleep:

1. **Replay data D from the teacher.** Prompts are the questions the agent met during the day (the
   sleep window's queries). Teacher = the model *before* the sleep, with its faster memory: the base
   model with experts switched off, reading the relevant lines of the memories (level 0). Its greedy
   answers are the replay targets. Questions from earlier days are replayed too, answered closed-book
   by the pre-sleep model with its experts on (generative self-replay keeps older knowledge).
2. **Expansion.** The next pre-allocated expert is unmasked; it is the only trainable parameter set.
3. **Generalized distillation** (GKD, arXiv 2306.13649): student = the model with experts on and no
   context. Each step uses teacher samples with probability ``1 - on_policy_fraction`` and the
   student's own samples (scored by the teacher, no gradient through sampling) otherwise; the loss is
   the token-level generalized JSD (``beta``; 0 = forward KL(teacher || student)).
4. The env clears the context at wake-up (the paper's reset of the faster level).

Routing: experts sit behind a sequence-level router. With ``router="lexical"`` (default) a question
whose names appear in the context is answered from the context with experts off; otherwise it is
answered closed-book with experts on. This keeps in-context reading intact after sleeps (a plain
always-on adapter destroyed it: 0.53 -> 0.03 in-context exact match, OFFLINE-FACTS).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.baselines import ANSWER_PARAMS
from agents.engine import SamplingParams, TransformersEngine, build_batch
from agents.losses import generalized_jsd
from agents.memory.experts import ExpertConfig, ExpertMemory
from agents.prompting import ContextReader, PromptFormat
from sleep_env.types import SleepReport, SleepWindow

__all__ = ["SleepAgent", "SleepAgentConfig"]

_ROUTERS = ("lexical", "always", "never")
#: Instruction of the Learning-to-Imitate prefix prompts (the answer stem is a prefix of a memory line).
RECALL_INSTRUCTION = "Recall what you know."


@dataclass(frozen=True, kw_only=True)
class SleepAgentConfig:
    """Knobs of one sleep (defaults measured on SmolLM2-135M-Instruct, see README).

    Attributes:
        steps: Optimiser steps per sleep, >= 1.
        batch_size: Sequences per step, >= 1.
        lr: Adam learning rate of the new expert.
        on_policy_fraction: GKD's lambda in [0, 1]: probability that a step trains on the student's
            own samples instead of the teacher's.
        beta: Generalized-JSD beta in [0, 1] (0 = forward KL(teacher || student), 1 = reverse KL).
        replay_per_batch: Sequences per step drawn from earlier days' questions (self-replay).
        max_replay: Earlier-day questions replayed per sleep (a random subset), >= 0.
        recall_prefixes: Add Learning-to-Imitate examples: the student completes random word
            prefixes of the memory lines that the teacher completes while reading them.
        prefixes_per_line: Random prefix cuts per memory line (duplicates merged), >= 1.
        router: ``"lexical"`` (experts off when the question's names are in the context),
            ``"always"`` (experts always on), or ``"never"`` (experts never used: ablation).
        experts: Shape of the expert pool.
        seed: Seed of expert init, batch sampling and on-policy sampling.
    """

    steps: int = 28
    batch_size: int = 12
    lr: float = 1.5e-2
    on_policy_fraction: float = 0.0
    beta: float = 0.0
    replay_per_batch: int = 4
    max_replay: int = 48
    recall_prefixes: bool = False
    prefixes_per_line: int = 2
    router: str = "lexical"
    experts: ExpertConfig = field(default_factory=lambda: ExpertConfig(d_low=64))
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.on_policy_fraction <= 1.0:
            raise ValueError(f"on_policy_fraction must be in [0, 1], got {self.on_policy_fraction}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if self.router not in _ROUTERS:
            raise ValueError(f"router must be one of {_ROUTERS}, got {self.router!r}")
        if not 0 <= self.replay_per_batch < self.batch_size:
            raise ValueError(f"replay_per_batch must be in [0, batch_size), got {self.replay_per_batch}")


@dataclass
class _Example:
    student_prompt: list[int]
    teacher_prompt: list[int]
    completion: list[int]
    teacher_logits: torch.Tensor | None  # (len(completion), V) float32
    old: bool  # earlier-day replay (teacher = pre-sleep model with experts on)
    student_text: str  # the rendered student prompt (what student_prompt encodes)


class SleepAgent:
    """An agent that answers from context by day and consolidates its memories into experts by night.

    Args:
        engine: Rollout engine over the agent's own model (the model is wrapped with expert pools).
        config: Sleep knobs.
    """

    name = "sleep"

    def __init__(self, engine: TransformersEngine, config: SleepAgentConfig = SleepAgentConfig(), *,
                 reader: ContextReader = ContextReader(), params: SamplingParams = ANSWER_PARAMS):
        self.engine = engine
        self.config = config
        self.reader = reader
        self.params = params
        self.format = PromptFormat(engine.tokenizer)
        self.memory = ExpertMemory(engine.model, config.experts, seed=config.seed)
        self.past_prompts: list[str] = []
        self.rng = np.random.default_rng([config.seed, 1])
        self.sleeps = 0

    # -- wake ----------------------------------------------------------------------------------
    def answer(self, prompts: list[str], contexts: list[str], *, router: str | None = None) -> list[str]:
        """Answer a batch; each question is routed to its context (experts off) or to the experts.

        Args:
            prompts: Questions.
            contexts: One context per question ("" = closed-book).
            router: Override of ``config.router`` for this call.
        """
        router = router or self.config.router
        out = [""] * len(prompts)
        in_ctx, closed = [], []
        for i, (p, c) in enumerate(zip(prompts, contexts)):
            sel = self.reader.select(c, p)
            (in_ctx if sel else closed).append((i, self.format.render(p, sel)))
        groups = ((in_ctx, router == "always"), (closed, router != "never"))
        for group, experts_on in groups:
            if not group:
                continue
            with self.memory.routed(experts_on):
                rolls = self.engine.generate([t for _, t in group], self.params)
            for (i, _), r in zip(group, rolls):
                out[i] = r.text.strip()
        return out

    def act(self, obs: dict) -> dict:
        """Answer queries; ask to sleep whenever the schedule allows it."""
        response = self.answer([obs["prompt"]], [obs["context"]])[0] if int(obs["kind"]) == 1 else ""
        return {"response": response, "sleep": int(obs["may_sleep"])}

    # -- sleep ---------------------------------------------------------------------------------
    def _recall_prompts(self, memories: tuple[str, ...]) -> list[tuple[str, str]]:
        """Learning-to-Imitate prompts: random word prefixes of each memory line, with that line as context.

        The teacher (reading the line) completes the prefix; the student learns to complete it
        without the line (PAPER-NOTES §2.6: the student completes random prefixes of teacher samples).
        """
        out = []
        lines = [ln.strip() for m in memories for ln in m.split("\n") if ln.strip()]
        for ln in dict.fromkeys(lines):
            words = ln.split()
            if len(words) < 3:
                continue
            cuts = sorted(set(self.rng.integers(2, len(words), size=self.config.prefixes_per_line).tolist()))
            for c in cuts:
                out.append((f"{RECALL_INSTRUCTION}\nAnswer: {' '.join(words[:c])}", ln))
        return out

    def _teacher_examples(self, prompts: list[str], memory: str, old: bool, contexts: list[str] | None = None) -> list[_Example]:
        if not prompts:
            return []
        if contexts is None:
            contexts = ["" if old else self.reader.select(memory, p) for p in prompts]
        t_texts = [self.format.render(p, c) for p, c in zip(prompts, contexts)]
        s_texts = [self.format.render(p, "") for p in prompts]
        with self.memory.routed(old):
            rolls = self.engine.generate(t_texts, self.params)
        t_ids, s_ids = self.engine.encode(t_texts), self.engine.encode(s_texts)
        targets = [self._target_ids(r.text) for r in rolls]
        exs = [_Example(s, t, c, None, old, st) for s, t, c, st in zip(s_ids, t_ids, targets, s_texts) if c]
        self._attach_teacher_logits(exs)
        return exs

    def _target_ids(self, text: str) -> list[int]:
        """Replay target: the teacher's answer text (already cut at a stop string) + EOS, as ids.

        Ending the target with EOS teaches the student to stop after the answer; the teacher's
        logits are then computed on exactly these ids (teacher forcing), so the divergence is
        consistent whatever the tokenisation.
        """
        text = text.rstrip()
        if not text:
            return []
        ids = self.engine.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids) + ([self.engine.eos_id] if self.engine.eos_id is not None else [])

    @torch.no_grad()
    def _attach_teacher_logits(self, exs: list[_Example], new_expert: int | None = None) -> None:
        """Teacher logits at each completion position (teacher prompt + completion, teacher routing)."""
        for old in (False, True):
            group = [e for e in exs if e.old == old]
            if not group:
                continue
            with self.memory.routed(old), self.memory.masked(new_expert):
                logits = self._completion_logits([e.teacher_prompt for e in group], [e.completion for e in group])
            for e, lg in zip(group, logits):
                e.teacher_logits = lg.detach()

    def _completion_logits(self, prompts: list[list[int]], completions: list[list[int]]) -> list[torch.Tensor]:
        """Logits that predict each completion token: B tensors of shape (len(completion), V)."""
        ids, attn, cmask = build_batch(prompts, completions, self.engine.pad_id)
        w = max(len(c) for c in completions)
        # left padding puts every completion at the right end: only the last w+1 positions matter
        logits = self.engine.model(input_ids=ids, attention_mask=attn, logits_to_keep=w + 1).logits[:, :-1].float()
        m = cmask[:, -w:]  # (B, w)
        return [logits[b][m[b]] for b in range(ids.shape[0])]

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Consolidate the window's memories into a new expert (see the module docstring)."""
        cfg = self.config
        t0 = time.perf_counter()
        memory = "\n".join(window.memories)
        prompts = list(dict.fromkeys(q for q, _ in window.queries))
        recall = self._recall_prompts(window.memories) if cfg.recall_prefixes else []
        n_old = min(cfg.max_replay, len(self.past_prompts))
        old_prompts = [self.past_prompts[i] for i in self.rng.choice(len(self.past_prompts), n_old, replace=False)] if n_old else []
        self.engine.model.eval()
        new = self._teacher_examples(prompts, memory, old=False)
        new += self._teacher_examples([p for p, _ in recall], memory, old=False, contexts=[c for _, c in recall])
        old = self._teacher_examples(old_prompts, memory, old=True)
        if not new:
            return SleepReport(seconds=time.perf_counter() - t0, steps=0, metrics={"examples": 0.0})
        if self.memory.n_active >= cfg.experts.pool_size:
            warnings.warn(f"expert pool of {cfg.experts.pool_size} exhausted; consolidating into the newest expert",
                          RuntimeWarning, stacklevel=2)
            k = self.memory.n_active - 1
            self.memory.make_trainable(k)
        else:
            k = self.memory.expand()
        opt = torch.optim.Adam(self.memory.trainable_parameters(), lr=cfg.lr)
        losses, n_on = [], 0
        for _ in range(cfg.steps):
            n_old_b = min(cfg.replay_per_batch, len(old))
            batch = [new[i] for i in self.rng.choice(len(new), min(cfg.batch_size - n_old_b, len(new)), replace=False)]
            batch += [old[i] for i in self.rng.choice(len(old), n_old_b, replace=False)] if n_old_b else []
            if self.rng.random() < cfg.on_policy_fraction:
                batch = self._on_policy(batch, k)
                n_on += 1
            loss = self._loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.memory.freeze_all()
        self.engine.model.eval()
        self.engine.load_weights()
        self.past_prompts.extend(prompts)
        self.sleeps += 1
        return SleepReport(
            seconds=time.perf_counter() - t0,
            steps=cfg.steps,
            metrics={"loss_first": losses[0], "loss_last": losses[-1], "examples": float(len(new)),
                     "replay_examples": float(len(old)), "on_policy_steps": float(n_on), "expert": float(k)},
        )

    def _on_policy(self, batch: list[_Example], new_expert: int) -> list[_Example]:
        """Replace completions by the student's own samples (no grad), re-scored by the teacher."""
        texts = [e.student_text for e in batch]
        params = SamplingParams(temperature=1.0, max_new_tokens=self.params.max_new_tokens, stop=self.params.stop,
                                seed=int(self.rng.integers(2**31)))
        with torch.no_grad(), self.memory.routed(True):
            rolls = self.engine.generate(texts, params)
        out = [_Example(e.student_prompt, e.teacher_prompt, list(r.token_ids), None, e.old, e.student_text)
               for e, r in zip(batch, rolls) if r.token_ids]
        self._attach_teacher_logits(out, new_expert=new_expert)
        return out

    def _loss(self, batch: list[_Example]) -> torch.Tensor:
        self.engine.model.train()
        with self.memory.routed(True):
            s_logits = self._completion_logits([e.student_prompt for e in batch], [e.completion for e in batch])
        width = max(len(e.completion) for e in batch)
        vocab = s_logits[0].shape[-1]
        S = torch.zeros(len(batch), width, vocab)
        T = torch.zeros(len(batch), width, vocab)
        mask = torch.zeros(len(batch), width, dtype=torch.bool)
        for b, (e, s) in enumerate(zip(batch, s_logits)):
            n = len(e.completion)
            S[b, :n], T[b, :n], mask[b, :n] = s, e.teacher_logits, True
        return generalized_jsd(S, T, beta=self.config.beta, mask=mask)
