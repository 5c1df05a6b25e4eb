"""The rollout-engine protocol and its data types (DESIGN.md §5).

Logprob convention (used by :meth:`RolloutEngine.generate` *and* :meth:`RolloutEngine.score`):
a logprob is the natural log of the probability of the sampled token under
``softmax(logits / temperature)`` computed from the model's raw logits, *before* top-k / top-p
filtering. Greedy decoding (``temperature == 0``) reports logprobs at temperature 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["SamplingParams", "Rollout", "RolloutEngine"]


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How to sample completions.

    Attributes:
        temperature: Softmax temperature, >= 0; 0 means greedy decoding.
        top_p: Nucleus mass in (0, 1]; 1 disables it.
        top_k: Keep the k most likely tokens; 0 disables it.
        max_new_tokens: Completion budget in tokens, >= 1.
        stop: Stop strings; the completion text is cut before the first one (it is not included).
        seed: Seed for sampling (reproducible on CPU); None draws from torch's global RNG.
        n: Completions per prompt (a group), >= 1.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}; use 0 for greedy decoding")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}; use 1.0 to disable nucleus sampling")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}; use 0 to disable top-k")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if isinstance(self.stop, str):
            raise ValueError(f"stop must be a tuple of strings, got the string {self.stop!r}; write stop=({self.stop!r},)")


@dataclass(frozen=True)
class Rollout:
    """One sampled completion.

    Attributes:
        prompt: The prompt text it continues.
        text: Completion text (no padding, no end-of-sequence token, cut before a stop string).
        token_ids: Completion token ids, shape (completion_len,), including a final EOS if one was
            generated (so that training on it teaches the model to stop).
        logprobs: (completion_len,) float64, natural-log probability of each token in ``token_ids``
            (see the module's convention).
        finish_reason: ``"stop"`` (EOS or stop string) or ``"length"`` (``max_new_tokens`` reached).
        model_version: The engine's weight version that produced it.
    """

    prompt: str
    text: str
    token_ids: tuple[int, ...]
    logprobs: np.ndarray = field(repr=False)
    finish_reason: str
    model_version: int


@runtime_checkable
class RolloutEngine(Protocol):
    """What produces rollouts: the agent's answers, the probes, teacher samples and dreams."""

    model_version: int

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Rollout]:
        """Sample ``params.n`` completions per prompt; returns ``len(prompts) * n`` rollouts, prompt-major."""
        ...

    def score(
        self, prompts: list[str], completions: Sequence[str | Sequence[int]], *, temperature: float = 1.0
    ) -> list[np.ndarray]:
        """Teacher-forced logprobs of each completion's tokens given its prompt, one array per pair."""
        ...
