"""``TransformersEngine``: batched, left-padded, KV-cached generation with exact per-token logprobs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from transformers import GenerationConfig, LogitsProcessor

from agents.engine.base import PROBE_COMPLETION, PROBE_PROMPT, PromptTooLong, Rollout, SamplingParams
from agents.engine.batching import _prepends_specials_only, build_batch, cut_completion, position_ids

__all__ = ["TransformersEngine"]


class _LogprobRecorder(LogitsProcessor):
    """Records each step's logprob of the chosen token under ``log_softmax(raw / temperature)``.

    ``generate`` applies custom processors before its temperature/top-k/top-p warpers, so the scores
    seen here are the raw logits (float32). The token chosen at step t is read at step t+1 from
    ``input_ids``; the last one from the final sequences (:meth:`finish`). Memory: one (B, V) tensor.
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.prev: torch.Tensor | None = None  # (B, V) logprobs of the previous step
        self.steps: list[torch.Tensor] = []  # each (B,)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(-1, input_ids[:, -1:]).squeeze(-1))
        self.prev = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """(B, new_len) float32 logprobs of the generated tokens."""
        if self.prev is not None:
            self.steps.append(self.prev.gather(-1, sequences[:, -1:]).squeeze(-1))
            self.prev = None
        return torch.stack(self.steps, dim=1)


