"""The model operations Dreaming is built from (:mod:`agents.dreaming`), as functions of an engine.

A *row* is ``(prompt ids, completion ids)``: token ids of a rendered prompt and of the text the model
should continue it with; every function expects non-empty completions, and the losses a non-empty
list of rows (``Dreaming`` drops empty ones before calling them). Every function reads or trains ``engine.model`` in place, under a *mode*: a
zero-argument callable returning a context manager that sets which experts are on and trainable
(``DreamTarget.student``). Logprobs are natural-log (nats); losses are token means.

- :func:`row_logprobs` / :func:`sft_loss` / :func:`tau_loss`: teacher-forced scores (grad if enabled).
- :func:`flat_grad`: one flattened gradient (the selection's ``g_i`` and ``g_tau``).
- :func:`adam_sft`: a few Adam steps of SFT (trials, apply), optionally with a KL anchor (:class:`Anchor`).
- :func:`answer_logprobs` / :func:`anchor_kl`: full next-token distributions on answers, and the KL
  of the current model from such a reference (the apply's anchor).
- :func:`exact_match`: greedy answers against reference answers.
"""

from __future__ import annotations

from typing import Callable, ContextManager, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from agents.dream_parts import _norm
from agents.engine import SamplingParams, build_batch, position_ids

__all__ = ["Row", "Anchor", "row_logprobs", "sft_loss", "tau_loss", "flat_grad", "adam_sft", "exact_match",
           "answer_logprobs", "anchor_kl", "mean_anchor_kl"]

Row = tuple[list[int], list[int]]  # (prompt ids, completion ids)
Mode = Callable[[], ContextManager]


def completion_logits(engine, rows: Sequence[Row]) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield, per batch of ``engine.batch_size`` rows, ``(logits (B, w, V) float32, targets (B, w) long, mask (B, w) bool)``.

    ``w`` = the longest completion of the batch; ``logits[:, t]`` predicts ``targets[:, t]`` (left
    padding: every completion ends at the right edge); ``mask`` marks completion tokens. One forward
    pass per batch, with the caller's grad mode and experts.
    """
    model, dev = engine.model, next(engine.model.parameters()).device
    for s in range(0, len(rows), engine.batch_size):
        chunk = rows[s : s + engine.batch_size]
        ids, attn, cmask = build_batch([p for p, _ in chunk], [c for _, c in chunk], engine.pad_id)
        ids, attn = ids.to(dev), attn.to(dev)
        w = max(len(c) for _, c in chunk)
        res = model(input_ids=ids, attention_mask=attn, position_ids=position_ids(attn), logits_to_keep=w + 1)
        yield res.logits[:, :-1].float(), ids[:, -w:], cmask[:, -w:].to(dev)


def row_logprobs(engine, rows: Sequence[Row]) -> list[torch.Tensor]:
    """Per row, the ``(len(completion),)`` float32 logprobs (nats) of its completion tokens (grad if enabled)."""
    out: list[torch.Tensor] = []
    for logits, targets, m in completion_logits(engine, rows):
        lp = torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)  # (B, w)
        out += [lp[b][m[b]] for b in range(len(m))]
    return out


def sft_loss(engine, rows: Sequence[Row]) -> torch.Tensor:
    """SFT loss: minus the token mean of the completions' logprobs (nats per token), a scalar tensor."""
    return -torch.cat(row_logprobs(engine, rows)).mean()


def tau_loss(engine, rows: Sequence[Row]) -> torch.Tensor:
    """Minus the evaluator tau: minus the query mean of each answer's mean token logprob (nats per token)."""
    return -torch.stack([lp.mean() for lp in row_logprobs(engine, rows)]).mean()


def flat_grad(loss_fn: Callable[[Sequence[Row]], torch.Tensor], rows: Sequence[Row], params: list[torch.Tensor]) -> torch.Tensor:
    """(P,) float32 flattened gradient of ``loss_fn(rows)`` w.r.t. ``params`` (no ``.grad`` is touched; unused params give 0)."""
    with torch.enable_grad():
        loss = loss_fn(rows)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float() for g, p in zip(grads, params)])


def answer_logprobs(engine, rows: Sequence[Row]) -> list[torch.Tensor]:
    """Per row, the ``(len(completion), V)`` float32 log-softmax (nats) of every next-token
    distribution over its completion (teacher-forced; grad if enabled)."""
    out: list[torch.Tensor] = []
    for logits, _, m in completion_logits(engine, rows):
        lp = torch.log_softmax(logits, -1)
        out += [lp[b][m[b]] for b in range(len(m))]
    return out


