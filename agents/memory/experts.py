"""Continuum memory: pre-allocated, masked low-rank experts on a model's MLP blocks.

Levels: level 0 is the context (owned by the env); levels ``1..K`` are banks of ``pool_size``
low-rank experts per MLP block, faster levels first; the frozen base weights are the slowest level.
Each MLP block ``mlp`` is wrapped as::

    y = mlp(x) + gate * sum_{k in active} w_k(x) * (alpha / d_low) * B_k silu(A_k x)

with ``A_k: (d_model, d_low)`` and ``B_k: (d_low, d_model)``. All ``levels * pool_size`` experts are
allocated up front (slot ``(level - 1) * pool_size + i``); :meth:`ExpertMemory.expand` unmasks the
next one of a level (no tensor shape ever changes: the paper's "unlocking", §3.3), masked experts cost
no compute and receive no gradient, and only experts marked trainable get gradients (the others are
detached in the forward pass). :meth:`ExpertMemory.reset` wipes a level after it was consolidated
into the next one (the paper's "synaptic pruning", §2.8).

Routers:

* ``router="dense"`` (default): ``w_k = 1`` for every active expert (the sum of the paper's added MLP
  blocks; nothing to learn, so a consolidation cannot disturb older experts through a shared router).
* ``router="topk"``: a learned linear router per block (``(d_model, slots)``, zero-initialised)
  picks the ``top_k`` active experts per token with ``w_k = top_k * p_k``, ``p = softmax`` of the
  router logits over the active experts (Switch-Transformer style: not renormalised over the chosen,
  so even top-1 routing passes gradient to the router; a uniform router with ``top_k >= n_active``
  reproduces the dense sum). The router trains with the new expert.

Independently of both, :meth:`ExpertMemory.routed` switches all experts off for a forward pass
(``gate = 0``): that is how an agent keeps its long-term memory out of the way when the answer is in
its context (an always-on adapter destroyed in-context reading).

Supported models: any Hugging Face causal LM whose decoder layers hold their MLP in an attribute named
``mlp`` called as ``mlp(hidden_states)`` (GPT-2, Llama, Qwen2, Gemma, SmolLM2, Mistral, Phi-3).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = ["ExpertConfig", "ExpertBlock", "ExpertMemory", "ParameterCounts", "PoolExhausted"]

_ROUTERS = ("dense", "topk")


class PoolExhausted(RuntimeError):
    """Every pre-allocated expert of a level is in use; raised by :meth:`ExpertMemory.expand`."""


@dataclass(frozen=True, kw_only=True)
class ExpertConfig:
    """Shape of the expert pools.

    Attributes:
        d_low: Rank of each expert (the paper's d_low; Appendix B uses 64), >= 1.
        pool_size: Experts pre-allocated per MLP block *per level* (Appendix B: 5), >= 1.
        levels: Number K of expert levels (1 = the paper's "two-level" memory: context + experts;
            3 = "four-level": context, levels 1-3, base weights), >= 1.
        alpha: Output scale numerator; the expert output is multiplied by ``alpha / d_low``.
        init_std: Std of ``A``'s normal init, in units of ``1/sqrt(d_model)``; ``B`` starts at 0 so a
            fresh expert leaves the model unchanged.
        first_layer: MLP blocks below this index (0 = the lowest) get no experts; a sleep's backward
            pass then stops at ``first_layer``, which makes training steps cheaper.
        router: ``"dense"`` (every active expert, weight 1) or ``"topk"`` (learned top-k per token).
        top_k: Experts a ``"topk"`` router keeps per token, >= 1.
    """

    d_low: int = 16
    pool_size: int = 5
    levels: int = 1
    alpha: float = 32.0
    init_std: float = 1.0
    first_layer: int = 0
    router: str = "dense"
    top_k: int = 2

    def __post_init__(self) -> None:
        for name in ("d_low", "pool_size", "levels", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.first_layer < 0:
            raise ValueError(f"first_layer must be >= 0, got {self.first_layer}")
        if self.router not in _ROUTERS:
            raise ValueError(f"router must be one of {_ROUTERS}, got {self.router!r}")

    @property
    def slots(self) -> int:
        """Experts per block over all levels (``levels * pool_size``)."""
        return self.levels * self.pool_size


@dataclass(frozen=True)
class ParameterCounts:
    """Parameter accounting of a model with expert pools (numbers of scalars).

    Attributes:
        total: Every parameter: base weights, all pre-allocated experts (masked or not) and routers.
        active: Parameters a token's forward pass uses: base weights + the unmasked experts (a
            ``"topk"`` router: at most ``top_k`` of them per block) + routers.
        trainable: Parameters that receive gradient in a consolidation (the trainable experts, and
            the routers while one is trainable).
        experts_active: Unmasked experts per block, summed over levels.
    """

    total: int
    active: int
    trainable: int
    experts_active: int


class ExpertBlock(nn.Module):
    """An MLP block plus its pools of masked low-rank experts (all levels)."""

    def __init__(self, mlp: nn.Module, d_model: int, cfg: ExpertConfig, generator: torch.Generator):
        super().__init__()
        self.mlp = mlp
        self.cfg = cfg
        self.scale = cfg.alpha / cfg.d_low
        self.std = cfg.init_std / math.sqrt(d_model)
        dtype = next(mlp.parameters()).dtype
        self.A = nn.Parameter(torch.randn(cfg.slots, d_model, cfg.d_low, generator=generator).to(dtype) * self.std)
        self.B = nn.Parameter(torch.zeros(cfg.slots, cfg.d_low, d_model, dtype=dtype))
        self.router = nn.Parameter(torch.zeros(d_model, cfg.slots, dtype=dtype)) if cfg.router == "topk" else None
        self.register_buffer("active", torch.zeros(cfg.slots, dtype=torch.bool))
        self.register_buffer("trainable", torch.zeros(cfg.slots, dtype=torch.bool))
        self.register_buffer("enabled", torch.ones(cfg.slots, dtype=torch.bool), persistent=False)
        self.gate = 1.0

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # x: (B, L, d_model)
        y = self.mlp(x, *args, **kwargs)
        on = self.active & self.enabled
        if self.gate == 0.0 or not bool(on.any()):
            return y
        idx = torch.nonzero(on).flatten().tolist()
        weights = self._route(x, idx)  # (B, L, n) or None
        for j, k in enumerate(idx):
            a, b = self.A[k], self.B[k]
            if not bool(self.trainable[k]):
                a, b = a.detach(), b.detach()
            h = torch.nn.functional.silu(x @ a.to(x.dtype))  # (B, L, d_low)
            out = self.scale * (h @ b.to(x.dtype))  # (B, L, d_model)
            if weights is not None:
                out = out * weights[..., j : j + 1]
            y = y + self.gate * out
        return y

    def _route(self, x: torch.Tensor, idx: list[int]) -> torch.Tensor | None:
        if self.router is None:
            return None
        r = self.router if bool(self.trainable.any()) else self.router.detach()
        probs = torch.softmax(x @ r[:, idx].to(x.dtype), dim=-1)  # (B, L, n) over the active experts
        k = min(self.cfg.top_k, len(idx))
        top = probs.topk(k, dim=-1)
        return torch.zeros_like(probs).scatter(-1, top.indices, top.values * k)  # (B, L, n): k * p on the chosen


def _mlp_slots(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, mlp) for every decoder layer's MLP (Llama/Qwen2/Gemma/GPT-2 ``.mlp``)."""
    slots = []
    for _, module in model.named_modules():
        child = module._modules.get("mlp")
        if child is not None and not isinstance(child, ExpertBlock):
            slots.append((module, "mlp", child))
    if not slots:
        raise ValueError(
            f"unsupported architecture {type(model).__name__}: ExpertMemory looked for a submodule named 'mlp' in "
            "each decoder layer (as in GPT-2, Llama, Qwen2, Gemma, SmolLM2) and found none; "
            "use a causal LM whose decoder layers hold their MLP block in `.mlp`"
        )
    return slots


