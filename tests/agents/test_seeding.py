"""Knowledge Seeding on the random tiny model: multi-level consolidation, LTI, transactional commit, ablations.

Mechanics only: the tiny model cannot learn facts in a few steps, so these tests assert structure
(which experts exist, which weights changed, what the report says), never accuracy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents import ExpertConfig, SleepAgent, SleepAgentConfig, TransformersEngine
from agents.memory import PoolExhausted
from agents.models import tiny_model, tiny_tokenizer
from agents.replay import ReplayConfig
from agents.seeding import SeedingConfig
from sleep_env import EnvConfig, ExperienceConfig, MultiLevel, SleepEnv, SleepWindow, StreamConfig, run_lifetime

Q1 = "Question: Where does Ann Berg live?\nAnswer: Ann Berg lives in"
Q2 = "Question: What does Bob Stone do for a living?\nAnswer: Bob Stone works as"
Q3 = "Question: Where does Carl Dunn live?\nAnswer: Carl Dunn lives in"


def _window(level: int, prompts=(Q1, Q2), memories=("Ann Berg lives in Rome.", "Bob Stone works as a chef.")) -> SleepWindow:
    return SleepWindow(level=level, memories=memories, queries=tuple((p, None) for p in prompts),
                       step_budget=4, model_version=0, experience=0)


CFG = SleepAgentConfig(steps=2, batch_size=3, replay_per_batch=1, lr=1e-2, min_retention=0.0,
                       replay=ReplayConfig(sources=("queries",), support="none"),
                       experts=ExpertConfig(d_low=4, pool_size=2, levels=2))



def _agent(cfg: SleepAgentConfig = CFG) -> SleepAgent:
    return SleepAgent(TransformersEngine(tiny_model(), tiny_tokenizer(), batch_size=8), cfg)


def test_multi_level_sleep_consolidates_fast_to_slow_and_resets_the_faster_level() -> None:
    agent = _agent()
    per = agent.parameter_counts()
    r1 = agent.sleep(_window(1))
    assert r1.committed and r1.metrics["consolidations"] == 1
    assert (agent.memory.active_experts(1), agent.memory.active_experts(2)) == (1, 0)
    assert agent.prompts[1] == [Q1, Q2]
    one = agent.parameter_counts()
    assert one["active"] - per["active"] == per["trainable"]  # exactly one expert per consolidation
    r2 = agent.sleep(_window(2, prompts=(Q3,), memories=("Carl Dunn lives in Oslo.",)))
    assert r2.committed and r2.metrics["consolidations"] == 2 and r2.metrics["l2_level"] == 2.0
    # 0 -> 1 added a level-1 expert, 1 -> 2 moved level 1 into a new level-2 expert and reset level 1
    assert (agent.memory.active_experts(1), agent.memory.active_experts(2)) == (0, 1)
    assert agent.prompts[1] == [] and agent.prompts[2] == [Q1, Q2, Q3]
    assert agent.parameter_counts()["active"] == one["active"]  # the reset level has zero active experts
    for blk in agent.memory.blocks:
        assert not blk.active[list(agent.memory.slots(1))].any()


def test_sleep_level_from_the_env_multi_level_schedule() -> None:
    exp = ExperienceConfig(task="facts", n_study=2, n_query=2)
    env = SleepEnv(EnvConfig(stream=StreamConfig(experiences=(exp,) * 4), schedule=MultiLevel(periods=(4, 8))))
    agent = _agent()
    rec = run_lifetime(env, agent, seed=0)
    levels = [r.metrics["consolidations"] for r in rec.sleep_reports]
    assert levels == [1.0, 2.0, 1.0, 2.0]
    assert (agent.memory.active_experts(1), agent.memory.active_experts(2)) == (0, 2)


def test_failed_check_rolls_back_to_the_pre_sleep_memory() -> None:
    agent = _agent(dataclasses.replace(CFG, min_new_agreement=1.0))  # a random model never agrees on everything
    before = agent.memory.state_dict()
    report = agent.sleep(_window(1))
    assert report.committed is False and report.metrics["committed"] == 0.0
    after = agent.memory.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert agent.prompts[1] == []  # nothing was consolidated


def test_non_finite_training_rolls_back(monkeypatch) -> None:
    agent = _agent()
    distill = agent.seeding._distill_loss
    monkeypatch.setattr(agent.seeding, "_distill_loss", lambda batch, levels: distill(batch, levels) * float("nan"))
    before = agent.memory.state_dict()
    report = agent.sleep(_window(1))
    assert report.committed is False
    assert all(torch.equal(before[k], agent.memory.state_dict()[k]) for k in before)


def test_learning_to_imitate_runs_and_reports_rewards() -> None:
    agent = _agent(dataclasses.replace(CFG, alpha=0.5, group_size=2, lti_prompts=2, z0=50))
    before = agent.memory.state_dict()
    report = agent.sleep(_window(1))
    assert 0.0 <= report.metrics["lti_reward_mean"] <= 1.0
    assert np.isfinite(report.metrics["loss_last"])
    assert not torch.equal(before["blocks.0.B"], agent.memory.state_dict()["blocks.0.B"])


def test_no_expansion_ablation_keeps_one_expert() -> None:
    agent = _agent(dataclasses.replace(CFG, expand=False))
    agent.sleep(_window(1))
    r = agent.sleep(_window(1, prompts=(Q3,)))
    assert agent.memory.active_experts(1) == 1 and r.metrics["expanded"] == 0.0


def test_pool_full_policies() -> None:
    strict = _agent(dataclasses.replace(CFG, on_pool_full="error", experts=ExpertConfig(d_low=2, pool_size=1)))
    strict.sleep(_window(1))
    with pytest.raises(PoolExhausted, match="pool_size=1"):
        strict.sleep(_window(1, prompts=(Q3,)))
    lenient = _agent(dataclasses.replace(CFG, experts=ExpertConfig(d_low=2, pool_size=1)))
    lenient.sleep(_window(1))
    with pytest.warns(RuntimeWarning, match="extend_newest"):
        r = lenient.sleep(_window(1, prompts=(Q3,)))
    assert r.metrics["expert"] == 0.0 and lenient.memory.active_experts(1) == 1


def test_state_dict_roundtrip_with_levels() -> None:
    a = _agent()
    a.sleep(_window(1))
    b = _agent()
    b.load_state_dict(a.state_dict())
    assert b.prompts == a.prompts and b.memory.used == a.memory.used
    text = a.format.render(Q1, "")
    ids = torch.tensor(a.engine.encode([text]))
    with torch.no_grad():
        torch.testing.assert_close(b.engine.model(input_ids=ids).logits, a.engine.model(input_ids=ids).logits)
    with pytest.raises(ValueError, match="levels"):
        _agent(dataclasses.replace(CFG, experts=ExpertConfig(d_low=4, pool_size=2, levels=1))).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    "kwargs, field",
    [({"alpha": 1.5}, "alpha"), ({"gamma": -0.1}, "gamma"), ({"z0": -1}, "z0"), ({"group_size": 1}, "group_size"),
     ({"prefix_min": 0.6, "prefix_max": 0.5}, "prefix_min"), ({"judge": "gpt"}, "judge"),
     ({"on_pool_full": "overwrite"}, "on_pool_full"), ({"holdout_fraction": 1.0}, "holdout_fraction"),
     ({"lr": float("nan")}, "lr")],
)
def test_seeding_config_errors_name_the_field(kwargs, field) -> None:
    with pytest.raises(ValueError, match=field):
        SeedingConfig(**kwargs)


def test_agreement_compares_the_answer_tokens_not_a_final_eos() -> None:
    from agents.engine import SamplingParams
    from agents.seeding import Example

    agent = _agent()
    eng, eos = agent.engine, agent.engine.eos_id
    prompt = eng.encode([agent.format.render(Q1)])[0]
    with agent.memory.routed(False):
        greedy = list(eng.generate_ids([prompt], SamplingParams(temperature=0.0, max_new_tokens=4))[0].token_ids)
    greedy = [t for t in greedy if t != eos][:3]
    assert len(greedy) == 3
    # the model's own greedy answer cut at a "stop string": the model predicts a 4th token there, not EOS
    own = Example(prompt, prompt, greedy + [eos], None)
    wrong = Example(prompt, prompt, [greedy[0], (greedy[1] + 1) % 50, greedy[2], eos], None)
    agree, finite = agent.seeding.agreement([own, wrong], None)
    assert finite and agree == 0.5  # an exact match including EOS would give 0.0
