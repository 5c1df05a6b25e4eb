"""The rollout-engine protocol, its data types, its errors and the teacher/student check.

**Logprob convention** (every engine's :meth:`~RolloutEngine.generate` *and*
:meth:`~RolloutEngine.score` follow it, so the trainer's scoring matches the sampler's): a logprob is
the natural log of the probability of a token under ``softmax(raw_logits / temperature)``, computed
from the model's raw logits *after* temperature and *before* top-k / top-p filtering (the
renormalisation over the kept tokens is not applied). Greedy decoding (``temperature == 0``) reports
logprobs at temperature 1. With top-k/top-p off this is exactly the sampling distribution; with them on
it is the full softmax the filter was applied to, which is what a trainer that never filters (TRL's
GKD/GRPO ``token_logprobs``) computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from sleep_env.errors import SleepEnvError

__all__ = [
    "SamplingParams",
    "Rollout",
    "RolloutEngine",
    "RolloutError",
    "PromptTooLong",
    "IncompatibleModels",
    "StaleWeights",
    "check_compatible",
    "PROBE_PROMPT",
    "PROBE_COMPLETION",
]

#: The fixed text of the weight probe (:meth:`RolloutEngine.probe`): its summed completion logprob
#: changes whenever the served weights change, so it proves which weights an engine serves.
PROBE_PROMPT = "The quick brown fox"
PROBE_COMPLETION = " jumps over the lazy dog, and 7 + 5 = 12."


class RolloutError(SleepEnvError):
    """Base class of the errors an engine raises on misuse (never for model output)."""


class PromptTooLong(RolloutError, ValueError):
    """A prompt (plus its completion budget) does not fit in the model's context window."""


class IncompatibleModels(RolloutError, ValueError):
    """A teacher and a student do not share a tokenizer and vocabulary."""


class StaleWeights(RolloutError):
    """After a weight update the engine's probe shows it still serves other weights."""


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How to sample completions.

    Attributes:
        temperature: Softmax temperature, >= 0; 0 means greedy decoding.
        top_p: Nucleus mass in (0, 1]; 1 disables it.
        top_k: Keep the k most likely tokens; 0 disables it.
        max_new_tokens: Completion budget in tokens, >= 1.
        stop: Stop strings; the completion text is cut before the first one (it is not included).
        seed: Seed for sampling; the same seed, prompts and params give the same rollouts on CPU
            (results depend on the whole prompt list, which decides the batches). None draws from
            torch's global RNG.
        n: Completions per prompt (a group, e.g. for GRPO), >= 1.
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
            (see the module's convention); ``score(prompt, token_ids)`` reproduces it.
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
    """What produces rollouts: the agent's answers, the probes, teacher samples and dreams.

    Attributes:
        model_version: Weight version, bumped by every :meth:`load_weights`; stamped on each rollout.
        tokenizer: The Hugging Face tokenizer that maps text to the ids in rollouts.
        vocab_size: Width of the model's logits (may exceed ``len(tokenizer)`` by padding rows).
    """

    model_version: int
    tokenizer: object

    @property
    def vocab_size(self) -> int: ...

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Rollout]:
        """Sample ``params.n`` completions per prompt; returns ``len(prompts) * n`` rollouts, prompt-major."""
        ...

    def score(
        self, prompts: list[str], completions: Sequence[str | Sequence[int]], *, temperature: float = 1.0
    ) -> list[np.ndarray]:
        """Teacher-forced logprobs of each completion's tokens given its prompt, one array per pair."""
        ...

    def load_weights(self, weights=None) -> int:
        """Serve new weights; returns the new :attr:`model_version`."""
        ...

    def probe(self) -> float:
        """Summed logprob (nats) of :data:`PROBE_COMPLETION` after :data:`PROBE_PROMPT` under the served weights."""
        ...

    def offload(self) -> None:
        """Release accelerator memory held by the engine (weights and KV cache)."""
        ...

    def reload(self) -> None:
        """Undo :meth:`offload`: serve again, with the current weights."""
        ...


def _vocab_fingerprint(tokenizer) -> tuple[int, int]:
    vocab = tokenizer.get_vocab()
    return len(vocab), hash(frozenset(vocab.items()))


def check_compatible(teacher: RolloutEngine, student: RolloutEngine) -> None:
    """Refuse a teacher/student pair whose token ids do not mean the same thing.

    Distillation compares the two models' distributions token id by token id, so both must use the
    same tokenizer (same token -> id map) and produce logits of the same width. Call it when a
    trainer is constructed; it costs one pass over the vocabularies (~10 ms for 50k tokens).

    Args:
        teacher: An engine (anything with ``tokenizer`` and ``vocab_size``).
        student: An engine (same).

    Raises:
        IncompatibleModels: the logit widths differ, or the tokenizers map tokens to different ids;
            the message gives both sizes.
    """
    t_size, s_size = teacher.vocab_size, student.vocab_size
    t_tok, s_tok = _vocab_fingerprint(teacher.tokenizer), _vocab_fingerprint(student.tokenizer)
    sizes = (
        f"teacher vocab_size={t_size} (tokenizer: {t_tok[0]} tokens), "
        f"student vocab_size={s_size} (tokenizer: {s_tok[0]} tokens)"
    )
    if t_size != s_size:
        raise IncompatibleModels(
            f"teacher and student must produce logits over the same vocabulary, got {sizes}; use a student "
            "built from the teacher's config and tokenizer (or trim the teacher's padding rows before distilling)"
        )
    if t_tok != s_tok:
        raise IncompatibleModels(
            f"teacher and student must share one tokenizer (the same token -> id map), got {sizes} with "
            "different maps; token ids from one would be read as other tokens by the other (TRL issue #4562)"
        )