class ExpertMemory:
    """The agent's long-term memory levels 1..K: expert pools wrapped around the MLP blocks, in place.

    Args:
        model: A Hugging Face causal LM; its MLP blocks are wrapped in place. Base weights are frozen.
        cfg: Pool shape.
        seed: Seed of the experts' initialisation (and of re-initialisation after :meth:`reset`).

    Raises:
        ValueError: the model has no ``mlp`` submodules, or ``first_layer`` leaves no block.
    """

    def __init__(self, model: nn.Module, cfg: ExpertConfig = ExpertConfig(), *, seed: int = 0):
        self.model = model
        self.cfg = cfg
        self._gen = torch.Generator().manual_seed(seed)
        slots = _mlp_slots(model)
        d_model = model.get_input_embeddings().embedding_dim
        self.blocks: list[ExpertBlock] = []
        if cfg.first_layer >= len(slots):
            raise ValueError(
                f"first_layer must be below the number of MLP blocks ({len(slots)}), got {cfg.first_layer}"
            )
        for parent, attr, mlp in slots[cfg.first_layer :]:
            block = ExpertBlock(mlp, d_model, cfg, self._gen)
            block.train(mlp.training)
            setattr(parent, attr, block)
            self.blocks.append(block)
        for name, p in model.named_parameters():
            p.requires_grad_(name.endswith((".A", ".B", ".router")))
        self.used = [0] * (cfg.levels + 1)  # used[l]: experts of level l in use (index 0 unused)

    # -- levels ------------------------------------------------------------------------------------
    def _check_level(self, level: int) -> None:
        if not 1 <= level <= self.cfg.levels:
            raise ValueError(f"level must be in 1..{self.cfg.levels} (ExpertConfig.levels), got {level}")

    def slots(self, level: int) -> range:
        """Slot indices of ``level``'s pool (``(level-1)*pool_size`` up to ``level*pool_size``)."""
        self._check_level(level)
        p = self.cfg.pool_size
        return range((level - 1) * p, level * p)

    def level_of(self, slot: int) -> int:
        """The level (1..K) a slot belongs to."""
        return slot // self.cfg.pool_size + 1

    @property
    def n_active(self) -> int:
        """Experts in use per block, over all levels."""
        return sum(self.used)

    def active_experts(self, level: int) -> int:
        """Experts in use per block at ``level``."""
        self._check_level(level)
        return self.used[level]

    def expand(self, level: int = 1) -> int:
        """Unmask the next expert of ``level`` in every block and make it the only trainable one.

        Args:
            level: 1..K.

        Returns:
            The expert's slot index.

        Raises:
            PoolExhausted: all ``pool_size`` experts of the level are in use (raise
                ``ExpertConfig.pool_size``, consolidate the level into the next one and ``reset`` it,
                or let the agent's ``on_pool_full`` policy decide).
        """
        self._check_level(level)
        if self.used[level] >= self.cfg.pool_size:
            raise PoolExhausted(
                f"expert pool of level {level} exhausted: all pool_size={self.cfg.pool_size} experts are in use; "
                f"raise ExpertConfig.pool_size, add a level (ExpertConfig.levels) or reset({level}) after consolidating it"
            )
        k = self.slots(level)[self.used[level]]
        for blk in self.blocks:
            blk.active[k] = True
        self.make_trainable(k)
        self.used[level] += 1
        return k

    @torch.no_grad()
    def reset(self, level: int) -> None:
        """Wipe ``level``'s experts: masked, frozen, ``B = 0`` and ``A`` re-initialised (§2.8)."""
        for k in self.slots(level):
            for blk in self.blocks:
                blk.active[k] = False
                blk.trainable[k] = False
                blk.B[k].zero_()
                blk.A[k].copy_(torch.randn(blk.A.shape[1:], generator=self._gen).to(blk.A.dtype) * blk.std)
        self.used[level] = 0

    def freeze_all(self) -> None:
        """Make every expert non-trainable (after a consolidation)."""
        for blk in self.blocks:
            blk.trainable.zero_()

    def make_trainable(self, k: int) -> None:
        """Make expert slot ``k`` (already active) the only trainable one."""
        for blk in self.blocks:
            blk.trainable.zero_()
            blk.trainable[k] = True

    # -- routing -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def masked(self, k: int | None):
        """Context manager: expert slot ``k`` masked for the enclosed forward passes (None = no change)."""
        if k is None:
            yield
            return
        old = [bool(blk.enabled[k]) for blk in self.blocks]
        for blk in self.blocks:
            blk.enabled[k] = False
        try:
            yield
        finally:
            for blk, a in zip(self.blocks, old):
                blk.enabled[k] = a

    @contextlib.contextmanager
    def levels_enabled(self, levels):
        """Context manager: only the experts of ``levels`` (an iterable of 1..K) take part."""
        keep = torch.zeros(self.cfg.slots, dtype=torch.bool)
        for lv in levels:
            keep[list(self.slots(lv))] = True
        old = [blk.enabled.clone() for blk in self.blocks]
        for blk in self.blocks:
            blk.enabled &= keep
        try:
            yield
        finally:
            for blk, e in zip(self.blocks, old):
                blk.enabled.copy_(e)

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

    # -- accounting --------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The A/B tensors (whole pools; only trainable experts receive non-zero gradient) and routers."""
        out = []
        for blk in self.blocks:
            out += [blk.A, blk.B] + ([blk.router] if blk.router is not None else [])
        return out

    def _per_expert(self) -> int:
        return self.blocks[0].A[0].numel() + self.blocks[0].B[0].numel()

    def active_parameters(self) -> int:
        """Number of expert parameters currently unmasked (all blocks, all levels)."""
        return self._per_expert() * self.n_active * len(self.blocks)

    def parameter_counts(self) -> ParameterCounts:
        """Total / active / trainable parameter counts (see :class:`ParameterCounts`)."""
        per = self._per_expert()
        pools = sum(blk.A.numel() + blk.B.numel() for blk in self.blocks)
        routers = sum(blk.router.numel() for blk in self.blocks if blk.router is not None)
        total = sum(p.numel() for p in self.model.parameters())
        base = total - pools - routers
        n_act = self.n_active
        used = min(n_act, self.cfg.top_k) if self.cfg.router == "topk" else n_act
        n_train = int(self.blocks[0].trainable.sum())
        trainable = per * n_train * len(self.blocks) + (routers if n_train else 0)
        return ParameterCounts(total=total, active=base + per * used * len(self.blocks) + routers,
                               trainable=trainable, experts_active=n_act)

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The memory's tensors (copies): per block ``A``, ``B``, ``active``, ``trainable`` (+ ``router``)."""
        sd = {"used": torch.tensor(self.used, dtype=torch.int64)}
        for i, blk in enumerate(self.blocks):
            sd[f"blocks.{i}.A"] = blk.A.detach().clone()
            sd[f"blocks.{i}.B"] = blk.B.detach().clone()
            sd[f"blocks.{i}.active"] = blk.active.clone()
            sd[f"blocks.{i}.trainable"] = blk.trainable.clone()
            if blk.router is not None:
                sd[f"blocks.{i}.router"] = blk.router.detach().clone()
        return sd

    @torch.no_grad()
    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        """Restore tensors from :meth:`state_dict` (same config); raises ValueError on a shape mismatch."""
        expected = set(self.state_dict())
        if set(sd) != expected:
            raise ValueError(f"expert state has keys {sorted(set(sd) ^ expected)[:4]} that this memory "
                             f"({len(self.blocks)} blocks, router={self.cfg.router!r}) does not match; build it with the same ExpertConfig")
        for i, blk in enumerate(self.blocks):
            for name in ("A", "B", "active", "trainable") + (("router",) if blk.router is not None else ()):
                dst, src = getattr(blk, name), sd[f"blocks.{i}.{name}"]
                if dst.shape != src.shape:
                    raise ValueError(f"blocks.{i}.{name} has shape {tuple(src.shape)}, expected {tuple(dst.shape)}; "
                                     "the saved memory was built with another ExpertConfig or model")
                dst.copy_(src)
        self.used = [int(x) for x in sd["used"].tolist()]

    def save(self, path: str | Path) -> None:
        """Write the memory to a safetensors file (config in the header metadata)."""
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path),
                  metadata={"expert_config": json.dumps(asdict(self.cfg)), "blocks": str(len(self.blocks))})

    def load(self, path: str | Path) -> None:
        """Load a memory written by :meth:`save`.

        Raises:
            ValueError: the file was written with another ``ExpertConfig`` or model (shapes differ).
        """
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        saved = json.loads(meta.get("expert_config", "{}"))
        if saved and saved != asdict(self.cfg):
            raise ValueError(f"expert file {str(path)!r} was saved with ExpertConfig {saved}, this memory has "
                             f"{asdict(self.cfg)}; build the memory with the saved config")
        self.load_state_dict(load_file(str(path)))