def anchor_kl(engine, rows: Sequence[Row], ref: Sequence[torch.Tensor]) -> torch.Tensor:
    """Token mean of ``KL(ref || current)`` (nats) over the completions of ``rows``, a scalar tensor.

    ``ref[i]`` is row ``i``'s ``(len(completion), V)`` log-softmax from :func:`answer_logprobs` on the
    reference weights. Forward KL, as the distillation anchor of LwF (Li & Hoiem 2017, arXiv
    1606.09282): it is large where the reference puts mass that the current model takes away, so it
    keeps the reference's whole distribution (its uncertainty included), not only its top answer.
    """
    cur = torch.cat(answer_logprobs(engine, rows))  # (T, V): a few rows at a time (all of them: mean_anchor_kl)
    r = torch.cat([t.to(cur.device) for t in ref])
    return (r.exp() * (r - cur)).sum(-1).mean()


@torch.no_grad()
def mean_anchor_kl(engine, rows: Sequence[Row], ref: Sequence[torch.Tensor]) -> float:
    """:func:`anchor_kl` over all ``rows``, ``engine.batch_size`` rows at a time (never one
    ``(all tokens, V)`` tensor), token-weighted: the same token mean, without gradient."""
    n, total, bs = 0, 0.0, engine.batch_size
    for i in range(0, len(rows), bs):
        t = sum(len(c) for _, c in rows[i:i + bs])
        total += t * float(anchor_kl(engine, rows[i:i + bs], ref[i:i + bs]))
        n += t
    return total / n


class Anchor(NamedTuple):
    """The KL anchor of an apply: keep the model's answers on ``rows`` distributed as in ``ref``.

    Each Adam step of :func:`adam_sft` adds ``weight * anchor_kl`` on ``per_step`` rows of ``rows``
    drawn without replacement by ``rng`` (all of them when fewer).
    """

    rows: Sequence[Row]
    ref: Sequence[torch.Tensor]  #: per row, (len(completion), V) float32 log-softmax of the reference
    weight: float
    per_step: int
    rng: np.random.Generator


def adam_sft(engine, params: list[torch.Tensor], batches: Sequence[Sequence[Row]], lr: float, mode: Mode,
             anchor: Anchor | None = None) -> list[float]:
    """One Adam step of :func:`sft_loss` per batch on ``params`` (a fresh optimiser), under ``mode``.

    With an ``anchor`` (weight > 0 and rows), each step minimises ``sft_loss + weight * anchor_kl`` on
    a fresh draw of the anchor's rows.

    Returns:
        The SFT loss of each step (nats per token, before the step; the anchor term not included).
        Only ``params`` change; their ``.grad`` is None afterwards.
    """
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    use_anchor = anchor is not None and anchor.weight > 0 and len(anchor.rows) > 0
    with torch.enable_grad():
        for rows in batches:
            with mode():
                loss = sft_loss(engine, rows)
                total = loss
                if use_anchor:
                    n = min(anchor.per_step, len(anchor.rows))
                    pick = anchor.rng.choice(len(anchor.rows), n, replace=False)
                    total = loss + anchor.weight * anchor_kl(engine, [anchor.rows[i] for i in pick],
                                                             [anchor.ref[i] for i in pick])
            grads = torch.autograd.grad(total, params, allow_unused=True)
            for p, g in zip(params, grads):
                p.grad = g if g is not None else torch.zeros_like(p)
            opt.step()
            for p in params:
                p.grad = None
            losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def exact_match(engine, rows: Sequence[Row], mode: Mode) -> float:
    """Share of ``rows`` whose greedy answer starts with the reference completion, in [0, 1]; nan for no rows.

    Case and punctuation are ignored (``agents.dream_parts._norm``); the answer budget is the longest
    reference plus 2 tokens.
    """
    if not rows:
        return float("nan")
    engine.model.eval()
    tok, hits = engine.tokenizer, 0
    greedy = SamplingParams(temperature=0.0, max_new_tokens=max(len(c) for _, c in rows) + 2)
    with mode():
        outs = engine.generate_ids([p for p, _ in rows], greedy)
    for (_, c), out in zip(rows, outs):
        ref = _norm(tok.decode(c, skip_special_tokens=True))
        hits += bool(ref) and _norm(out.text).startswith(ref)
    return hits / len(rows)
