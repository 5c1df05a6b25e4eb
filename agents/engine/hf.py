"""``TransformersEngine``: batched, left-padded, KV-cached generation with exact per-token logprobs."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from agents.engine.base import Rollout, SamplingParams

__all__ = ["TransformersEngine", "build_batch", "cut_completion"]


def build_batch(
    prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad ``prompt + completion`` id sequences into one batch.

    Args:
        prompt_ids: B prompt id sequences.
        completion_ids: B completion id sequences (may be empty).
        pad_id: Padding id (must be < the model's vocabulary size).

    Returns:
        input_ids: (B, L) int64.
        attention_mask: (B, L) int64, 0 on padding.
        completion_mask: (B, L) bool, True where ``input_ids`` holds a completion token. The logits
            that predict those tokens sit one position earlier (``logits[:, :-1]``).
    """
    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    cmask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, (row, comp) in enumerate(zip(rows, completion_ids)):
        start = width - len(row)
        ids[b, start:] = torch.tensor(row, dtype=torch.long)
        attn[b, start:] = 1
        if len(comp):
            cmask[b, width - len(comp) :] = True
    return ids, attn, cmask


def _prepends_specials_only(tokenizer) -> bool:
    """True when the tokenizer's special tokens go only in front (a BOS), never after the text (an EOS)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    return len(full) > len(plain) and full[-len(plain) :] == plain


def cut_completion(tokenizer, token_ids: list[int], eos_id: int | None, stop: Sequence[str] = ()):
    """Cut one generated row at its first EOS and at the first stop string, per row (CASES C22).

    The text is decoded from the whole token run at once, so a character split over several byte
    tokens decodes whole (no U+FFFD). A stop string spanning token boundaries is found in the text.

    Args:
        tokenizer: Decodes ids (``skip_special_tokens=True``).
        token_ids: The generated ids of one row (may include padding after EOS).
        eos_id: End-of-sequence id, or None.
        stop: Stop strings; the text is cut before the earliest one.

    Returns:
        (text, token_ids, finish_reason): text without EOS/stop string; the ids up to and including
        the EOS or the token that completes the stop string; ``"stop"`` or ``"length"``.
    """
    toks = list(token_ids)
    finish = "length"
    if eos_id is not None and eos_id in toks:
        toks = toks[: toks.index(eos_id) + 1]
        finish = "stop"
    body = toks[:-1] if finish == "stop" else toks
    text = tokenizer.decode(body, skip_special_tokens=True)
    hits = [(text.find(st), st) for st in stop if st and text.find(st) >= 0]
    if hits:
        cut, st = min(hits)
        text = text[:cut]
        finish = "stop"
        for m in range(1, len(body) + 1):  # the shortest token prefix whose text contains the stop
            if st in tokenizer.decode(body[:m], skip_special_tokens=True):
                toks = body[:m]
                break
    return text, toks, finish


class TransformersEngine:
    """Rollout engine over any local Hugging Face causal LM.

    Args:
        model: A ``PreTrainedModel`` (decoder-only).
        tokenizer: Its tokenizer. The engine forces left padding and, when the tokenizer has no pad
            token, uses its EOS id as the pad id (never adds a token).
        batch_size: Prompts per forward batch; prompts are sorted by length into buckets.
        add_special_tokens: Whether encoding adds special tokens; ``None`` = only when the tokenizer
            merely prepends a BOS and has no chat template (rendered chat prompts carry their own
            special tokens: no double BOS, CASES C20; a tokenizer that appends EOS, like ByT5's,
            would end every prompt with EOS).

    Raises:
        ValueError: the tokenizer has neither a pad nor an EOS token.
    """

    def __init__(self, model, tokenizer, *, batch_size: int = 32, add_special_tokens: bool | None = None):
        self.model = model
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("tokenizer has no pad_token_id and no eos_token_id; set tokenizer.pad_token first")
        self.pad_id = int(pad)
        self.eos_id = tokenizer.eos_token_id
        self.batch_size = batch_size
        if add_special_tokens is None:
            add_special_tokens = _prepends_specials_only(tokenizer) and not getattr(tokenizer, "chat_template", None)
        self.add_special_tokens = add_special_tokens
        self.model_version = 0

    # -- weights -------------------------------------------------------------------------------
    def load_weights(self, state_dict: dict[str, torch.Tensor] | None = None) -> int:
        """Load ``state_dict`` (non-strict) if given and bump :attr:`model_version`; returns the new version.

        The engine holds the model by reference, so in-place updates of the agent's model (its
        experts) are served at once; call this after every update so rollouts carry the new version.
        """
        if state_dict is not None:
            self.model.load_state_dict(state_dict, strict=False)
        self.model_version += 1
        return self.model_version

    def offload(self) -> None:
        """Release accelerator memory (no-op on CPU)."""

    def reload(self) -> None:
        """Undo :meth:`offload` (no-op on CPU)."""

    # -- helpers -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (no padding)."""
        return [self.tokenizer(t, add_special_tokens=self.add_special_tokens)["input_ids"] for t in texts]

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str], params: SamplingParams = SamplingParams()) -> list[Rollout]:
        """Sample completions, ``params.n`` per prompt, returned prompt-major (all n for prompt 0 first).

        Batching is length-bucketed; left padding makes each row's result independent of its
        batch mates (CASES C4). Stop strings end each row on its own (C22).
        """
        if not prompts:
            return []
        encoded = self.encode(prompts)
        jobs = [(i, k) for i in range(len(prompts)) for k in range(params.n)]
        order = sorted(range(len(jobs)), key=lambda j: len(encoded[jobs[j][0]]))
        out: list[Rollout | None] = [None] * len(jobs)
        rng_ctx = torch.random.fork_rng() if params.seed is not None else contextlib.nullcontext()
        with rng_ctx:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for s in range(0, len(order), self.batch_size):
                chunk = order[s : s + self.batch_size]
                rows = [encoded[jobs[j][0]] for j in chunk]
                for j, r in zip(chunk, self._generate_batch(rows, params)):
                    i = jobs[j][0]
                    out[j] = Rollout(prompts[i], r[0], r[1], r[2], r[3], self.model_version)
        return out  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], params: SamplingParams):
        dev = self._device()
        ids, attn, _ = build_batch(rows, [[] for _ in rows], self.pad_id)
        ids, attn = ids.to(dev), attn.to(dev)
        sample = params.temperature > 0
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            do_sample=sample,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        res = self.model.generate(input_ids=ids, attention_mask=attn, **kwargs)
        new = res.sequences[:, ids.shape[1] :]
        temp = params.temperature if sample else 1.0
        logits = torch.stack(res.logits, dim=1).float()  # (B, new_len, V) raw logits
        lp = torch.log_softmax(logits / temp, dim=-1).gather(-1, new[:, : logits.shape[1]].unsqueeze(-1)).squeeze(-1)
        results = []
        for b in range(new.shape[0]):
            text, toks, finish = cut_completion(self.tokenizer, new[b].tolist(), self.eos_id, params.stop)
            results.append((text, tuple(toks), lp[b, : len(toks)].double().cpu().numpy(), finish))
        return results

    # -- scoring -------------------------------------------------------------------------------
    @torch.no_grad()
    def score(
        self, prompts: list[str], completions: Sequence[str | Sequence[int]], *, temperature: float = 1.0
    ) -> list[np.ndarray]:
        """Teacher-forced logprobs of the completion tokens only.

        Args:
            prompts: B prompt texts.
            completions: B completions, each a string (encoded without special tokens) or a sequence
                of token ids (scored as is: no decode/re-encode drift).
            temperature: > 0; logits are divided by it before the softmax.

        Returns:
            B arrays of shape (completion_len,), float64, natural log.

        Raises:
            ValueError: lengths differ or temperature <= 0.
        """
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have equal length, got {len(prompts)} and {len(completions)}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 for scoring, got {temperature}")
        p_ids = self.encode(prompts)
        c_ids = [
            self.tokenizer(c, add_special_tokens=False)["input_ids"] if isinstance(c, str) else list(c)
            for c in completions
        ]
        out: list[np.ndarray] = [np.zeros(0)] * len(prompts)
        dev = self._device()
        for s in range(0, len(prompts), self.batch_size):
            idx = list(range(s, min(s + self.batch_size, len(prompts))))
            ids, attn, cmask = build_batch([p_ids[i] for i in idx], [c_ids[i] for i in idx], self.pad_id)
            logits = self.model(input_ids=ids.to(dev), attention_mask=attn.to(dev)).logits.float()
            lp = torch.log_softmax(logits[:, :-1] / temperature, dim=-1)
            tok_lp = lp.gather(-1, ids[:, 1:].to(dev).unsqueeze(-1)).squeeze(-1)
            m = cmask[:, 1:].to(dev)
            for r, i in enumerate(idx):
                out[i] = tok_lp[r][m[r]].double().cpu().numpy()
        return out
