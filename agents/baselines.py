"""Baseline agents on the same stream as ``SleepAgent``.

* ``InContextAgent``: answers from its context and never sleeps.
* ``SFTSleepAgent``: consolidates by plain supervised fine-tuning on the context (the memory lines
  and the day's questions with their feedback answers), cross-entropy, into one low-rank expert that
  every sleep keeps training (no expansion, no replay, no teacher).
* ``ReplaySFTAgent``: plain fine-tuning on the replay a ``SleepAgent`` writes from the memory, into one
  ever-trained expert (the same data; no distillation, no expansion, no replay of older days).
* ``SDFTSleepAgent``: context distillation with TRL's ``trl.experimental.sdft.SDFTTrainer`` (Shenfeld
  et al. 2026, the peer implementation): the teacher (the pre-sleep base model) sees the relevant
  memory lines, the student does not; on-policy student samples, top-k logit distillation. It
  trains a new expert per sleep on the same substrate and router as ``SleepAgent`` (so the
  comparison isolates the training objective; the paper's "OPSD + Expansion" row).

All of them but ``InContextAgent`` answer through ``SleepAgent``'s lexical router where they have experts, so in-context
reading is measured on equal terms.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import torch

from agents.engine import SamplingParams, TransformersEngine
from agents.prompting import ANSWER_PARAMS, ContextReader, PromptFormat
from agents.seeding import completion_logits
from agents.sleep_agent import RECALL_INSTRUCTION, SleepAgent, warn_nothing_kept
from sleep_env.errors import DependencyNotInstalled
from sleep_env.types import SleepReport, SleepWindow

__all__ = ["InContextAgent", "SFTSleepAgent", "ReplaySFTAgent", "SDFTSleepAgent", "ANSWER_PARAMS"]


class InContextAgent:
    """Answers every question from the relevant lines of its context; never asks to sleep.

    Args:
        engine: The rollout engine (owns the model).
        reader: Picks the context lines relevant to each question.
        params: Sampling parameters for answers.
    """

    name = "in-context"

    def __init__(self, engine: TransformersEngine, *, reader: ContextReader = ContextReader(),
                 params: SamplingParams = ANSWER_PARAMS):
        self.engine = engine
        self.reader = reader
        self.params = params
        self.format = PromptFormat(engine.tokenizer)

    def answer(self, prompts: list[str], contexts: list[str]) -> list[str]:
        """Answer a batch of questions, each with its own context ("" = closed-book)."""
        texts = [self.format.render(p, self.reader.select(c, p)) for p, c in zip(prompts, contexts)]
        return [r.text.strip() for r in self.engine.generate(texts, self.params)]

    def act(self, obs: dict) -> dict:
        """Answer a query (study and sleep observations get an empty response); never sleeps."""
        response = self.answer([obs["prompt"]], [obs["context"]])[0] if int(obs["kind"]) == 1 else ""
        return {"response": response, "sleep": 0}

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Does nothing (this agent only sleeps if the env forces it)."""
        return SleepReport(seconds=0.0, steps=0, metrics={})

    # -- checkpointing (evaluation.checkpoint's StatefulAgent protocol) -------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume this agent: only the engine's ``model_version`` (no weights change)."""
        return {"kind": "in-context", "engine_model_version": int(self.engine.model_version)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            ValueError: If ``state`` is not an ``InContextAgent`` state.
        """
        if not isinstance(state, dict) or state.get("kind") != "in-context":
            raise ValueError(f"not an InContextAgent state: {str(state)[:120]!r}; pass InContextAgent.state_dict() output")
        self.engine.model_version = int(state["engine_model_version"])

    def parameter_counts(self) -> dict:
        """``{"active": parameters used per forward pass, "trainable": parameters a sleep trains (0)}``."""
        return {"active": sum(p.numel() for p in self.engine.model.parameters()), "trainable": 0}


class SFTSleepAgent(SleepAgent):
    """Consolidates by plain fine-tuning on the context: cross-entropy into one ever-trained expert.

    Training rows per sleep (:meth:`rows`): every memory line as the answer to a "Recall what you
    know." prompt (continued pre-training on the memory text itself: the paper's "fine-tuned model"
    row), and every question of the day with its feedback answer (when the env gives feedback). The
    first sleep unmasks one level-1 expert; later sleeps keep training it (no expansion), without
    replay of older memories. Optimiser, steps, batch size, lr and router: ``SleepAgentConfig``'s.

    Args:
        engine: Rollout engine over the agent's own model.
        config: Agent knobs (only steps, batch_size, lr, router, experts, seed are used).
    """

    name = "sft"

    def rows(self, window: SleepWindow) -> list[tuple[list[int], list[int]]]:
        """The sleep's training rows as ``(prompt ids, target ids ending in EOS)``."""
        lines = list(dict.fromkeys(ln.strip() for m in window.memories for ln in m.split("\n") if ln.strip()))
        rows = [(self.format.render(f"{RECALL_INSTRUCTION}\nAnswer:"), ln) for ln in lines]
        rows += [(self.format.render(q), a) for q, a in dict.fromkeys(window.queries) if a]
        rows = [(p, t) for p, t in ((p, self._target_ids(" " + t.strip())) for p, t in rows) if t]
        prompts = self.engine.encode([p for p, _ in rows]) if rows else []
        return [(ids, t) for ids, (_, t) in zip(prompts, rows)]

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Fine-tune the one expert on :meth:`rows` (token-mean cross-entropy, nats)."""
        cfg = self.config
        t0 = time.perf_counter()
        rows = self.rows(window)
        if not rows:
            return SleepReport(seconds=time.perf_counter() - t0, steps=0, metrics={"examples": 0.0})
        k = self.memory.slots(1)[0]
        if self.memory.used[1] == 0:
            self.memory.expand(1)
        self.memory.make_trainable(k)
        opt = torch.optim.Adam(self.memory.trainable_parameters(), lr=cfg.lr)
        losses = []
        self.engine.model.train()
        for _ in range(cfg.steps):
            idx = self.rng.choice(len(rows), min(cfg.batch_size, len(rows)), replace=False)
            with self.memory.routed(True):
                logits = completion_logits(self.engine.model, [rows[i][0] for i in idx], [rows[i][1] for i in idx], self.engine.pad_id)
            nll = torch.cat([torch.nn.functional.cross_entropy(lg, torch.tensor(rows[i][1]), reduction="none")
                             for i, lg in zip(idx, logits)])
            loss = nll.mean()  # token-mean cross-entropy, nats
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.memory.freeze_all()
        self.engine.model.eval()
        self.engine.load_weights()
        self.sleeps += 1
        return SleepReport(seconds=time.perf_counter() - t0, steps=cfg.steps,
                           metrics={"loss_first": losses[0], "loss_last": losses[-1], "examples": float(len(rows)), "expert": float(k)})


class ReplaySFTAgent(SFTSleepAgent):
    """Plain fine-tuning on the SleepAgent's own replay: the same rows, no distillation, no expansion.

    Per sleep the teacher writes exactly the replay a :class:`SleepAgent` writes
    (:meth:`SleepAgent.replay_prompts`, the same support check); the student learns the teacher's
    answer tokens by cross-entropy (not the teacher's distribution) into one ever-trained expert,
    without replay of older memories. Against ``SleepAgent`` it isolates what distillation into a
    fresh expert per sleep (plus self-replay of older days) adds to the data itself.
    """

    name = "sft-replay"

    def rows(self, window: SleepWindow) -> list[tuple[list[int], list[int]]]:
        """The teacher's replay rows: ``(student prompt ids, teacher answer ids ending in EOS)``."""
        prompts = self.replay_prompts(window)
        exs = self._teacher_rows([r.prompt for r in prompts], [r.context for r in prompts], old=False, check=True,
                                 logits=False)  # cross-entropy on the answer ids: no teacher logits needed
        kept = [(e.student_prompt, e.completion) for e in exs if e is not None]
        if prompts and not kept:
            warn_nothing_kept(len(prompts))
        self._replay_counts = {"replay_rows": float(len(prompts)), "replay_dropped": float(len(prompts) - len(kept))}
        return kept

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Fine-tune the one expert on the replay rows; the report adds ``replay_rows`` / ``replay_dropped``."""
        report = super().sleep(window)
        return dataclasses.replace(report, metrics={**report.metrics, **self._replay_counts})


class SDFTSleepAgent(SleepAgent):
    """Context distillation with TRL's ``SDFTTrainer`` into a new expert per sleep (see the module docstring).

    Per sleep: a dataset of the same replay prompts the SleepAgent writes from the memory
    (:meth:`SleepAgent.replay_prompts`: cloze prompts of the memory units and the day's questions;
    ``prompt`` = the rendered prompt without context, ``privileged_context`` = the rendered prompt
    *with* the memory text its teacher reads; the teacher template is ``"{privileged_context}"``), a fresh ``SDFTTrainer`` whose frozen teacher is a copy of
    the pre-sleep model with its experts switched off (the day-time context reader), and only the
    new expert trainable. ``config.steps`` optimiser steps of ``config.batch_size`` student samples
    (``max_completion_length`` 12 tokens, temperature 1), AdamW at ``config.lr``, TRL's defaults for
    the SDFT loss (top-k 100 logit distillation, alpha 0.5).

    Raises:
        DependencyNotInstalled: trl is missing (``pip install "sleep-env[trl]"``).
    """

    name = "sdft"

    def sleep(self, window: SleepWindow) -> SleepReport:
        """Run one ``SDFTTrainer`` training on the window's replay prompts."""
        try:
            from datasets import Dataset
            from trl.experimental.sdft import SDFTConfig, SDFTTrainer
        except ImportError as exc:
            raise DependencyNotInstalled(f"SDFTSleepAgent needs trl ({exc}); install it with: pip install \"sleep-env[trl]\"") from None
        cfg = self.config
        t0 = time.perf_counter()
        data = [{"prompt": self.format.render(r.prompt), "privileged_context": self.format.render(r.prompt, r.context)}
                for r in self.replay_prompts(window)]
        if not data:
            return SleepReport(seconds=time.perf_counter() - t0, steps=0, metrics={"examples": 0.0})
        k = self.memory.expand(1) if self.memory.used[1] < self.memory.cfg.pool_size else self.memory.slots(1)[-1]
        self.memory.make_trainable(k)
        with tempfile.TemporaryDirectory() as out:
            args = SDFTConfig(
                output_dir=out, use_cpu=True, report_to="none", save_strategy="no", logging_steps=cfg.steps, disable_tqdm=True, log_level="error",
                max_steps=cfg.steps, per_device_train_batch_size=min(cfg.batch_size, len(data)), num_generations=1,
                learning_rate=cfg.lr, lr_scheduler_type="constant", max_completion_length=12, temperature=1.0,
                seed=cfg.seed + self.sleeps, bf16=False, gradient_checkpointing=False,  # as ours: no recomputation
            )
            # The teacher's text is the question rendered *with* its context lines (the answer stem stays
            # last, in the assistant turn); SDFTConfig's check wants both placeholders, str.format ignores
            # an unused one, so the template is set after validation.
            args.teacher_prompt_template = "{privileged_context}"
            trainer = _base_teacher_trainer(SDFTTrainer)(model=self.engine.model, args=args,
                                                         train_dataset=Dataset.from_list(data),
                                                         processing_class=self.engine.tokenizer)
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # no log dicts on stdout
            result = trainer.train()
            del trainer
        self.engine.tokenizer.padding_side = "left"
        self.memory.freeze_all()
        self.engine.model.eval()
        self.engine.load_weights()
        self.sleeps += 1
        return SleepReport(seconds=time.perf_counter() - t0, steps=cfg.steps,
                           metrics={"loss": float(result.training_loss), "examples": float(len(data)), "expert": float(k),
                                    "train_runtime": float(result.metrics["train_runtime"])})


def _base_teacher_trainer(trainer_cls):
    """``SDFTTrainer`` whose frozen teacher is a copy of the current model with its experts off.

    TRL builds a non-PEFT "base" teacher by reloading ``config._name_or_path`` from disk, which a
    model built in memory does not have and which would drop nothing of ours anyway; the copy with
    ``gate = 0`` is exactly the pre-sleep base model, the agent's day-time context reader.
    """
    import copy

    from agents.memory.experts import ExpertBlock

    class _Trainer(trainer_cls):
        def _setup_teacher_model(self) -> None:
            teacher = copy.deepcopy(self.model)
            for m in teacher.modules():
                if isinstance(m, ExpertBlock):
                    m.gate = 0.0
            teacher.requires_grad_(False)
            self.teacher_model = teacher.eval()

    return _Trainer
