"""The model side of Dreaming (:mod:`agents.dreaming`): the generator's low-rank adapter
(:class:`LowRankAdapter`) and the narrow interface to the agent's memory (:class:`DreamTarget`,
:func:`expert_target`). The text side (templates, parsing, grounding, selection) is
:mod:`agents.dream_parts`. Import them from :mod:`agents.dreaming`, which re-exports every public name.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, ContextManager

import numpy as np
import torch
from torch import nn

__all__ = ["LowRankAdapter", "DreamTarget", "expert_target"]


# -- adapters --------------------------------------------------------------------------------------------
def _mlp_modules(model: nn.Module) -> list[nn.Module]:
    """The outermost ``.mlp`` submodule of every decoder layer (an ``ExpertBlock`` if one wraps it)."""
    names = sorted((n for n, _ in model.named_modules() if n.split(".")[-1] == "mlp"), key=len)
    keep: list[str] = []
    for n in names:
        if not any(n.startswith(k + ".") for k in keep):
            keep.append(n)
    if not keep:
        raise ValueError(f"unsupported architecture {type(model).__name__}: no submodule named 'mlp' to attach "
                         "the dream generator's adapter to; use a causal LM whose decoder layers hold '.mlp'")
    mods = dict(model.named_modules())
    return [mods[n] for n in sorted(keep)]


class LowRankAdapter:
    """A low-rank MLP added to every MLP block's output through forward hooks, off unless :meth:`on`.

    ``y = mlp(x) + (alpha / rank) * B silu(A x)``, ``A: (d_model, rank)`` normal(0, 1/d_model),
    ``B: (rank, d_model)`` zero (starts as the identity map). Its tensors are *not* registered on the
    model: the model's ``state_dict`` and parameter counts do not change. It serves as the dream
    generator's own adapter (trained by ReST-EM) and as the random-direction fallback expert.

    Args:
        model: The causal LM (hooks on each decoder layer's ``mlp``).
        rank: Rank, >= 1.
        alpha: Output scale numerator.
        seed: Seed of ``A``.
    """

    def __init__(self, model: nn.Module, rank: int = 8, *, alpha: float = 16.0, seed: int = 0):
        d = model.get_input_embeddings().embedding_dim
        dtype = next(model.parameters()).dtype
        gen = torch.Generator().manual_seed(seed)
        mods = _mlp_modules(model)
        dev = next(model.parameters()).device
        self.A = [nn.Parameter((torch.randn(d, rank, generator=gen) / math.sqrt(d)).to(dev, dtype)) for _ in mods]
        self.B = [nn.Parameter(torch.zeros(rank, d, dtype=dtype, device=dev)) for _ in mods]
        self.scale = alpha / rank
        self.active = False
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(mods)]

    def _hook(self, i: int):
        def hook(module, args, output):
            if not self.active or not isinstance(output, torch.Tensor):
                return output
            x = args[0]  # (B, L, d_model)
            return output + self.scale * (torch.nn.functional.silu(x @ self.A[i]) @ self.B[i])
        return hook

    def parameters(self) -> list[nn.Parameter]:
        """The adapter's tensors (``A`` then ``B`` of every block)."""
        return self.A + self.B

    @contextlib.contextmanager
    def on(self, enabled: bool = True):
        """Context manager: the adapter takes part in the enclosed forward passes."""
        old, self.active = self.active, enabled
        try:
            yield
        finally:
            self.active = old

    @torch.no_grad()
    def randomize(self, rng: np.random.Generator, std: float = 1.0) -> None:
        """Draw ``B`` at random (a random low-rank direction, ``std`` in units of ``1/sqrt(rank)``)."""
        for b in self.B:
            b.copy_(torch.from_numpy(rng.standard_normal(tuple(b.shape)) * std / math.sqrt(b.shape[0])).to(b.dtype))

    def remove(self) -> None:
        """Detach the hooks (the adapter no longer exists for the model)."""
        for h in self._handles:
            h.remove()


@dataclass
class DreamTarget:
    """The narrow interface Dreaming needs from the agent's memory.

    Attributes:
        params: The consolidated level's trainable tensors (optimised, snapshotted, restored in place).
        student: Context manager factory: forward passes as the model answers closed-book, with
            ``params`` receiving gradient (trials, apply, tau).
        reader: Context manager factory: forward passes as the model reads ``C`` (dream sampling).
        random_expert: ``rng -> context manager`` that switches one random extra expert on (``None``
            from the call = no expert to pick: Dreaming then adds a random low-rank direction), or None.
    """

    params: list[torch.Tensor]
    student: Callable[[], ContextManager] = contextlib.nullcontext
    reader: Callable[[], ContextManager] = contextlib.nullcontext
    random_expert: Callable[[np.random.Generator], ContextManager] | None = None


def expert_target(memory, slot: int) -> DreamTarget:
    """A :class:`DreamTarget` on an :class:`agents.memory.ExpertMemory`: expert ``slot`` is trained.

    ``student``: every active expert on, only ``slot`` trainable (the trainable masks are restored on
    exit). ``reader``: experts off (the base model reads the context, as the agents' lexical router
    does). ``random_expert``: one uniformly drawn active expert other than ``slot`` (older knowledge,
    irrelevant to today's memories) switched on alone while sampling (the paper's "each router
    additionally picks one random expert"); it returns None when there is no such expert.
    """
    blocks = memory.blocks

    @contextlib.contextmanager
    def student():
        saved = [blk.trainable.clone() for blk in blocks]
        for blk in blocks:
            blk.trainable.zero_()
            blk.trainable[slot] = True
        try:
            with memory.routed(True):
                yield
        finally:
            for blk, t in zip(blocks, saved):
                blk.trainable.copy_(t)

    def random_expert(rng: np.random.Generator):
        others = [k for k in torch.nonzero(blocks[0].active).flatten().tolist() if k != slot]
        return _only(int(others[int(rng.integers(len(others)))])) if others else None

    @contextlib.contextmanager
    def _only(pick: int):
        saved = [blk.enabled.clone() for blk in blocks]
        for blk in blocks:
            blk.enabled.zero_()
            blk.enabled[pick] = True
        try:
            with memory.routed(True):
                yield
        finally:
            for blk, e in zip(blocks, saved):
                blk.enabled.copy_(e)

    params = [t for blk in blocks for t in (blk.A, blk.B)]
    return DreamTarget(params=params, student=student, reader=lambda: memory.routed(False), random_expert=random_expert)
