"""Continuum memory levels on tiny GPT-2 / Llama / Qwen2 models: expansion, reset, routing, accounting, I/O.

Mechanics only (random tiny models, CPU, seconds). Frozen experts stay bit-identical,
adding an expert changes no other expert's flags, expansion keeps eval mode.
"""

from __future__ import annotations

import pytest
import torch

from agents.memory import ExpertConfig, ExpertMemory, PoolExhausted



def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64)).eval()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2)).eval()


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2)).eval()


ARCHS = {"gpt2": _gpt2, "llama": _llama, "qwen2": _qwen2}
IDS = torch.tensor([[3, 4, 5, 6, 7]])


def _logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def _fill(mem: ExpertMemory, slot: int) -> None:
    """Pretend expert ``slot`` was trained (non-zero B)."""
    g = torch.Generator().manual_seed(slot)
    with torch.no_grad():
        for blk in mem.blocks:
            blk.B[slot].copy_(torch.randn(blk.B.shape[1:], generator=g) * 0.5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_levels_expand_reset_and_accounting(arch: str) -> None:
    torch.manual_seed(0)
    model = ARCHS[arch]()
    base = _logits(model)
    mem = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=2, levels=2))
    per_expert = 2 * 32 * 4 * len(mem.blocks)
    counts = [mem.parameter_counts()]
    assert len(mem.blocks) == 2 and counts[0].experts_active == 0 and counts[0].trainable == 0
    k1 = mem.expand(1)
    torch.testing.assert_close(_logits(model), base)  # B = 0: a fresh expert changes nothing
    _fill(mem, k1)
    mem.freeze_all()
    k2 = mem.expand(2)
    _fill(mem, k2)
    assert (k1, k2) == (0, 2)  # slot = (level - 1) * pool_size + i
    counts.append(mem.parameter_counts())
    assert counts[1].active - counts[0].active == 2 * per_expert  # exactly one expert per expansion
    assert counts[1].total == counts[0].total  # pre-allocated: nothing is added
    assert counts[1].trainable == per_expert  # only the newest expert trains
    assert not torch.allclose(_logits(model), base)
    with mem.levels_enabled([2]):
        only2 = _logits(model)
    mem.reset(1)
    assert mem.active_experts(1) == 0 and mem.active_experts(2) == 1
    assert all(not blk.active[list(mem.slots(1))].any() for blk in mem.blocks)
    assert all(blk.B[list(mem.slots(1))].abs().sum() == 0 for blk in mem.blocks)
    assert mem.parameter_counts().active == counts[0].active + per_expert
    torch.testing.assert_close(_logits(model), only2)  # reset level 1 == level 1 switched off
    with mem.routed(False):
        torch.testing.assert_close(_logits(model), base)


def test_unsupported_architecture_names_the_module() -> None:
    from transformers import OPTConfig, OPTForCausalLM

    model = OPTForCausalLM(OPTConfig(vocab_size=64, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                                     num_attention_heads=2, word_embed_proj_dim=16))
    with pytest.raises(ValueError, match=r"OPTForCausalLM.*'mlp'"):
        ExpertMemory(model, ExpertConfig(d_low=2))


def test_pool_exhausted_is_a_clear_error_and_overwrites_nothing() -> None:
    mem = ExpertMemory(_llama(), ExpertConfig(d_low=2, pool_size=1, levels=2))
    k = mem.expand(1)
    _fill(mem, k)
    before = mem.state_dict()
    with pytest.raises(PoolExhausted, match=r"level 1 .*pool_size=1"):
        mem.expand(1)
    after = mem.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert mem.expand(2) == 1  # other levels still have room
    with pytest.raises(ValueError, match="level must be in 1..2"):
        mem.expand(3)


def test_frozen_expert_is_bit_identical_after_a_step_and_flags_are_independent() -> None:
    """Frozen experts stay bit-identical, with E0 (older level-1 expert), E1 (new), E2 (added later)."""
    model = _llama()
    mem = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=3))
    e0 = mem.expand(1)
    _fill(mem, e0)
    mem.freeze_all()
    e1 = mem.expand(1)
    snap = {n: t.clone() for n, t in mem.state_dict().items()}
    opt = torch.optim.Adam(mem.trainable_parameters(), lr=1e-2)
    model(input_ids=IDS).logits.square().mean().backward()
    opt.step()
    for i, blk in enumerate(mem.blocks):
        assert torch.equal(blk.A[e0], snap[f"blocks.{i}.A"][e0]) and torch.equal(blk.B[e0], snap[f"blocks.{i}.B"][e0])
        assert not torch.equal(blk.B[e1], snap[f"blocks.{i}.B"][e1])
    assert all(p.grad is None for n, p in model.named_parameters() if not n.endswith((".A", ".B")))
    model.eval()
    mem.freeze_all()
    mem.expand(1)  # E2
    assert [bool(x) for x in mem.blocks[0].active] == [True, True, True]
    assert [bool(x) for x in mem.blocks[0].trainable] == [False, False, True]
    assert not any(m.training for m in model.modules())  # expansion keeps eval mode


def test_masked_expert_gets_no_gradient() -> None:
    model = _qwen2()
    mem = ExpertMemory(model, ExpertConfig(d_low=2, pool_size=2))
    k = mem.expand(1)
    with mem.masked(k):
        assert not model(input_ids=IDS).logits.requires_grad  # no path from the output to any expert
    model(input_ids=IDS).logits.sum().backward()  # unmasked again: the expert is reached
    assert all(blk.A.grad[k].abs().sum() > 0 or blk.B.grad[k].abs().sum() > 0 for blk in mem.blocks)


def test_topk_router_is_learned_and_selects_per_token() -> None:
    model = _llama()
    base = _logits(model)
    mem = ExpertMemory(model, ExpertConfig(d_low=2, pool_size=3, router="topk", top_k=1))
    for _ in range(2):
        _fill(mem, mem.expand(1))
    mem.make_trainable(1)
    with torch.no_grad():
        for blk in mem.blocks:
            blk.router.normal_()
    out = _logits(model)
    assert not torch.allclose(out, base)
    model(input_ids=IDS).logits.square().mean().backward()
    assert all(blk.router.grad is not None and blk.router.grad.abs().sum() > 0 for blk in mem.blocks)
    c = mem.parameter_counts()
    per_block = 2 * 32 * 2
    assert c.experts_active == 2
    assert c.active == c.total - 3 * per_block * len(mem.blocks) + 1 * per_block * len(mem.blocks)  # top-1 of 2


def test_save_load_roundtrip_and_config_mismatch(tmp_path) -> None:
    torch.manual_seed(0)
    m1 = _gpt2()
    mem = ExpertMemory(m1, ExpertConfig(d_low=4, pool_size=2, levels=2), seed=1)
    _fill(mem, mem.expand(1))
    _fill(mem, mem.expand(2))
    path = tmp_path / "experts.safetensors"
    mem.save(path)
    torch.manual_seed(0)
    m2 = _gpt2()  # the same base weights
    fresh = ExpertMemory(m2, ExpertConfig(d_low=4, pool_size=2, levels=2), seed=2)
    fresh.load(path)
    torch.testing.assert_close(_logits(m2), _logits(m1))
    assert fresh.used == mem.used and fresh.parameter_counts() == mem.parameter_counts()
    other = ExpertMemory(_gpt2(), ExpertConfig(d_low=2, pool_size=2, levels=2))
    with pytest.raises(ValueError, match="ExpertConfig"):
        other.load(path)
