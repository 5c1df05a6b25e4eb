"""Loss identities and hand-computed right values (generalized JSD, group advantages, surrogate reductions, masks)."""

import math

import pytest
import torch

from agents.losses import generalized_jsd, group_advantages, imitation_reward, levenshtein, policy_gradient_loss, token_logprobs

T = torch.log(torch.tensor([[[0.9, 0.1]]]))
S = torch.log(torch.tensor([[[0.5, 0.5]]]))


@pytest.mark.parametrize("beta,expected", [(0.0, 0.368064), (1.0, 0.510826), (0.5, 0.101749)])
def test_generalized_jsd_right_values(beta, expected):
    assert generalized_jsd(S, T, beta=beta).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_identical_distributions_give_zero(beta):
    logits = torch.randn(2, 3, 7)
    assert generalized_jsd(logits, logits.clone(), beta=beta).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_temperature_applies_to_both(tau):
    logits = torch.randn(1, 4, 5)
    assert generalized_jsd(logits, logits.clone(), beta=0.0, temperature=tau).item() == pytest.approx(0.0, abs=1e-6)


def test_interior_beta_follows_paper_weights():
    assert generalized_jsd(S, T, beta=0.1).item() == pytest.approx(0.033603, abs=1e-5)
    assert generalized_jsd(S, T, beta=0.9).item() == pytest.approx(0.043074, abs=1e-5)


def test_near_endpoint_beta_warns():
    with pytest.warns(UserWarning, match="endpoint"):
        generalized_jsd(S, T, beta=0.999)


@pytest.mark.parametrize("beta", [-0.1, 1.5])
def test_beta_out_of_range_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        generalized_jsd(S, T, beta=beta)


def test_mask_excludes_tokens():
    s = torch.cat([S, torch.log(torch.tensor([[[0.9, 0.1]]]))], dim=1)
    t = torch.cat([T, T], dim=1)
    masked = generalized_jsd(s, t, beta=0.0, mask=torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx(0.368064, abs=1e-5)
    assert generalized_jsd(s, t, beta=0.0).item() == pytest.approx(0.368064 / 2, abs=1e-5)


def test_token_logprobs_values_and_shape_check():
    logits = torch.log(torch.tensor([[[0.25, 0.75], [0.5, 0.5]]]))
    lp = token_logprobs(logits, torch.tensor([[1, 0]]))
    assert lp.tolist()[0] == pytest.approx([math.log(0.75), math.log(0.5)], abs=1e-6)
    with pytest.raises(ValueError, match="align"):
        token_logprobs(logits, torch.tensor([[1, 0, 1]]))


# -- against TRL's own implementations (random tensors) -------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_generalized_jsd_matches_trl_gkd(beta):
    pytest.importorskip("trl")
    from trl.experimental.gkd import GKDTrainer

    g = torch.Generator().manual_seed(int(beta * 10))
    s, t = torch.randn(3, 5, 11, generator=g), torch.randn(3, 5, 11, generator=g)
    mask = torch.rand(3, 5, generator=g) > 0.3
    labels = torch.where(mask, torch.zeros(3, 5, dtype=torch.long), torch.full((3, 5), -100))
    ref = GKDTrainer.generalized_jsd_loss(s, t, labels=labels, beta=beta, temperature=0.7)
    ours = generalized_jsd(s, t, beta=beta, temperature=0.7, mask=mask)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-7)


def _trl_group_advantages(rewards: torch.Tensor, g: int) -> torch.Tensor:
    """TRL 1.16 GRPOTrainer._generate_and_score_completions, scale_rewards="group", single reward function."""
    from trl.trainer.utils import nanstd

    mean = torch.nanmean(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    std = nanstd(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    return torch.nan_to_num((rewards - mean) / (std + 1e-4), nan=0.0)


@pytest.mark.parametrize("g", [2, 4, 8])
def test_group_advantages_match_trl_grpo(g):
    pytest.importorskip("trl")
    gen = torch.Generator().manual_seed(g)
    rewards = torch.rand(6 * g, generator=gen)
    rewards[3] = float("nan")  # an unscored sample
    torch.testing.assert_close(group_advantages(rewards, g), _trl_group_advantages(rewards, g), rtol=1e-5, atol=1e-6)


# -- group advantages ------------------------------------------------------------------


def test_group_advantages_c9_values():
    adv = group_advantages(torch.tensor([[1.0, 0, 1, 0], [1, 1, 1, 1]]), 4)
    assert adv.tolist() == pytest.approx([0.865875, -0.865875, 0.865875, -0.865875, 0, 0, 0, 0], abs=1e-5)
    assert torch.isfinite(adv).all()
    swapped = group_advantages(torch.tensor([[1.0, 1, 1, 1], [1, 0, 1, 0]]), 4)
    assert swapped[4:].tolist() == pytest.approx(adv[:4].tolist())  # per-prompt, order-free
    nan = group_advantages(torch.tensor([1.0, float("nan"), 0, 1]), 4)
    assert nan.tolist() == pytest.approx([0.577250, 0.0, -1.154501, 0.577250], abs=1e-5)
    assert group_advantages(torch.full((8,), 0.35), 8).abs().max() < 1e-3
    assert group_advantages(torch.tensor([1.0, 0, 1, 0]), 4, scale=False).tolist() == [0.5, -0.5, 0.5, -0.5]


def test_group_advantages_bound_property():
    gen = torch.Generator().manual_seed(0)
    for g in (4, 8):
        adv = group_advantages(torch.rand(200 * g, generator=gen), g)
        assert adv.abs().max() <= (g - 1) / math.sqrt(g) + 1e-5


def test_group_advantages_rejects_bad_group_size():
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.zeros(6), 4)


# -- reduction of the policy-gradient surrogate ----------------------------------------


def _c10():
    lp = torch.zeros(2, 10)
    lp[0, :5], lp[1, 0] = 2.0, 10.0
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, :5], mask[1, 0] = True, True
    return -lp, mask  # -A * logprob with A = 1 gives the per-token values of C10


