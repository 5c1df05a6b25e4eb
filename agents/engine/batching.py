"""Token-level helpers shared by the engines and trainers: padding, positions, cutting completions."""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["build_batch", "position_ids", "cut_completion"]


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
    """Cut one generated row at its first EOS and at the first stop string, per row.

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


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted from its row's first real token (left padding at 0).

    Args:
        attention_mask: (B, L) int64, 0 on padding.

    Returns:
        (B, L) int64 positions, as ``model.generate`` computes them; pass them to a forward pass over
        a left-padded batch so that models with absolute positions (GPT-2) score a row the same
        whatever its padding.
    """
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 0)
