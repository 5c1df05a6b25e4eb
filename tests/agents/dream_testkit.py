"""Shared inputs and helpers of the Dreaming tests (test_dreaming.py, test_dream_apply.py, test_dream_agents.py)."""

from __future__ import annotations

import pytest
import torch

from agents.dreaming import Dream, Dreaming, DreamingConfig, expert_target
from agents.memory.experts import ExpertConfig, ExpertMemory

Q = "Question: Where does Ann live?\nAnswer: Ann lives in"
MEMORIES = ("Ann lives in Rome.", "Bob lives in Oslo.")
QUERIES = ((Q, "Rome"),)


def _parseable(monkeypatch):
    """The tiny random model never writes a parseable dream: every dream reads as one statement row."""
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Recall what you know.\nAnswer:", "Ann lives in Rome.")])


@pytest.fixture
def setup(engine):
    """Engine + a memory with one active, trainable-on-demand expert (B = 0) + its DreamTarget."""
    mem = ExpertMemory(engine.model, ExpertConfig(d_low=8, pool_size=2))
    slot = mem.expand(1)
    mem.freeze_all()
    return engine, mem, slot, expert_target(mem, slot)


def _dreaming(engine, **kw) -> Dreaming:
    return Dreaming(engine, DreamingConfig(**{"dream_tokens": 24, "dreams": 3, **kw}))


def _dream(d: Dreaming, pairs) -> Dream:
    return Dream(prompt="p", text="", token_ids=(), rows=[(d.fmt.render(q), a) for q, a in pairs])


def _state(model, d: Dreaming | None = None) -> dict[str, torch.Tensor]:
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if d is not None:
        sd.update({f"gen{i}": p.detach().clone() for i, p in enumerate(d.generator.parameters())})
    return sd


def _identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


ALIGNED = [(Q, "Rome")]
CONFLICT = [(Q, "Oslo and Bergen")]
UNRELATED = [("Question: What colour is the sky?\nAnswer:", "xq 7 7 7")]
