"""SFTSleepAgent, ReplaySFTAgent and SDFTSleepAgent on the random tiny model: what each sleep trains (mechanics only)."""

from __future__ import annotations

import pytest
import torch

from agents import ExpertConfig, ReplaySFTAgent, SDFTSleepAgent, SFTSleepAgent, SleepAgent, SleepAgentConfig, TransformersEngine
from agents.models import tiny_model, tiny_tokenizer
from agents.replay import ReplayConfig
from sleep_env import SleepWindow

Q1 = "Question: Where does Ann Berg live?\nAnswer: Ann Berg lives in"
Q2 = "Question: What does Bob Stone do for a living?\nAnswer: Bob Stone works as"
WINDOW = SleepWindow(level=1, memories=("Ann Berg lives in Rome.", "Bob Stone works as a chef."),
                     queries=((Q1, "Rome"), (Q2, "chef")), step_budget=3, model_version=0, experience=0)
CFG = SleepAgentConfig(steps=3, batch_size=2, replay_per_batch=1, experts=ExpertConfig(d_low=4, pool_size=3),
                       replay=ReplayConfig(support="none"))


def _base(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.endswith((".A", ".B", ".active", ".trainable"))}


def test_sft_agent_trains_one_expert_forever_without_expansion() -> None:
    agent = SFTSleepAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), CFG)
    base = _base(agent.engine.model)
    r1 = agent.sleep(WINDOW)
    b1 = agent.memory.blocks[0].B[0].clone()
    assert r1.steps == 3 and r1.metrics["examples"] == 4.0  # 2 memory lines + 2 answered questions
    assert r1.metrics["loss_last"] < r1.metrics["loss_first"]  # cross-entropy on 4 rows goes down
    agent.sleep(WINDOW)
    assert agent.memory.active_experts(1) == 1  # no expansion
    assert not torch.equal(agent.memory.blocks[0].B[0], b1)  # the same expert keeps training
    assert all(torch.equal(v, agent.engine.model.state_dict()[k]) for k, v in base.items())
    assert agent.engine.model_version == 2 and agent.sleeps == 2


def test_replay_sft_agent_trains_on_the_sleep_agents_replay_rows_with_cross_entropy() -> None:
    agent = ReplaySFTAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), CFG)
    rows = agent.rows(WINDOW)
    # the same prompts a SleepAgent writes: 2 questions + 3 + 4 cloze prefixes, each a teacher answer + EOS
    twin = SleepAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), CFG)
    want = twin.engine.encode([twin.format.render(r.prompt) for r in twin.replay_prompts(WINDOW)])
    assert [p for p, _ in rows] == want and all(t[-1] == agent.engine.eos_id for _, t in rows)
    base = _base(agent.engine.model)
    r = agent.sleep(WINDOW)
    assert r.steps == 3 and r.metrics["examples"] == 9.0 and agent.memory.active_experts(1) == 1
    agent.sleep(WINDOW)
    assert agent.memory.active_experts(1) == 1  # no expansion
    assert all(torch.equal(v, agent.engine.model.state_dict()[k]) for k, v in base.items())


def test_sdft_agent_uses_trl_trainer_with_a_context_reading_teacher() -> None:
    pytest.importorskip("trl")
    agent = SDFTSleepAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), CFG)
    base = _base(agent.engine.model)
    r = agent.sleep(WINDOW)
    # the SleepAgent's replay prompts: 2 questions + 3 + 4 cloze prefixes of the two memory lines
    assert r.steps == 3 and r.metrics["examples"] == 9.0 and r.metrics["expert"] == 0.0
    assert agent.memory.blocks[0].B[0].abs().sum() > 0  # the expert was trained by SDFTTrainer
    agent.sleep(WINDOW)
    assert agent.memory.active_experts(1) == 2  # a new expert per sleep (the paper's "OPSD + Expansion")
    assert all(torch.equal(v, agent.engine.model.state_dict()[k]) for k, v in base.items())
    assert agent.engine.tokenizer.padding_side == "left"


def test_sdft_teacher_is_the_base_model_with_experts_off() -> None:
    pytest.importorskip("trl")
    from agents.baselines import _base_teacher_trainer
    from agents.memory.experts import ExpertBlock

    class Fake:
        def __init__(self, model):
            self.model = model

    cls = _base_teacher_trainer(type("T", (), {}))
    agent = SDFTSleepAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), CFG)
    agent.memory.expand(1)
    trainer = cls.__new__(cls)
    Fake.__init__(trainer, agent.engine.model)
    trainer._setup_teacher_model()
    blocks = [m for m in trainer.teacher_model.modules() if isinstance(m, ExpertBlock)]
    assert blocks and all(b.gate == 0.0 for b in blocks)
    assert all(b.gate == 1.0 for b in agent.memory.blocks)  # the student keeps its experts on
    assert not any(p.requires_grad for p in trainer.teacher_model.parameters())


def test_replay_sft_agent_warns_when_the_support_check_keeps_no_row() -> None:
    import dataclasses

    agent = ReplaySFTAgent(TransformersEngine(tiny_model(), tiny_tokenizer()), dataclasses.replace(CFG, replay=ReplayConfig()))
    with pytest.warns(RuntimeWarning, match=r"consolidates nothing.*sleep: \{support: none\}"):
        r = agent.sleep(WINDOW)
    assert r.metrics["examples"] == 0.0 and r.metrics["replay_dropped"] == r.metrics["replay_rows"] == 9.0