def _context_length(config) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class TransformersEngine:
    """Rollout engine over any local Hugging Face causal LM (GPT-2, Llama, Qwen2, SmolLM2, ...).

    Generation is batched, left-padded and KV-cached (``model.generate``); prompts are sorted by token
    length into batches of ``batch_size`` so short prompts are not padded to the longest one.
    Logprobs follow the convention of :mod:`agents.engine.base` (after temperature, before
    top-k/top-p) and :meth:`score` reproduces them within float error.

    Args:
        model: A ``PreTrainedModel`` (decoder-only). Held by reference: in-place updates (the
            agent's experts) are served at once.
        tokenizer: Its tokenizer. The engine forces left padding and, when the tokenizer has no pad
            token, uses its EOS id as the pad id (never adds a token).
        batch_size: Sequences per forward batch, >= 1.
        add_special_tokens: Whether encoding adds special tokens; ``None`` = only when the tokenizer
            merely prepends a BOS and has no chat template (rendered chat prompts carry their own
            special tokens: no double BOS; a tokenizer that appends EOS, like ByT5's,
            would end every prompt with EOS).
        max_batch_tokens: Cap on a batch's padded size, rows x (longest prompt + budget), in tokens
            (like vLLM's ``max_num_batched_tokens``): mixed lengths then split into buckets instead of
            padding short prompts to a long one; ``None`` = ``batch_size`` rows always.
        truncate_prompts: When a prompt plus ``max_new_tokens`` exceeds the context window, keep
            its last tokens (the question end) instead of raising :class:`PromptTooLong`.
        context_length: Context window in tokens; ``None`` reads ``max_position_embeddings`` (or
            ``n_positions``) from the model's config; no limit when neither is set.

    Raises:
        ValueError: the tokenizer has neither a pad nor an EOS token, or ``batch_size < 1``.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        batch_size: int = 32,
        max_batch_tokens: int | None = 8192,
        add_special_tokens: bool | None = None,
        truncate_prompts: bool = False,
        context_length: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("tokenizer has no pad_token_id and no eos_token_id; set tokenizer.pad_token first")
        self.pad_id = int(pad)
        self.eos_id = tokenizer.eos_token_id
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        if add_special_tokens is None:
            add_special_tokens = _prepends_specials_only(tokenizer) and not getattr(tokenizer, "chat_template", None)
        self.add_special_tokens = add_special_tokens
        self.truncate_prompts = truncate_prompts
        self.context_length = context_length if context_length is not None else _context_length(model.config)
        self.model_version = 0

    @property
    def vocab_size(self) -> int:
        """Width of the model's logits (rows of the output embedding)."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    # -- weights -------------------------------------------------------------------------------
    def load_weights(self, weights: Mapping[str, torch.Tensor] | str | os.PathLike | None = None) -> int:
        """Serve new weights and bump :attr:`model_version`; returns the new version.

        Args:
            weights: ``None`` when the model was updated in place (the engine holds it by
                reference); a state dict (a subset of the model's parameter names is fine); or a
                directory of ``*.safetensors`` files (a ``save_pretrained`` checkpoint).

        Returns:
            The new version; every later rollout carries it. :meth:`probe` reflects the new weights.

        Raises:
            KeyError: a weight name is not a parameter or buffer of the model (a silently ignored
                update is the stale-weights bug).
            FileNotFoundError: the directory holds no ``*.safetensors`` file.
        """
        if isinstance(weights, (str, os.PathLike)):
            files = sorted(Path(weights).glob("*.safetensors"))
            if not files:
                raise FileNotFoundError(f"weights: no *.safetensors file in {str(weights)!r}; pass a save_pretrained dir")
            from safetensors.torch import load_file

            weights = {k: v for f in files for k, v in load_file(f).items()}
        if weights is not None:
            result = self.model.load_state_dict(weights, strict=False)
            if result.unexpected_keys:
                raise KeyError(
                    f"weights: {len(result.unexpected_keys)} names are not in the model, e.g. "
                    f"{result.unexpected_keys[:3]}; use the names of model.state_dict()"
                )
        self.model_version += 1
        return self.model_version

    def probe(self) -> float:
        """Summed logprob (nats, temperature 1) of the fixed probe completion under the served weights.

        Any weight change moves it; compare it to the trainer's value to prove the engine serves the
        weights just trained. Cost: one forward pass over ~20 tokens.
        """
        return float(self.score([PROBE_PROMPT], [PROBE_COMPLETION])[0].sum())

    def offload(self) -> None:
        """Release accelerator memory (no-op: the weights are the trainer's, on the trainer's device)."""

    def reload(self) -> None:
        """Undo :meth:`offload` (no-op)."""

    # -- helpers -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (no padding; special tokens per ``add_special_tokens``)."""
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=self.add_special_tokens)["input_ids"]]

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _fit(self, ids: list[int], budget: int, index: int, what: str) -> list[int]:
        """Check that ``ids`` plus ``budget`` more tokens fit the context; truncate from the left if configured."""
        limit = self.context_length
        if limit is None or len(ids) + budget <= limit:
            return ids
        keep = limit - budget
        if self.truncate_prompts and keep > 0:
            return ids[-keep:]
        raise PromptTooLong(
            f"prompt {index} is {len(ids)} tokens and {what} {budget} tokens, but the model's context is "
            f"{limit} tokens; shorten the prompt, lower the budget, or build the engine with truncate_prompts=True"
        )

    def _buckets(self, sorted_lengths: list[int], extra: int) -> list[list[int]]:
        """Split positions of ascending lengths into batches of at most ``batch_size`` rows and, past one
        row, at most ``max_batch_tokens`` padded tokens (rows x (longest + ``extra``))."""
        buckets: list[list[int]] = []
        for pos, length in enumerate(sorted_lengths):
            cur = buckets[-1] if buckets else None
            if cur is None or len(cur) >= self.batch_size or (
                self.max_batch_tokens is not None and (len(cur) + 1) * (length + extra) > self.max_batch_tokens
            ):
                buckets.append([pos])
            else:
                cur.append(pos)
        return buckets

    # -- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str], params: SamplingParams = SamplingParams()) -> list[Rollout]:
        """Sample completions, ``params.n`` per prompt, returned prompt-major (all n for prompt 0 first).

        Batching is length-bucketed; left padding makes each row's result independent of its
        batch mates. Stop strings end each row on its own (C22).

        Args:
            prompts: Rendered prompt texts (apply a chat template first, e.g. ``agents.PromptFormat``).
            params: Sampling settings.

        Returns:
            ``len(prompts) * params.n`` rollouts; ``[]`` for an empty prompt list.

        Raises:
            PromptTooLong: a prompt plus ``max_new_tokens`` exceeds the context window (unless
                ``truncate_prompts``); the message gives its length and the limit.
        """
        if not prompts:
            return []
        return self._generate_encoded(self.encode(prompts), params, list(prompts))

    @torch.no_grad()
    def generate_ids(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams = SamplingParams()) -> list[Rollout]:
        """:meth:`generate` for prompts that are token ids already (no decode/re-encode drift).

        Training code that builds prompts from ids (a teacher sample's prefix, a student prompt)
        samples through this. Same batching, seeding, stop strings and logprobs as :meth:`generate`.

        Args:
            prompt_ids: Prompts as token-id sequences (special tokens included as given).
            params: Sampling settings.

        Returns:
            ``len(prompt_ids) * params.n`` rollouts, prompt-major; ``Rollout.prompt`` is the decoded
            prompt; ``[]`` for no prompts.

        Raises:
            PromptTooLong: as :meth:`generate`.
        """
        if hasattr(prompt_ids, "tolist"):  # a 2-D tensor or array: one row per prompt
            prompt_ids = prompt_ids.tolist()
        if len(prompt_ids) == 0:
            return []
        ids = [self._check_ids(i, p) for i, p in enumerate(prompt_ids)]
        return self._generate_encoded(ids, params, [self.tokenizer.decode(p) for p in ids])

    def _check_ids(self, index: int, row) -> list[int]:
        """One prompt of token ids as a list of ints in ``[0, len(tokenizer))``; errors name the row and the id."""
        row = row.tolist() if hasattr(row, "tolist") else row
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise TypeError(f"prompt_ids[{index}] must be a sequence of token ids, got {type(row).__name__} {row!r:.60}; "
                            "pass a list of lists of ints (one list per prompt)")
        limit = len(self.tokenizer)
        for t in row:
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= int(t) < limit:
                raise ValueError(f"prompt_ids[{index}] holds {t!r}, not a token id in [0, {limit}) (the tokenizer's "
                                 "size); encode prompts with engine.encode(...)")
        return [int(t) for t in row]

    def _generate_encoded(self, encoded: list[list[int]], params: SamplingParams, texts: list[str]) -> list[Rollout]:
        empty = next((i for i, ids in enumerate(encoded) if not ids), None)
        if empty is not None:
            raise ValueError(f"prompt {empty} is empty (0 tokens) and the tokenizer adds no BOS; a rollout needs "
                             "at least one prompt token: pass some text")
        encoded = [self._fit(ids, params.max_new_tokens, i, "max_new_tokens is") for i, ids in enumerate(encoded)]
        jobs = [(i, k) for i in range(len(encoded)) for k in range(params.n)]
        order = sorted(range(len(jobs)), key=lambda j: len(encoded[jobs[j][0]]))
        out: list[Rollout | None] = [None] * len(jobs)
        rng_ctx = torch.random.fork_rng() if params.seed is not None else contextlib.nullcontext()
        with rng_ctx:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for chunk in self._buckets([len(encoded[jobs[j][0]]) for j in order], params.max_new_tokens):
                chunk = [order[c] for c in chunk]
                rows = [encoded[jobs[j][0]] for j in chunk]
                for j, r in zip(chunk, self._generate_batch(rows, params)):
                    i = jobs[j][0]
                    out[j] = Rollout(texts[i], r[0], r[1], r[2], r[3], self.model_version)
        return out  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], params: SamplingParams):
        dev = self._device()
        ids, attn, _ = build_batch(rows, [[] for _ in rows], self.pad_id)
        ids, attn = ids.to(dev), attn.to(dev)
        sample = params.temperature > 0
        # A complete config: the model's own generation_config (repetition penalty, default top_p...)
        # would change the sampling distribution behind the logprobs' back.
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=sample,
            temperature=params.temperature if sample else 1.0,
            top_p=params.top_p if sample else 1.0,
            top_k=params.top_k if sample and params.top_k else None,  # unset fields come from a blank config
            repetition_penalty=1.0,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
            stop_strings=list(params.stop) or None,
            return_dict_in_generate=False,
        )
        recorder = _LogprobRecorder(params.temperature if sample else 1.0)
        stop = {"tokenizer": self.tokenizer} if params.stop else {}
        # generate() fills every unset field from model.generation_config: swap in a blank one meanwhile.
        saved, self.model.generation_config = self.model.generation_config, GenerationConfig()
        try:
            seqs = self.model.generate(
                input_ids=ids, attention_mask=attn, generation_config=config, logits_processor=[recorder], **stop
            )
        finally:
            self.model.generation_config = saved
        new = seqs[:, ids.shape[1] :]
        lp = recorder.finish(seqs).cpu()  # (B, new_len) float32
        new = new.cpu()
        results = []
        for b in range(new.shape[0]):
            text, toks, finish = cut_completion(self.tokenizer, new[b].tolist(), self.eos_id, params.stop)
            results.append((text, tuple(toks), lp[b, : len(toks)].double().numpy(), finish))
        return results

    # -- scoring -------------------------------------------------------------------------------
    @torch.no_grad()
    def score(
        self, prompts: list[str], completions: Sequence[str | Sequence[int]], *, temperature: float = 1.0
    ) -> list[np.ndarray]:
        """Teacher-forced logprobs of the completion tokens only (same convention as :meth:`generate`).

        Args:
            prompts: B prompt texts (encoded as in :meth:`generate`).
            completions: B completions, each a string (encoded without special tokens) or a sequence
                of token ids (scored as is: no decode/re-encode drift).
            temperature: > 0; logits are divided by it before the softmax (use the sampling
                temperature; greedy rollouts were scored at 1).

        Returns:
            B arrays of shape (completion_len,), float64, natural log (nats).

        Raises:
            ValueError: lengths differ or temperature <= 0.
            PromptTooLong: a prompt plus its completion exceeds the context window (unless
                ``truncate_prompts``).
        """
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have equal length, got {len(prompts)} and {len(completions)}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 for scoring, got {temperature}; greedy rollouts use 1.0")
        c_ids = [
            self.tokenizer(c, add_special_tokens=False)["input_ids"] if isinstance(c, str) else [int(t) for t in c]
            for c in completions
        ]
        p_ids = [self._fit(p, len(c), i, "its completion is") for i, (p, c) in enumerate(zip(self.encode(prompts), c_ids))]
        out: list[np.ndarray] = [np.zeros(0)] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(p_ids[i]) + len(c_ids[i]))
        dev = self._device()
        for chunk in self._buckets([len(p_ids[i]) + len(c_ids[i]) for i in order], 0):
            idx = [order[c] for c in chunk]
            ids, attn, cmask = build_batch([p_ids[i] for i in idx], [c_ids[i] for i in idx], self.pad_id)
            ids, attn = ids.to(dev), attn.to(dev)
            logits = self.model(input_ids=ids, attention_mask=attn, position_ids=position_ids(attn)).logits
            lp = torch.log_softmax(logits[:, :-1].float() / temperature, dim=-1)  # (B, L-1, V)
            tok_lp = lp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, L-1)
            m = cmask[:, 1:].to(dev)
            for r, i in enumerate(idx):
                out[i] = tok_lp[r][m[r]].double().cpu().numpy()
        return out
