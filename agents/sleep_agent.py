"""``SleepAgent``: consolidates its memories level by level into fresh low-rank experts while asleep.

The paper's memory consolidation (arXiv 2606.03979 §3.2-3.3) on a continuum of
levels: level 0 is the context, levels 1..K are expert pools (``ExpertConfig.levels``), the base
weights are the slowest level. A sleep of level ``L`` (the env's ``SleepWindow.level``, e.g. from
``MultiLevel``) runs the consolidations ``0 -> 1, 1 -> 2, ..., L-1 -> L`` fast to slow, each by
Knowledge Seeding (:mod:`agents.seeding`):

* ``0 -> 1``: the replay is written from the short-term memory itself (:mod:`agents.replay`):
  cloze completions of every memory unit from its prefixes, plus the day's questions where there
  are any (a day without questions still consolidates). The teacher is the base model with experts
  off reading the memory text (the unit, or the lines the day-time reader selects); its greedy
  answers are the replay targets, and an answer the memory does not support is dropped. Prompts
  from earlier sleeps are replayed too, answered closed-book by the pre-sleep model (generative
  self-replay keeps older knowledge). Student = the model with every level on, no context, plus a
  new level-1 expert.
* ``l -> l+1`` (l >= 1): replay prompts are the prompts level ``l`` holds; teacher = the pre-sleep
  model closed-book with all levels; student = the model with level ``l`` switched off plus a new
  level-``l+1`` expert. After a committed consolidation level ``l`` is reset (the paper's pruning).

Each consolidation is transactional: a failed check rolls the memory back and the sleep's report
says ``committed=False`` (see :class:`agents.seeding.SeedingConfig`).

Routing: experts sit behind a sequence-level router. With ``router="lexical"`` (default) a question
whose names appear in the context is answered from the context with experts off; otherwise it is
answered closed-book with experts on. This keeps in-context reading intact after sleeps (a plain
always-on adapter destroyed it: 0.53 -> 0.03 in-context exact match, docs/consolidation.md).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from agents.dreaming import Dreaming, DreamingConfig, expert_target
from agents.engine import SamplingParams, TransformersEngine
from agents.memory.experts import ExpertConfig, ExpertMemory
from agents.prompting import ANSWER_PARAMS, ContextReader, PromptFormat, context_teacher
from agents.replay import RECALL_INSTRUCTION, ReplayConfig, ReplayPrompt, cloze_prompts, memory_units, supported
from agents.seeding import JUDGE_MIN_PARAMETERS, Example, KnowledgeSeeding, ModelJudge, SeedingConfig
from sleep_env.types import SleepReport, SleepWindow

__all__ = ["SleepAgent", "SleepAgentConfig", "RECALL_INSTRUCTION"]

_ROUTERS = ("lexical", "always", "never")


@dataclass(frozen=True, kw_only=True)
class SleepAgentConfig(SeedingConfig):
    """Knobs of the agent (defaults measured on SmolLM2-135M-Instruct, see README).

    Inherits every consolidation knob of :class:`agents.seeding.SeedingConfig` (steps, batch_size,
    lr, on_policy_fraction = GKD lambda, beta, alpha, gamma, z0, prefix lengths, group_size, judge,
    replay_per_batch, expand, on_pool_full, holdout_fraction, min_retention, min_new_agreement).

    Attributes:
        max_replay: Older replay prompts re-answered per consolidation (a random subset), >= 0.
        replay: What the teacher writes the new replay from (:class:`agents.replay.ReplayConfig`).
        router: ``"lexical"`` (experts off when the question's names are in the context),
            ``"always"`` (experts always on), or ``"never"`` (experts never used: ablation).
        experts: Shape of the expert pools (``levels`` = K).
        seed: Seed of expert init, batch sampling and on-policy sampling.
    """

    max_replay: int = 48
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    router: str = "lexical"
    experts: ExpertConfig = field(default_factory=lambda: ExpertConfig(d_low=64))
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.router not in _ROUTERS:
            raise ValueError(f"router must be one of {_ROUTERS}, got {self.router!r}")
        if self.max_replay < 0:
            raise ValueError(f"max_replay must be >= 0, got {self.max_replay}; e.g. max_replay=48")
        if not isinstance(self.replay, ReplayConfig):
            raise ValueError(f"replay must be a ReplayConfig, got {type(self.replay).__name__}; e.g. replay=ReplayConfig()")


def warn_nothing_kept(n: int) -> None:
    """Warn that a sleep keeps none of its ``n`` replay rows (it will consolidate nothing)."""
    warnings.warn(f"the sleep consolidates nothing: the teacher's answers to all {n} replay prompts were dropped (the "
                  "memory does not support them, or they were blank); a model that cannot read its context (e.g. the "
                  "random 'tiny' preset) needs sleep: {support: none} in a run config, ReplayConfig(support='none') "
                  "in Python", RuntimeWarning, stacklevel=3)


class SleepAgent:
    """An agent that answers from context by day and consolidates its memories into experts by night.

    Args:
        engine: Rollout engine over the agent's own model (the model is wrapped with expert pools).
        config: Agent and consolidation knobs.
        reader: Picks the context lines relevant to a question.
        params: Sampling parameters of answers (also of the teacher's replay answers).
        dreaming: Dreaming knobs (:mod:`agents.dreaming`): after consolidation, each sleep dreams
            into the expert that now holds the day's memories; ``None`` = no Dreaming.

    Raises:
        ValueError: the model has no ``mlp`` blocks to attach experts to (the message names the module).
    """

    name = "sleep"

    def __init__(self, engine: TransformersEngine, config: SleepAgentConfig = SleepAgentConfig(), *,
                 reader: ContextReader = ContextReader(), params: SamplingParams = ANSWER_PARAMS,
                 dreaming: DreamingConfig | None = None):
        self.engine = engine
        self.config = config
        self.reader = reader
        self.params = params
        self.format = PromptFormat(engine.tokenizer)
        self.memory = ExpertMemory(engine.model, config.experts, seed=config.seed)
        self.rng = np.random.default_rng([config.seed, 1])
        big = sum(p.numel() for p in engine.model.parameters()) >= JUDGE_MIN_PARAMETERS
        judge = ModelJudge(engine, self.memory, self.format) if config.judge == "model" or (config.judge == "auto" and big) else None
        self.seeding = KnowledgeSeeding(engine, self.memory, config, self.rng, judge)
        #: prompts[l]: the questions whose answers level l holds (index 0 unused: the env owns the context)
        self.prompts: list[list[str]] = [[] for _ in range(config.experts.levels + 1)]
        #: the newest feedback answer of each consolidated question (Dreaming's guard on older knowledge)
        self.answers: dict[str, str] = {}
        self.sleeps = 0
        self.dreaming = Dreaming(engine, dreaming, fmt=self.format) if dreaming is not None else None
        #: Evaluation hook (not agent state): called with "before" and "after" around each Dreaming run of
        #: a sleep, on the live model (``evaluation.experiment`` answers the probes there to measure what
        #: Dreaming alone changed). It must not change the model. With an engine that serves a copy of
        #: the weights (vLLM), answers in the hook come from the weights served before the sleep.
        self.dream_monitor: Callable[[str], None] | None = None

    @property
    def past_prompts(self) -> list[str]:
        """Every replay prompt consolidated so far (questions and cloze prompts; all levels, faster levels first)."""
        return [p for level in self.prompts[1:] for p in level]

    @property
    def all_levels(self) -> tuple[int, ...]:
        """The expert levels ``1..K``."""
        return tuple(range(1, self.config.experts.levels + 1))

    # -- wake ----------------------------------------------------------------------------------
    def answer(self, prompts: list[str], contexts: list[str], *, router: str | None = None) -> list[str]:
        """Answer a batch; each question is routed to its context (experts off) or to the experts.

        Args:
            prompts: Questions.
            contexts: One context per question ("" = closed-book).
            router: Override of ``config.router`` for this call.

        Returns:
            One answer per question (stripped text).
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

    # -- replay data ---------------------------------------------------------------------------
    def replay_prompts(self, window: SleepWindow) -> list[ReplayPrompt]:
        """The new replay prompts of a sleep, written from ``window`` (see :mod:`agents.replay`).

        The day's questions first (each with the memory lines the reader selects for it), then the
        cloze prompts of the memory units. At most ``replay.max_rows`` prompts: when both sources
        are on, the questions take at most half of them (a seeded subsample beyond that), so the
        memory itself is always replayed; the cloze prompts fill the rest (a seeded subsample).
        Draws from the agent's generator (``self.rng``, part of its checkpoint): calling it
        changes the draws of later sleeps.

        Args:
            window: The sleep window (its ``memories`` and ``queries``).

        Returns:
            The prompts, questions first.
        """
        cfg = self.config.replay
        memory = "\n".join(window.memories)
        rows: list[ReplayPrompt] = []
        if "queries" in cfg.sources:
            qs = list(dict.fromkeys(q for q, _ in window.queries))
            cap = cfg.max_rows // 2 if "cloze" in cfg.sources else cfg.max_rows
            if len(qs) > cap:
                qs = [qs[i] for i in sorted(self.rng.choice(len(qs), cap, replace=False))]
            rows += [ReplayPrompt(q, self.reader.select(memory, q), "queries") for q in qs]
        if "cloze" in cfg.sources:
            units = memory_units(window.memories, max_unit_words=cfg.max_unit_words)
            cloze = cloze_prompts(units, self.rng, cuts_per_unit=cfg.cuts_per_unit, min_prefix_words=cfg.min_prefix_words)
            room = cfg.max_rows - len(rows)
            if len(cloze) > room:
                cloze = [cloze[i] for i in sorted(self.rng.choice(len(cloze), room, replace=False))]
            rows += cloze
        return rows

    @torch.no_grad()
    def replay_answers(self, prompts: list[ReplayPrompt]) -> list[str]:
        """The sleep-time teacher's answers to replay prompts: the base model (experts off), greedy
        (``self.params``), reading each prompt's own memory text (``ReplayPrompt.context``)."""
        if not prompts:
            return []
        self.engine.model.eval()
        with self.seeding.routing(None):
            rolls = self.engine.generate([self.format.render(p.prompt, p.context) for p in prompts], self.params)
        return [r.text for r in rolls]

    def _target_ids(self, text: str) -> list[int]:
        """Replay target: the teacher's answer text (cut at a stop string) + EOS, as ids (EOS teaches stopping)."""
        text = text.rstrip()
        if not text:
            return []
        ids = self.engine.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids) + ([self.engine.eos_id] if self.engine.eos_id is not None else [])

    def _examples(self, prompts: list[str], contexts: list[str] | None, *, old: bool) -> list[Example]:
        """Teacher replay rows (see :meth:`_teacher_rows`) without the dropped ones."""
        return [e for e in self._teacher_rows(prompts, contexts, old=old) if e is not None]

    @torch.no_grad()
    def _teacher_rows(self, prompts: list[str], contexts: list[str] | None, *, old: bool,
                      check: bool = False, logits: bool = True) -> list[Example | None]:
        """One teacher replay row per prompt, or None where it is dropped.

        Args:
            prompts: Task-style prompts (the student sees them closed-book).
            contexts: One memory text per prompt, read by the teacher with experts off; ``None`` =
                the teacher is the pre-sleep model closed-book with every level on.
            old: Mark the rows as replay of older memories (retention check).
            check: Drop an answer its context does not support (``replay.support``,
                :func:`agents.replay.supported`); a blank answer is always dropped.
            logits: Attach the teacher's logits (distillation needs them; cross-entropy does not).

        Returns:
            One :class:`Example` (teacher answer ids + EOS) or None per prompt, aligned with ``prompts``.
        """
        if not prompts:
            return []
        levels = None if contexts is not None else self.all_levels
        ctxs = contexts or [""] * len(prompts)
        t_texts = [self.format.render(p, c) for p, c in zip(prompts, ctxs)]
        s_texts = [self.format.render(p, "") for p in prompts]
        self.engine.model.eval()
        with self.seeding.routing(levels):
            rolls = self.engine.generate(t_texts, self.params)
        t_ids, s_ids = self.engine.encode(t_texts), self.engine.encode(s_texts)
        rows: list[Example | None] = []
        for s, t, r, c in zip(s_ids, t_ids, rolls, ctxs):
            keep = not check or self.config.replay.support == "none" or supported(r.text, c)
            target = self._target_ids(r.text) if keep else []
            rows.append(Example(s, t, target, levels, old) if target else None)
        if logits:
            self.seeding.attach_teacher_logits([e for e in rows if e is not None])
        return rows

    def _sample(self, prompts: list[str]) -> list[str]:
        n = min(self.config.max_replay, len(prompts))
        return [prompts[i] for i in self.rng.choice(len(prompts), n, replace=False)] if n else []

    # -- sleep ---------------------------------------------------------------------------------
    def sleep(self, window: SleepWindow) -> SleepReport:
        """Consolidate levels ``0 -> 1 -> ... -> window.level`` (capped at K), fast to slow.

        Returns:
            A report whose metrics are the last consolidation's (``loss_first``/``loss_last`` in nats,
            ``agreement_new``, ``retention_old``, ``expert`` slot, ``level``) plus ``consolidations``;
            with Dreaming also ``seconds_consolidation``, ``seconds_dreaming`` and the ``dream_*`` metrics of :meth:`agents.dreaming.DreamReport.to_metrics`; ``committed`` is False when any
            consolidation was rolled back.
        """
        t0 = time.perf_counter()
        top = max(1, min(window.level, self.config.experts.levels))
        results = [self._consolidate_context(window)]
        for lv in range(1, top):
            results.append(self._consolidate_level(lv))
        self.memory.freeze_all()
        t_cons = time.perf_counter() - t0
        dream = self._dream(window, results)
        self.memory.freeze_all()
        self.engine.model.eval()
        self.engine.load_weights()
        self.sleeps += 1
        metrics = dict(results[0].metrics)
        for r in results[1:]:
            metrics.update({f"l{int(r.metrics.get('level', 0))}_{k}": v for k, v in r.metrics.items()})
        metrics["consolidations"] = float(len(results))
        if self.dreaming is not None:  # wall-clock metrics only with Dreaming (a plain run's metrics stay deterministic)
            metrics["seconds_consolidation"] = t_cons
            metrics["seconds_dreaming"] = dream.seconds if dream is not None else 0.0
            metrics.update(dream.to_metrics() if dream is not None else {})
        return SleepReport(seconds=time.perf_counter() - t0, steps=sum(r.steps for r in results) + (dream.sft_steps if dream else 0),
                           metrics=metrics, committed=all(r.committed for r in results))

    def _dream(self, window: SleepWindow, results):
        """Dreaming (if configured) into the expert that holds the day's memories after consolidation.

        That is the newest committed consolidation's expert (the level-1 one, or the deeper one it was
        consolidated into). Skipped (None) without Dreaming or when the day's consolidation was rolled back.
        """
        if self.dreaming is None or not results[0].committed:
            return None
        slots = [r.expert for r in results if r.committed and r.expert >= 0]
        if not slots:
            return None
        today = {q for q, _ in window.queries}
        older = [(p, self.answers[p]) for p in self.past_prompts if p not in today and p in self.answers]
        if self.dream_monitor is not None:
            self.dream_monitor("before")
        report = self.dreaming.run(window.memories, window.queries, expert_target(self.memory, slots[-1]),
                                   teacher=self.context_teacher(window.memories), older=older)
        if self.dream_monitor is not None:
            self.dream_monitor("after")
        return report

    def context_teacher(self, memories) -> Callable[[list[str]], list[str]]:
        """The sleep's teacher as a function: answers prompts from ``memories`` with the experts off.

        A prompt for which the context reader finds no relevant memory line gets "" (the teacher
        would only guess). Used by Dreaming to answer the dreamed questions (``answers: teacher``).
        """
        return context_teacher(self.reader, self.answer, memories)

    def _consolidate_context(self, window: SleepWindow):
        """Level 0 (the context) into a new level-1 expert, from replay written from the memory."""
        prompts = self.replay_prompts(window)
        rows = self._teacher_rows([r.prompt for r in prompts], [r.context for r in prompts], old=False, check=True)
        new = [e for e in rows if e is not None]
        if prompts and not new:
            warn_nothing_kept(len(prompts))
        old = self._examples(self._sample(self.past_prompts), None, old=True)
        result = self.seeding.consolidate(new, old, level=1, student_levels=self.all_levels)
        result.metrics.update(replay_rows=float(len(prompts)), replay_dropped=float(len(prompts) - len(new)),
                              replay_cloze=float(sum(r.source == "cloze" for r in prompts)))
        if result.committed:
            known = set(self.prompts[1])
            self.prompts[1].extend(p.prompt for p, e in zip(prompts, rows) if e is not None and p.prompt not in known)
            self.answers.update((q, a.strip()) for q, a in window.queries if a and a.strip())
        return result

    def _consolidate_level(self, level: int):
        """Level ``level``'s experts into a new expert of ``level + 1``; then reset ``level``."""
        student = tuple(lv for lv in self.all_levels if lv != level)
        new = self._examples(self.prompts[level], None, old=False)
        slower = [p for lv in range(level + 1, len(self.prompts)) for p in self.prompts[lv]]
        old = self._examples(self._sample(slower), None, old=True)
        result = self.seeding.consolidate(new, old, level=level + 1, student_levels=student)
        if result.committed and result.expert >= 0:
            self.memory.reset(level)
            self.prompts[level + 1].extend(self.prompts[level])
            self.prompts[level] = []
        return result

    # -- checkpointing (evaluation.checkpoint's StatefulAgent protocol) -------------------------
    def state_dict(self) -> dict:
        """Everything a sleep changes, as plain types and CPU tensors (``torch.save``-able, weights_only).

        Returns:
            ``{"kind": "sleep", "experts": ExpertMemory.state_dict() (per block "blocks.<i>.A" (slots,
            d_model, d_low), "blocks.<i>.B", "blocks.<i>.active"/"trainable" (slots,) bool, "used"),
            "rng": numpy bit-generator state, "torch_rng": uint8 tensor, "prompts": [[str]] per level,
            "answers": {question: feedback answer},
            "sleeps": int, "engine_model_version": int}``. Base weights never change in a sleep.
        """
        return {
            "kind": "sleep",
            "experts": self.memory.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.random.get_rng_state(),
            "prompts": [list(p) for p in self.prompts],
            "answers": dict(self.answers),
            "sleeps": int(self.sleeps),
            "engine_model_version": int(self.engine.model_version),
            **({"dreaming": self.dreaming.state_dict()} if self.dreaming is not None else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output into an agent built with the same model and config.

        Raises:
            ValueError: If ``state`` is not a ``SleepAgent`` state or its expert shapes differ.
        """
        if not isinstance(state, dict) or state.get("kind") != "sleep":
            raise ValueError(f"not a SleepAgent state: {str(state)[:120]!r}; pass SleepAgent.state_dict() output")
        if len(state["prompts"]) != len(self.prompts):
            raise ValueError(f"SleepAgent state has {len(state['prompts']) - 1} expert levels, this agent has "
                             f"{len(self.prompts) - 1}; build the agent with the same ExpertConfig")
        self.memory.load_state_dict(state["experts"])
        self.rng.bit_generator.state = state["rng"]
        torch.random.set_rng_state(state["torch_rng"])
        self.prompts = [list(p) for p in state["prompts"]]
        self.answers = dict(state.get("answers", {}))  # absent in checkpoints written before it existed
        self.sleeps = int(state["sleeps"])
        self.engine.model_version = int(state["engine_model_version"])
        if self.dreaming is not None and "dreaming" in state:
            self.dreaming.load_state_dict(state["dreaming"])

    def parameter_counts(self) -> dict:
        """``{"total", "active", "trainable", "experts_active"}`` (see :class:`agents.memory.ParameterCounts`);
        ``trainable`` is what one consolidation trains (one expert per block)."""
        c = self.memory.parameter_counts()
        blk = self.memory.blocks[0]
        per_expert = (blk.A[0].numel() + blk.B[0].numel()) * len(self.memory.blocks)
        return {"total": c.total, "active": c.active, "trainable": per_expert, "experts_active": c.experts_active}
