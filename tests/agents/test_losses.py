"""Loss identities and the right values of CASES C6."""

import math

import pytest
import torch

from agents.losses import generalized_jsd, token_logprobs

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
