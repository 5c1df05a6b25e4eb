"""Pure loss functions (tensors in, tensors out; no state). Divergences are in nats."""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

__all__ = ["token_logprobs", "generalized_jsd"]


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probability of each token under its aligned logits.

    Args:
        logits: (B, L, V) float; ``logits[b, t]`` is the distribution that produced ``token_ids[b, t]``
            (callers shift HF outputs by one: ``logits[:, :-1]`` predicts ``input_ids[:, 1:]``).
        token_ids: (B, L) int64.
        temperature: > 0; logits are divided by it before the softmax.

    Returns:
        (B, L) float32, natural log.

    Raises:
        ValueError: shapes do not line up or temperature <= 0.

    Example:
        >>> import torch
        >>> lp = token_logprobs(torch.zeros(1, 2, 4), torch.tensor([[0, 3]]))
        >>> [round(v, 4) for v in lp[0].tolist()]
        [-1.3863, -1.3863]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits.shape[:2] != token_ids.shape:
        raise ValueError(f"logits (B, L, V) must align with token_ids (B, L); got {tuple(logits.shape)} and {tuple(token_ids.shape)}")
    lp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return lp.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)


def generalized_jsd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    beta: float = 0.5,
    temperature: float = 1.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generalized Jensen-Shannon divergence of GKD (Agarwal et al. 2024, arXiv 2306.13649), TRL's convention.

    With teacher T, student S and mixture ``M = beta*T + (1-beta)*S`` (per token, over the vocabulary):

    * ``beta == 0``: forward KL(T || S) (mode covering);
    * ``beta == 1``: reverse KL(S || T) (mode seeking);
    * otherwise: ``beta*KL(T || M) + (1-beta)*KL(S || M)`` (the paper's interior weights, which vanish
      as beta approaches 0 or 1; values within 0.01 of an endpoint warn, see CASES C6).

    Args:
        student_logits: (B, L, V) float.
        teacher_logits: (B, L, V) float (no gradient needed).
        beta: in [0, 1].
        temperature: > 0, applied to both teacher and student logits.
        mask: (B, L) bool, True on tokens that count; None = all.

    Returns:
        Scalar tensor: mean divergence over unmasked tokens, in nats (0 when no token is unmasked).

    Raises:
        ValueError: beta outside [0, 1], temperature <= 0, or shapes differ.

    Example:
        >>> import torch
        >>> t = torch.log(torch.tensor([[[0.9, 0.1]]])); s = torch.log(torch.tensor([[[0.5, 0.5]]]))
        >>> round(generalized_jsd(s, t, beta=0.0).item(), 6)
        0.368064
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}; 0 = forward KL(teacher||student), 1 = reverse KL")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must have the same shape, got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if 0.0 < beta < 0.01 or 0.99 < beta < 1.0:
        warnings.warn(f"beta={beta} is within 0.01 of an endpoint: the interior GKD loss nearly vanishes there; use 0 or 1", stacklevel=2)
    s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    t = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if beta == 0.0:
        per = F.kl_div(s, t, reduction="none", log_target=True).sum(-1)  # KL(T || S)
    elif beta == 1.0:
        per = F.kl_div(t, s, reduction="none", log_target=True).sum(-1)  # KL(S || T)
    else:
        m = torch.logsumexp(torch.stack([t + math.log(beta), s + math.log(1 - beta)]), dim=0)
        kl_t = F.kl_div(m, t, reduction="none", log_target=True).sum(-1)  # KL(T || M)
        kl_s = F.kl_div(m, s, reduction="none", log_target=True).sum(-1)  # KL(S || M)
        per = beta * kl_t + (1 - beta) * kl_s
    if mask is None:
        return per.mean()
    mask = mask.to(per.dtype)
    return (per * mask).sum() / mask.sum().clamp_min(1.0)
