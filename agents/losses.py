"""Pure loss functions (tensors in, tensors out; no state). Divergences are in nats.

* :func:`token_logprobs`, :func:`generalized_jsd`: the token-level divergence F of generalized
  distillation (GKD, arXiv 2306.13649), TRL's beta convention.
* :func:`levenshtein`, :func:`imitation_reward`: the Learning-to-Imitate reward of arXiv 2606.03979
  Eq. 3-4 (``gamma*r_sem + (1-gamma)*r_abs``).
* :func:`group_advantages`, :func:`policy_gradient_loss`: GRPO-style group-normalised advantages
  (arXiv 2402.03300, TRL's ``scale_rewards="group"``) and the sequence-mean surrogate.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "token_logprobs",
    "generalized_jsd",
    "levenshtein",
    "imitation_reward",
    "group_advantages",
    "policy_gradient_loss",
]


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
      as beta approaches 0 or 1; values within 0.01 of an endpoint warn).

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


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions; cost 1 each) between two sequences.

    Args:
        a, b: Token ids (``list[int]``) for token-level distance, or strings (one item per code point).

    Returns:
        The distance in items (tokens or characters), >= 0.

    Example:
        >>> levenshtein("kitten", "sitting"), levenshtein([1, 2, 3], [1, 3])
        (3, 1)
    """
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def imitation_reward(
    prediction: Sequence,
    reference: Sequence,
    *,
    gamma: float,
    z0: int | None,
    semantic: float | bool | None = None,
) -> float:
    """Learning-to-Imitate reward ``gamma*r_sem + (1-gamma)*r_abs`` (arXiv 2606.03979 Eq. 3-4).

    ``r_abs = 1 - lev(pred, ref) / max(|pred|, |ref|)`` when ``lev <= z0`` (inclusive) else 0, and
    1 when both are empty. ``r_sem`` is the frozen judge's verdict in {0, 1}; without one
    (``semantic=None``) it falls back to exact match. Strings are NFC-normalised and compared per code
    point; pass token ids for the paper's token-level distance.

    Args:
        prediction: The student's continuation (token ids or a string).
        reference: The teacher's continuation (same kind as ``prediction``).
        gamma: Weight of the semantic reward, in [0, 1].
        z0: Largest edit distance (in the items compared: tokens or characters) that earns ``r_abs``;
            ``None`` = no threshold. >= 0.
        semantic: The judge's verdict (truthy = same meaning), or None for the exact-match fallback.

    Returns:
        The reward in [0, 1].

    Raises:
        ValueError: gamma outside [0, 1] or z0 < 0.

    Example:
        >>> imitation_reward([5, 6, 7], [5, 6, 8], gamma=0.0, z0=1)
        0.6666666666666667
        >>> imitation_reward("kitten", "sitting", gamma=0.0, z0=2)
        0.0
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if z0 is not None and z0 < 0:
        raise ValueError(f"z0 must be >= 0 (an edit distance) or None, got {z0}")
    if isinstance(prediction, str) and isinstance(reference, str):
        prediction, reference = unicodedata.normalize("NFC", prediction), unicodedata.normalize("NFC", reference)
    pred, ref = list(prediction), list(reference)
    longest = max(len(pred), len(ref))
    if longest == 0:
        r_abs = 1.0
    else:
        d = levenshtein(pred, ref)
        r_abs = 1.0 - d / longest if (z0 is None or d <= z0) else 0.0
    r_sem = float(pred == ref) if semantic is None else float(bool(semantic))
    return gamma * r_sem + (1.0 - gamma) * r_abs


def group_advantages(rewards: torch.Tensor, group_size: int, *, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO group-normalised advantages (Shao et al. 2024, arXiv 2402.03300; TRL's ``scale_rewards="group"``).

    ``a_i = (r_i - mean_g) / (std_g + eps)`` within each group of ``group_size`` consecutive samples,
    with the sample std (Bessel correction) as TRL computes it. NaN rewards (unscored samples) are
    left out of their group's statistics and get advantage 0; a group with fewer than two
    scored samples gets advantages 0.

    Args:
        rewards: (N,) or (N/G, G) float; samples of one prompt are consecutive.
        group_size: G, >= 1; N must be a multiple of it.
        scale: Divide by the group std (GRPO) or only centre (Dr. GRPO, Liu et al. 2025).
        eps: Added to the std.

    Returns:
        (N,) float32 advantages, finite.

    Raises:
        ValueError: ``group_size < 1`` or N not a multiple of it.

    Example:
        >>> group_advantages(torch.tensor([1., 0., 1., 0., 1., 1., 1., 1.]), 4).tolist()[:2]
        [0.8658754229545593, -0.8658754229545593]
    """
    r = rewards.reshape(-1).float()
    if group_size < 1 or r.numel() % group_size:
        raise ValueError(f"group_size must be >= 1 and divide the number of rewards ({r.numel()}), got {group_size}")
    g = r.view(-1, group_size)  # (n_groups, G)
    ok = ~torch.isnan(g)
    n = ok.sum(dim=1, keepdim=True)
    x = torch.where(ok, g, torch.zeros_like(g))
    mean = x.sum(dim=1, keepdim=True) / n.clamp_min(1)
    dev = torch.where(ok, g - mean, torch.zeros_like(g))
    std = (dev.pow(2).sum(dim=1, keepdim=True) / (n - 1).clamp_min(1)).sqrt()
    adv = dev / (std + eps) if scale else dev
    adv = torch.where(ok & (n >= 2), adv, torch.zeros_like(adv))
    return adv.reshape(-1)


def policy_gradient_loss(
    logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *, reduction: str = "sequence-mean"
) -> torch.Tensor:
    """REINFORCE/GRPO surrogate ``-A * log pi`` with one update per batch (ratio 1, no clipping).

    Args:
        logprobs: (B, L) float, log-probabilities of the sampled tokens under the policy (with grad).
        advantages: (B,) float (no grad).
        mask: (B, L) bool, True on completion tokens (derived from lengths, never from token values).
        reduction: ``"sequence-mean"`` (GRPO paper: mean over each sequence's tokens, then over
            sequences), ``"token-mean"`` (sum over all valid tokens / their count) or ``"sum-max"``
            (Dr. GRPO: sum / (B * L)).

    Returns:
        Scalar loss to minimise.

    Raises:
        ValueError: unknown reduction or shapes that do not line up.
    """
    if logprobs.shape != mask.shape or advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"logprobs {tuple(logprobs.shape)}, mask {tuple(mask.shape)} and advantages "
                         f"{tuple(advantages.shape)} must be (B, L), (B, L), (B,)")
    m = mask.to(logprobs.dtype)
    per = -advantages.detach().unsqueeze(1) * logprobs * m  # (B, L)
    if reduction == "sequence-mean":
        return (per.sum(1) / m.sum(1).clamp_min(1.0)).mean()
    if reduction == "token-mean":
        return per.sum() / m.sum().clamp_min(1.0)
    if reduction == "sum-max":
        return per.sum() / (logprobs.shape[0] * logprobs.shape[1])
    raise ValueError(f"reduction must be 'sequence-mean', 'token-mean' or 'sum-max', got {reduction!r}")
