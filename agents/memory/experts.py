"""Pre-allocated, masked low-rank experts attached to a model's MLP blocks (PAPER-NOTES §2.4).

Each MLP block ``mlp`` of the base model is wrapped as::

    y = mlp(x) + gate * sum_{k active} (alpha / d_low) * B_k silu(A_k x)

with ``A_k: (d_model, d_low)`` and ``B_k: (d_low, d_model)``. All ``pool_size`` experts of a level are
allocated up front; :meth:`ExpertMemory.expand` unmasks the next one (no tensor shape ever changes,
the paper's "unlocking"), masked experts cost no compute and receive no gradient, and only the
experts marked trainable get gradients (the others are detached in the forward pass).

The *router* here is sequence-level: :meth:`ExpertMemory.routed` switches every expert off for a
forward pass (``gate = 0``), which is how an agent keeps its long-term memory out of the way when
the answer is in its context (OFFLINE-FACTS: an always-on adapter destroyed in-context reading).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ExpertConfig", "ExpertBlock", "ExpertMemory"]


@dataclass(frozen=True, kw_only=True)
class ExpertConfig:
    """Shape of the expert pool.

    Attributes:
        d_low: Rank of each expert (the paper's d_low; Appendix B uses 64), >= 1.
        pool_size: Experts pre-allocated per MLP block (Appendix B: 5), >= 1.
        alpha: Output scale numerator; the expert output is multiplied by ``alpha / d_low``.
        init_std: Std of ``A``'s normal init, in units of ``1/sqrt(d_model)``; ``B`` starts at 0 so a
            fresh expert leaves the model unchanged.
        first_layer: MLP blocks below this index (0 = the lowest) get no experts; a sleep's backward
            pass then stops at ``first_layer``, which makes training steps cheaper.
    """

    d_low: int = 16
    pool_size: int = 5
    alpha: float = 32.0
    init_std: float = 1.0
    first_layer: int = 0

    def __post_init__(self) -> None:
        if self.d_low < 1:
            raise ValueError(f"d_low must be >= 1, got {self.d_low}")
        if self.first_layer < 0:
            raise ValueError(f"first_layer must be >= 0, got {self.first_layer}")
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {self.pool_size}; it bounds the number of sleeps")


class ExpertBlock(nn.Module):
    """An MLP block plus its pool of masked low-rank experts."""

    def __init__(self, mlp: nn.Module, d_model: int, cfg: ExpertConfig, generator: torch.Generator):
        super().__init__()
        self.mlp = mlp
        self.scale = cfg.alpha / cfg.d_low
        std = cfg.init_std / math.sqrt(d_model)
        dtype = next(mlp.parameters()).dtype
        self.A = nn.Parameter(torch.randn(cfg.pool_size, d_model, cfg.d_low, generator=generator).to(dtype) * std)
        self.B = nn.Parameter(torch.zeros(cfg.pool_size, cfg.d_low, d_model, dtype=dtype))
        self.register_buffer("active", torch.zeros(cfg.pool_size, dtype=torch.bool))
        self.register_buffer("trainable", torch.zeros(cfg.pool_size, dtype=torch.bool))
        self.gate = 1.0

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # x: (B, L, d_model)
        y = self.mlp(x, *args, **kwargs)
        if self.gate == 0.0 or not bool(self.active.any()):
            return y
        for k in torch.nonzero(self.active).flatten().tolist():
            a, b = self.A[k], self.B[k]
            if not bool(self.trainable[k]):
                a, b = a.detach(), b.detach()
            h = torch.nn.functional.silu(x @ a.to(x.dtype))  # (B, L, d_low)
            y = y + self.gate * self.scale * (h @ b.to(x.dtype))  # (B, L, d_model)
        return y


def _mlp_slots(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, mlp) for every decoder layer's MLP (Llama/Qwen2/Gemma ``.mlp``, GPT-2 ``.mlp``)."""
    slots = []
    for _, module in model.named_modules():
        child = module._modules.get("mlp")
        if child is not None and not isinstance(child, ExpertBlock):
            slots.append((module, "mlp", child))
    if not slots:
        raise ValueError(
            f"model {type(model).__name__} has no submodule named 'mlp'; ExpertMemory supports decoder "
            "layers with a standard MLP block (Llama, Qwen2, Gemma, GPT-2)"
        )
    return slots


class ExpertMemory:
    """The agent's long-term memory levels >= 1: expert pools wrapped around every MLP block.

    Args:
        model: A Hugging Face causal LM; its MLP blocks are wrapped in place. Base weights are frozen.
        cfg: Pool shape.
        seed: Seed of the experts' initialisation.
    """

    def __init__(self, model: nn.Module, cfg: ExpertConfig = ExpertConfig(), *, seed: int = 0):
        self.model = model
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        d_model = model.config.hidden_size
        self.blocks: list[ExpertBlock] = []
        slots = _mlp_slots(model)
        if cfg.first_layer >= len(slots):
            raise ValueError(
                f"first_layer must be below the number of MLP blocks ({len(slots)}), got {cfg.first_layer}"
            )
        for parent, attr, mlp in slots[cfg.first_layer :]:
            block = ExpertBlock(mlp, d_model, cfg, gen)
            setattr(parent, attr, block)
            self.blocks.append(block)
        for name, p in model.named_parameters():
            p.requires_grad_(name.endswith(".A") or name.endswith(".B"))
        self.n_active = 0

    def expand(self) -> int:
        """Unmask the next expert in every block and make it the only trainable one; returns its index.

        Raises:
            RuntimeError: the pre-allocated pool is exhausted (raise ``ExpertConfig.pool_size``).
        """
        if self.n_active >= self.cfg.pool_size:
            raise RuntimeError(
                f"expert pool exhausted: all {self.cfg.pool_size} experts are in use; "
                "raise ExpertConfig.pool_size or reset a level"
            )
        k = self.n_active
        for blk in self.blocks:
            blk.active[k] = True
            blk.trainable.zero_()
            blk.trainable[k] = True
        self.n_active += 1
        return k

    def freeze_all(self) -> None:
        """Make every expert non-trainable (after a consolidation)."""
        for blk in self.blocks:
            blk.trainable.zero_()

    def make_trainable(self, k: int) -> None:
        """Make expert ``k`` (already active) the only trainable one."""
        for blk in self.blocks:
            blk.trainable.zero_()
            blk.trainable[k] = True

    @contextlib.contextmanager
    def masked(self, k: int | None):
        """Context manager: expert ``k`` masked for the enclosed forward passes (None = no change)."""
        if k is None:
            yield
            return
        old = [bool(blk.active[k]) for blk in self.blocks]
        for blk in self.blocks:
            blk.active[k] = False
        try:
            yield
        finally:
            for blk, a in zip(self.blocks, old):
                blk.active[k] = a

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The A/B tensors (whole pools; only trainable experts receive non-zero gradient)."""
        return [p for blk in self.blocks for p in (blk.A, blk.B)]

    def active_parameters(self) -> int:
        """Number of expert parameters currently unmasked (all blocks)."""
        per = self.blocks[0].A[0].numel() + self.blocks[0].B[0].numel()
        return per * self.n_active * len(self.blocks)

    @contextlib.contextmanager
    def routed(self, enabled: bool):
        """Context manager: experts on (``enabled=True``) or off for the enclosed forward passes."""
        old = [blk.gate for blk in self.blocks]
        for blk in self.blocks:
            blk.gate = 1.0 if enabled else 0.0
        try:
            yield
        finally:
            for blk, g in zip(self.blocks, old):
                blk.gate = g