@pytest.mark.parametrize("reduction, expected", [("token-mean", 10 / 3), ("sequence-mean", 6.0), ("sum-max", 1.0)])
def test_policy_gradient_reductions_c10(reduction, expected):
    lp, mask = _c10()
    assert policy_gradient_loss(lp, torch.ones(2), mask, reduction=reduction).item() == pytest.approx(expected)


def test_policy_gradient_loss_is_zero_for_balanced_group_and_ignores_padding():
    lp = torch.randn(4, 6)
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 4 + [0] * 2, [1] + [0] * 5], dtype=torch.bool)
    adv = group_advantages(torch.tensor([1.0, 0, 1, 0]), 4)
    # ratio 1, sequence-mean, group-centred advantages: -mean(A * mean_t logp) is 0 only when logp is constant per row
    const = torch.ones(4, 6) * -0.7
    assert abs(policy_gradient_loss(const, adv, mask).item()) < 1e-6
    padded = torch.cat([lp, torch.randn(4, 5)], dim=1)
    pmask = torch.cat([mask, torch.zeros(4, 5, dtype=torch.bool)], dim=1)
    for red in ("token-mean", "sequence-mean"):
        assert policy_gradient_loss(padded, adv, pmask, reduction=red).item() == pytest.approx(
            policy_gradient_loss(lp, adv, mask, reduction=red).item(), abs=1e-6)
    # a masked (truncated) row leaves numerator and denominator alike (token-mean)
    three = policy_gradient_loss(lp[:3], adv[:3], torch.cat([mask[:2], torch.zeros(1, 6, dtype=torch.bool)]), reduction="token-mean")
    assert three.item() == pytest.approx(policy_gradient_loss(lp[:2], adv[:2], mask[:2], reduction="token-mean").item(), abs=1e-6)


# -- masks from lengths, never from token values ---------------------------------------


def test_c8_masks_and_padding_invariance():
    from agents.engine import build_batch

    ids, attn, cmask = build_batch([[7, 2, 8]], [[5, 6, 2]], pad_id=2)
    ids2, attn2, cmask2 = build_batch([[7, 2, 8], [7, 2, 8, 9, 9]], [[5, 6, 2], [5, 6, 2]], pad_id=2)
    assert attn2[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]  # the in-prompt 2 keeps attention 1
    assert cmask[0].tolist() == [False, False, False, True, True, True]  # the first EOS is a target
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(1, 3, 9, generator=g), torch.randn(1, 3, 9, generator=g)
    pad_s = torch.cat([s, torch.randn(1, 5, 9, generator=g)], 1)
    pad_t = torch.cat([t, torch.randn(1, 5, 9, generator=g)], 1)
    mask = torch.tensor([[True] * 3 + [False] * 5])
    assert abs(generalized_jsd(pad_s, pad_t, beta=0.5, mask=mask).item() - generalized_jsd(s, t, beta=0.5).item()) < 1e-6


# -- imitation reward (Eq. 3-4) -------------------------------------------------------


@pytest.mark.parametrize(
    "pred, ref, expected",
    [("kitten", "sitting", 0.571429), ("", "abc", 0.0), ("", "", 1.0), ("abcdefgh", "abc", 0.375), ("4", "14", 0.5),
     ("cafe\u0301", "café", 1.0)],
)
def test_imitation_reward_edit_part_c17(pred, ref, expected):
    assert imitation_reward(pred, ref, gamma=0.0, z0=None) == pytest.approx(expected, abs=1e-6)


def test_imitation_reward_threshold_is_inclusive_and_token_level():
    assert imitation_reward([1, 2, 3, 4], [1, 2, 9, 9], gamma=0.0, z0=2) == pytest.approx(0.5)  # lev == z0 counts
    assert imitation_reward([1, 2, 3, 4], [1, 9, 9, 9], gamma=0.0, z0=2) == 0.0  # lev 3 > z0
    assert imitation_reward([1, 2], [1, 2], gamma=1.0, z0=0) == 1.0  # exact-match fallback for r_sem
    assert imitation_reward([1, 2], [1, 3], gamma=1.0, z0=5) == 0.0
    assert imitation_reward([1, 2], [1, 3], gamma=0.5, z0=5, semantic=True) == pytest.approx(0.5 + 0.25)
    with pytest.raises(ValueError, match="gamma"):
        imitation_reward([1], [1], gamma=1.5, z0=1)
    with pytest.raises(ValueError, match="z0"):
        imitation_reward([1], [1], gamma=0.5, z0=-1)


def test_imitation_reward_properties():
    import random

    rnd = random.Random(0)
    for _ in range(300):
        a = [rnd.randrange(4) for _ in range(rnd.randrange(6))]
        b = [rnd.randrange(4) for _ in range(rnd.randrange(6))]
        r = imitation_reward(a, b, gamma=0.0, z0=None)
        assert 0.0 <= r <= 1.0 and r == imitation_reward(b, a, gamma=0.0, z0=None)
        assert (r == 1.0) == (a == b)
    assert levenshtein("kitten", "sitting") == 3
