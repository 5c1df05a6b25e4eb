"""Masked low-rank expert pools: expansion keeps shapes and outputs, masks stop gradients, routing."""

import pytest
import torch

from agents.memory.experts import ExpertConfig, ExpertMemory


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_expand_keeps_shapes_and_initial_output(tiny):
    model, _ = tiny
    ids = torch.tensor([[5, 6, 7, 8]])
    before = _logits(model, ids)
    mem = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=3))
    shapes = [p.shape for p in mem.trainable_parameters()]
    assert mem.expand() == 0
    assert [p.shape for p in mem.trainable_parameters()] == shapes  # no tensor shape changes
    torch.testing.assert_close(_logits(model, ids), before)  # B starts at zero
    assert mem.active_parameters() == 2 * (64 * 4) * len(mem.blocks)


def test_only_the_new_expert_gets_gradient_and_base_is_frozen(tiny):
    model, _ = tiny
    mem = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=3))
    mem.expand()
    for blk in mem.blocks:
        blk.B.data[0].normal_()  # pretend expert 0 was trained
    mem.freeze_all()
    k = mem.expand()
    model(input_ids=torch.tensor([[1, 2, 3]])).logits.sum().backward()
    for blk in mem.blocks:
        assert blk.A.grad[k].abs().sum() > 0 or blk.B.grad[k].abs().sum() > 0
        assert blk.A.grad[0].abs().sum() == 0 and blk.B.grad[0].abs().sum() == 0  # frozen expert
        assert blk.A.grad[2].abs().sum() == 0 and blk.B.grad[2].abs().sum() == 0  # masked expert
    assert all(not p.requires_grad for n, p in model.named_parameters() if not n.endswith((".A", ".B")))


def test_router_off_restores_base_output(tiny):
    model, _ = tiny
    ids = torch.tensor([[9, 10, 11]])
    before = _logits(model, ids)
    mem = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=2))
    mem.expand()
    for blk in mem.blocks:
        blk.B.data.normal_()
    assert not torch.allclose(_logits(model, ids), before)
    with mem.routed(False):
        torch.testing.assert_close(_logits(model, ids), before)
    with mem.masked(0):
        torch.testing.assert_close(_logits(model, ids), before)
    assert not torch.allclose(_logits(model, ids), before)  # restored after the context


def test_pool_exhaustion_raises_clear_error(tiny):
    model, _ = tiny
    mem = ExpertMemory(model, ExpertConfig(d_low=2, pool_size=1))
    mem.expand()
    with pytest.raises(RuntimeError, match="pool_size"):
        mem.expand()


def test_config_validation():
    with pytest.raises(ValueError, match="d_low"):
        ExpertConfig(d_low=0)


def test_first_layer_leaves_lower_blocks_without_experts():
    from agents.models import tiny_model

    all_blocks = ExpertMemory(tiny_model(n_layer=3), ExpertConfig(d_low=2))
    upper = ExpertMemory(tiny_model(n_layer=3), ExpertConfig(d_low=2, first_layer=1))
    assert (len(all_blocks.blocks), len(upper.blocks)) == (3, 2)
    with pytest.raises(ValueError, match="first_layer"):
        ExpertMemory(tiny_model(n_layer=3), ExpertConfig(d_low=2, first_layer=3))
