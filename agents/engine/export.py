"""Export a model, expert banks included, as a plain Hugging Face checkpoint that vLLM serves exactly.

vLLM only knows standard architectures, so a model whose MLP blocks carry the memory substrate's
experts (``agents.memory.ExpertBlock``: ``y = mlp(x) + gate * scale * B_k^T silu(A_k^T x)``) cannot be
saved as is. For the Llama family (SmolLM2, Llama; ``hidden_act="silu"``) the experts fold *exactly*
into a wider MLP with biases (``mlp_bias=True``)::

    down(silu(gate(x)) * up(x))  with  gate rows += A_k^T,  up rows += 0 (bias 1),
                                       down columns += gate * scale * B_k^T

since ``silu(A_k^T x) * 1`` is the expert's hidden activation. Every pre-allocated expert of the pool
gets its columns (inactive ones are zero), so the exported width is ``intermediate_size + pool_size *
d_low`` whatever is active: the paper's expansion without shape changes, which lets
:meth:`VLLMEngine.load_weights` swap each consolidation's export in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["export_for_serving"]


def _expert_blocks(model) -> dict[int, object]:
    """{layer index: ExpertBlock} of a Llama-family model; {} when the model carries no experts.

    Raises:
        ValueError: experts sit in a model that is not a Llama with a SiLU MLP and no MLP bias.
    """
    from agents.memory.experts import ExpertBlock

    if not any(isinstance(m, ExpertBlock) for m in model.modules()):
        return {}
    cfg = model.config
    if cfg.model_type != "llama" or cfg.hidden_act != "silu" or cfg.mlp_bias:
        raise ValueError(
            f"model: experts fold exactly only into a Llama MLP with hidden_act='silu' and no MLP bias, got "
            f"model_type={cfg.model_type!r}; serve this model with TransformersEngine"
        )
    return {i: layer.mlp for i, layer in enumerate(model.model.layers) if isinstance(layer.mlp, ExpertBlock)}


@torch.no_grad()
def export_for_serving(model, tokenizer, path: str | os.PathLike) -> Path:
    """Save ``model`` (and ``tokenizer``) to ``path`` as a checkpoint any HF loader or vLLM serves.

    Args:
        model: A Hugging Face causal LM, plain or with ``agents.memory.ExpertMemory`` experts
            (served with experts on, i.e. with their current ``gate``).
        tokenizer: Its tokenizer (saved beside the weights).
        path: Output directory (created).

    Returns:
        ``Path(path)``. For a model with experts it holds a ``LlamaForCausalLM`` with
        ``intermediate_size + pool_size * d_low`` MLP units and ``mlp_bias=True`` whose outputs equal
        the wrapped model's (float error only).

    Raises:
        ValueError: the model has experts but is not a Llama-family model with a SiLU MLP.
    """
    path = Path(path)
    blocks = _expert_blocks(model)
    if not blocks:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        return path
    cfg = model.config
    any_block = next(iter(blocks.values()))
    pool, d_model, d_low = any_block.A.shape  # A: (pool, d_model, d_low)
    extra = pool * d_low
    width = cfg.intermediate_size + extra
    state = {}
    for name, tensor in model.state_dict().items():
        if ".mlp." in name and not name.endswith("_proj.weight"):
            continue  # expert tensors and buffers (A, B, active, trainable)
        state[name.replace(".mlp.mlp.", ".mlp.")] = tensor
    for i in range(len(model.model.layers)):
        pre = f"model.layers.{i}.mlp."
        dtype = state[pre + "gate_proj.weight"].dtype
        gate_rows = torch.zeros(extra, d_model)
        down_cols = torch.zeros(d_model, extra)
        blk = blocks.get(i)
        if blk is not None:
            for k in torch.nonzero(blk.active).flatten().tolist():
                sl = slice(k * d_low, (k + 1) * d_low)
                gate_rows[sl] = blk.A[k].float().T  # (d_low, d_model)
                down_cols[:, sl] = blk.gate * blk.scale * blk.B[k].float().T  # (d_model, d_low)
        up_bias = torch.cat([torch.zeros(cfg.intermediate_size), torch.ones(extra)])
        state[pre + "gate_proj.weight"] = torch.cat([state[pre + "gate_proj.weight"].float(), gate_rows]).to(dtype)
        state[pre + "up_proj.weight"] = torch.cat([state[pre + "up_proj.weight"].float(), torch.zeros(extra, d_model)]).to(dtype)
        state[pre + "down_proj.weight"] = torch.cat([state[pre + "down_proj.weight"].float(), down_cols], dim=1).to(dtype)
        state[pre + "gate_proj.bias"] = torch.zeros(width, dtype=dtype)
        state[pre + "up_proj.bias"] = up_bias.to(dtype)
        state[pre + "down_proj.bias"] = torch.zeros(d_model, dtype=dtype)
    new_cfg = type(cfg).from_dict({**cfg.to_dict(), "intermediate_size": width, "mlp_bias": True})
    plain = type(model)(new_cfg).to(next(model.parameters()).dtype)
    result = plain.load_state_dict(state, strict=False)
    unset = [k for k in result.missing_keys if not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    if unset or result.unexpected_keys:  # pragma: no cover - a bug in the mapping above
        raise AssertionError(f"export mapping is wrong: unset {unset[:3]}, unknown {result.unexpected_keys[:3]}")
    plain.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
