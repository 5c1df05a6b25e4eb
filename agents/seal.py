"""``SEALAgent``: Dreaming with plain low-rank SFT and no consolidation (the SEAL baseline, arXiv 2506.10943).

SEAL (Zweiger et al. 2025) writes self-edits about a passage, fine-tunes a LoRA on each, rewards the
ones that improve the downstream evaluator and trains the generator on them with ReST-EM. The sleep
paper's Table 3 compares it with Sleep (SEAL 46.7 / 43.2 vs Sleep two-level 48.1 / 44.3). Here it
is :class:`agents.dreaming.Dreaming` on one ever-trained low-rank expert (no expansion, no Knowledge
Seeding, no reset), on the same expert substrate and lexical router as ``SleepAgent`` so that a
comparison isolates consolidation.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from agents.dreaming import Dreaming, DreamingConfig, expert_target
from agents.engine import SamplingParams, TransformersEngine
from agents.memory.experts import ExpertConfig, ExpertMemory
from agents.prompting import ANSWER_PARAMS, ContextReader, PromptFormat, context_teacher
from sleep_env.types import SleepReport, SleepWindow

__all__ = ["SEALAgent"]


class SEALAgent:
    """Answers from context by day; by night dreams about the window and SFTs one low-rank expert on the winners.

    Args:
        engine: Rollout engine over the agent's own model (its MLP blocks get one expert pool).
        dreaming: Dreaming knobs; ``random_expert``, ``gradient_selection`` and ``apply_anchor`` are
            forced off (SEAL had none of them: it trials ``top_k + random_extra`` dreams drawn at
            random and applies the winners by plain SFT). ``grounding``
            and ``answers`` are kept as given (SEAL had neither check; ``grounding: none`` gives
            SEAL's own), so that with the defaults a comparison with ``SleepAgent`` isolates
            consolidation, the random expert, the gradient selection and the apply's KL anchor. SEAL keeps no store of
            earlier questions, so its apply step is guarded by the day's questions only (the
            ``min_retention`` check on earlier sleeps' answers needs ``SleepAgent``'s question store).
        experts: Shape of the single expert (one level, one slot by default).
        reader: Picks the context lines relevant to a question.
        params: Sampling parameters of answers.
        seed: Seed of the expert's initialisation.

    Raises:
        ValueError: the model has no ``mlp`` blocks.
    """

    name = "seal"

    def __init__(self, engine: TransformersEngine, dreaming: DreamingConfig = DreamingConfig(), *,
                 experts: ExpertConfig = ExpertConfig(d_low=64, pool_size=1), reader: ContextReader = ContextReader(),
                 params: SamplingParams = ANSWER_PARAMS, seed: int = 0):
        self.engine, self.reader, self.params = engine, reader, params
        self.format = PromptFormat(engine.tokenizer)
        self.memory = ExpertMemory(engine.model, experts, seed=seed)
        self.slot = self.memory.expand(1)  # B = 0: the expert starts as a no-op
        self.memory.freeze_all()
        self.dreaming = Dreaming(engine, dataclasses.replace(dreaming, random_expert=False, gradient_selection=False, apply_anchor=0.0),
                                 fmt=self.format)
        self.sleeps = 0
        #: Evaluation hook, as ``SleepAgent.dream_monitor``: called with "before" / "after" around Dreaming.
        self.dream_monitor: Callable[[str], None] | None = None

    def answer(self, prompts: list[str], contexts: list[str]) -> list[str]:
        """Answer a batch: from the relevant context lines with the expert off, else closed-book with it on."""
        out = [""] * len(prompts)
        groups: dict[bool, list[tuple[int, str]]] = {False: [], True: []}
        for i, (p, c) in enumerate(zip(prompts, contexts)):
            sel = self.reader.select(c, p)
            groups[not sel].append((i, self.format.render(p, sel)))
        for experts_on, group in groups.items():
            if group:
                with self.memory.routed(experts_on):
                    for (i, _), r in zip(group, self.engine.generate([t for _, t in group], self.params)):
                        out[i] = r.text.strip()
        return out

    def act(self, obs: dict) -> dict:
        """Answer queries; ask to sleep whenever the schedule allows it."""
        response = self.answer([obs["prompt"]], [obs["context"]])[0] if int(obs["kind"]) == 1 else ""
        return {"response": response, "sleep": int(obs["may_sleep"])}

    def sleep(self, window: SleepWindow) -> SleepReport:
        """One Dreaming run on the window; ``committed`` is False when its apply step was rolled back."""
        t0 = time.perf_counter()
        # the teacher (answers: teacher) reads the memories; with a relevant line this agent answers with the expert off
        teacher = context_teacher(self.reader, lambda ps, cs, router=None: self.answer(ps, cs), window.memories)
        if self.dream_monitor is not None:
            self.dream_monitor("before")
        report = self.dreaming.run(window.memories, window.queries, expert_target(self.memory, self.slot), teacher=teacher)
        if self.dream_monitor is not None:
            self.dream_monitor("after")
        self.memory.freeze_all()
        self.engine.model.eval()
        self.engine.load_weights()
        self.sleeps += 1
        return SleepReport(seconds=time.perf_counter() - t0, steps=report.sft_steps,
                           metrics={**report.to_metrics(), "seconds_dreaming": report.seconds},
                           committed=report.committed or report.rows_applied == 0)

    def state_dict(self) -> dict:
        """Everything a sleep changes, as plain types and CPU tensors.

        Returns:
            ``{"kind": "seal", "experts": ExpertMemory.state_dict(), "dreaming": Dreaming.state_dict(),
            "sleeps": int, "engine_model_version": int}``.
        """
        return {"kind": "seal", "experts": self.memory.state_dict(), "dreaming": self.dreaming.state_dict(),
                "sleeps": int(self.sleeps), "engine_model_version": int(self.engine.model_version)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            ValueError: not a ``SEALAgent`` state, or shapes differ.
        """
        if not isinstance(state, dict) or state.get("kind") != "seal":
            raise ValueError(f"not a SEALAgent state: {str(state)[:120]!r}; pass SEALAgent.state_dict() output")
        self.memory.load_state_dict(state["experts"])
        self.dreaming.load_state_dict(state["dreaming"])
        self.sleeps = int(state["sleeps"])
        self.engine.model_version = int(state["engine_model_version"])

    def parameter_counts(self) -> dict:
        """``{"total", "active", "trainable", "experts_active"}`` of the expert substrate."""
        c = self.memory.parameter_counts()
        blk = self.memory.blocks[0]
        per = (blk.A[0].numel() + blk.B[0].numel()) * len(self.memory.blocks)
        return {"total": c.total, "active": c.active, "trainable": per, "experts_active": c.experts_active}
