"""SEALAgent and SleepAgent with Dreaming on the tiny preset (agents/seal.py, agents/sleep_agent.py)."""

from __future__ import annotations

import pytest

from agents.dreaming import DreamingConfig
from agents.memory.experts import ExpertConfig
from agents.replay import ReplayConfig
from agents.seal import SEALAgent
from sleep_env.types import SleepReport, SleepWindow
from tests.agents.dream_testkit import MEMORIES, QUERIES, Q, _parseable


def test_seal_agent_sleeps_and_answers(tiny):
    from agents.engine import TransformersEngine

    model, tok = tiny
    agent = SEALAgent(TransformersEngine(model, tok, batch_size=4),
                      DreamingConfig(dreams=2, top_k=1, random_extra=0, rounds=1, dream_tokens=16, template="implications"),
                      experts=ExpertConfig(d_low=8, pool_size=1))
    window = SleepWindow(level=1, memories=MEMORIES, queries=QUERIES, step_budget=10, model_version=0, experience=0)
    report = agent.sleep(window)
    assert isinstance(report, SleepReport) and report.metrics["dream_sampled"] == 2.0
    cfg = agent.dreaming.config  # SEAL had no random expert, no gradient selection, no KL anchor: forced off
    assert (cfg.random_expert, cfg.gradient_selection, cfg.apply_anchor) == (False, False, 0.0)
    assert agent.engine.model_version == 1 and agent.sleeps == 1
    assert len(agent.answer([Q, Q], ["Ann lives in Rome.", ""])) == 2
    assert agent.act({"kind": 1, "prompt": Q, "context": "", "may_sleep": 1})["sleep"] == 1
    state = agent.state_dict()
    agent.load_state_dict(state)
    with pytest.raises(ValueError, match="SEALAgent"):
        agent.load_state_dict({"kind": "sleep"})
    # its Dreaming gets a teacher that reads the memories (used by answers: teacher)
    from agents.dreaming import DreamReport

    seen = []

    def run(memories, queries, target, *, teacher=None):
        seen.append(teacher)
        return DreamReport()

    agent.dreaming.run = run
    agent.sleep(window)
    assert seen[0]([Q, "Question: What colour is the sky?\nAnswer:"])[1] == ""  # no memory line about the sky


def test_sleep_agent_dreams_after_consolidation(tiny, monkeypatch):
    _parseable(monkeypatch)
    from agents import SleepAgent, SleepAgentConfig
    from agents.engine import TransformersEngine

    model, tok = tiny
    cfg = SleepAgentConfig(steps=2, batch_size=4, replay_per_batch=1, experts=ExpertConfig(d_low=8, pool_size=2),
                          replay=ReplayConfig(support="none"), min_retention=0.0)  # every consolidation commits
    dreaming = DreamingConfig(dreams=2, top_k=1, random_extra=0, rounds=1, dream_tokens=16, template="implications")
    agent = SleepAgent(TransformersEngine(model, tok, batch_size=4), cfg, dreaming=dreaming)
    window = SleepWindow(level=1, memories=MEMORIES, queries=QUERIES, step_budget=10, model_version=0, experience=0)
    report = agent.sleep(window)
    m = report.metrics
    assert m["dream_sampled"] == 2.0 and m["dream_trialed"] == 1.0 and agent.sleeps == 1
    assert 0 < m["seconds_consolidation"] and 0 < m["seconds_dreaming"]
    assert m["seconds_consolidation"] + m["seconds_dreaming"] <= report.seconds
    assert not bool(agent.memory.blocks[0].trainable.any())  # frozen again after dreaming
    older = []
    real_run = agent.dreaming.run
    monkeypatch.setattr(agent.dreaming, "run", lambda *a, **k: older.append(list(k["older"])) or real_run(*a, **k))
    q2 = "Question: Where does Bob live?\nAnswer: Bob lives in"
    agent.sleep(SleepWindow(level=1, memories=MEMORIES, queries=((q2, "Oslo"), (Q, "Rome")), step_budget=10, model_version=1, experience=1))
    assert older == [[]]  # the day's own questions are not "older"
    assert agent.answers == {Q: "Rome", q2: "Oslo"}  # feedback answers of the consolidated questions
    agent.prompts[1] = [Q, "Question: an older one?\nAnswer:"]
    agent.sleep(SleepWindow(level=1, memories=MEMORIES, queries=((q2, "Oslo"),), step_budget=10, model_version=2, experience=2))
    assert older[-1] == [(Q, "Rome")]  # earlier sleeps' answered questions are guarded (the unanswered one is not)
    state = agent.state_dict()
    assert "dreaming" in state and state["answers"] == agent.answers
    agent.answers = {}
    agent.load_state_dict(state)
    assert agent.answers == state["answers"]
    from agents.models import tiny_model, tiny_tokenizer

    plain = SleepAgent(TransformersEngine(tiny_model(seed=0), tiny_tokenizer(), batch_size=4), cfg)
    assert plain.dreaming is None and "dreaming" not in plain.state_dict()
    assert not any(k.startswith("dream_") for k in plain.sleep(window).metrics)


def test_sleep_agent_context_teacher_reads_the_memories_and_refuses_to_guess(tiny, monkeypatch):
    from agents import SleepAgent, SleepAgentConfig
    from agents.engine import TransformersEngine

    model, tok = tiny
    agent = SleepAgent(TransformersEngine(model, tok, batch_size=4), SleepAgentConfig(experts=ExpertConfig(d_low=8, pool_size=2), replay=ReplayConfig(support="none")))
    seen = []

    def answer(prompts, contexts, *, router=None):
        seen.append((tuple(contexts), router))
        return [f"a{i}" for i in range(len(prompts))]

    monkeypatch.setattr(agent, "answer", answer)
    teach = agent.context_teacher(MEMORIES)
    assert teach([Q, "Question: What colour is the sky?\nAnswer:"]) == ["a0", ""]  # no memory line about the sky
    assert seen == [(("Ann lives in Rome.\nBob lives in Oslo.",) * 2, "never")]  # the experts stay off
