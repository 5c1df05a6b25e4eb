"""Baseline agents: ``InContextAgent`` answers from its context and never sleeps."""

from __future__ import annotations

import time

from agents.engine import SamplingParams, TransformersEngine
from agents.prompting import ContextReader, PromptFormat
from sleep_env.types import SleepReport, SleepWindow

__all__ = ["InContextAgent", "ANSWER_PARAMS"]

#: Greedy, short answers: they end at a newline or at the end of the first clause (". " or ", "),
#: which is also where the tasks' exact-match scoring cuts a response.
ANSWER_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=12, stop=("\n", ". ", ", "))


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
