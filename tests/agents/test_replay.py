"""Replay written from the short-term memory: units, cloze prompts, support check, and the sleep that uses them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents import ExpertConfig, SleepAgent, SleepAgentConfig, TransformersEngine
from agents.models import tiny_model, tiny_tokenizer
from agents.replay import RECALL_INSTRUCTION, ReplayConfig, cloze_prompts, memory_units, supported
from sleep_env import SleepWindow

MEMORIES = ("Ann Berg lives in Rome.", "Ann Berg works as a pilot.", "Bob Stone has a pet iguana.")
Q_ANN = "Question: Where does Ann Berg live?\nAnswer: Ann Berg lives in"
CFG = SleepAgentConfig(steps=2, batch_size=4, replay_per_batch=1, lr=1e-2, experts=ExpertConfig(d_low=4, pool_size=2),
                       replay=ReplayConfig(support="none"))


def _window(queries=()) -> SleepWindow:
    return SleepWindow(level=1, memories=MEMORIES, queries=tuple(queries), step_budget=10, model_version=0, experience=0)


def _agent(cfg: SleepAgentConfig = CFG) -> SleepAgent:
    return SleepAgent(TransformersEngine(tiny_model(seed=0), tiny_tokenizer(), batch_size=8), cfg)


def _stem(prompt: str) -> str:
    return prompt.removeprefix(f"{RECALL_INSTRUCTION}\nAnswer: ")


# -- units -------------------------------------------------------------------------------------
def test_memory_units_drop_questions_and_answer_labels_and_repeat_facts_once() -> None:
    memories = ("Ann Berg lives in Rome.", "Question: Where does Ann Berg live?\nAnswer: Ann Berg lives in Rome",
                "ann berg lives in rome", "Is it sunny?", "  ", "Bob Stone has a pet iguana.")
    assert memory_units(memories) == ["Ann Berg lives in Rome.", "Bob Stone has a pet iguana."]


def test_memory_units_cut_long_lines_into_sentences_and_keep_short_ones_whole() -> None:
    passage = "The river Ulm rises in the Kestrel hills. It flows east for ninety miles! Does it freeze? Rarely."
    assert memory_units([passage], max_unit_words=8) == ["The river Ulm rises in the Kestrel hills.",
                                                          "It flows east for ninety miles!", "Rarely."]
    assert memory_units([passage], max_unit_words=40) == [passage]  # 18 words: one unit


# -- cloze -------------------------------------------------------------------------------------
def test_cloze_takes_every_cut_of_a_short_unit_and_prefixes_are_starts_of_it() -> None:
    rows = cloze_prompts(["Ann Berg works as a pilot."], np.random.default_rng(0), cuts_per_unit=10, min_prefix_words=2)
    assert [_stem(r.prompt) for r in rows] == ["Ann Berg", "Ann Berg works", "Ann Berg works as", "Ann Berg works as a"]
    assert {r.context for r in rows} == {"Ann Berg works as a pilot."} and {r.source for r in rows} == {"cloze"}


def test_cloze_draws_at_most_cuts_per_unit_distinct_cuts_seeded() -> None:
    unit = " ".join(f"w{i}" for i in range(20))
    a = cloze_prompts([unit], np.random.default_rng(1), cuts_per_unit=3)
    b = cloze_prompts([unit], np.random.default_rng(1), cuts_per_unit=3)
    stems = [_stem(r.prompt) for r in a]
    assert stems == [_stem(r.prompt) for r in b] and len(set(stems)) == 3
    assert all(unit.startswith(s) and 2 <= len(s.split()) <= 19 for s in stems)


def test_cloze_skips_units_too_short_to_cut() -> None:
    assert cloze_prompts(["Rarely.", "Two words."], np.random.default_rng(0), min_prefix_words=2) == []


# -- support -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "context", "expected"),
    [("Rome", "Ann Berg lives in Rome.", True), ("Paris", "Ann Berg lives in Rome.", False),
     ("in Rome", "Ann Berg lives in Rome.", True), ("a pilot", "Ann Berg works as a pilot.", True),
     ("", "Ann Berg lives in Rome.", False), (" . ", "Ann Berg lives in Rome.", False),
     ("Rome and Paris", "Ann Berg lives in Rome.", False), ("ROME", "Ann Berg lives in Rome.", True)],
)
def test_support_is_every_content_word_of_the_answer_in_the_memory(answer: str, context: str, expected: bool) -> None:
    assert supported(answer, context) is expected


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sources": ()}, "sources"), ({"sources": ("cloze", "quiz")}, "sources"), ({"cuts_per_unit": 0}, "cuts_per_unit"),
     ({"min_prefix_words": 0}, "min_prefix_words"), ({"max_rows": 0}, "max_rows"), ({"support": "model"}, "support"),
     ({"cuts_per_unit": True}, "cuts_per_unit")],
)
def test_replay_config_refuses_bad_values_by_name(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ReplayConfig(**kwargs)


def test_sleep_agent_config_refuses_a_replay_that_is_not_a_replay_config() -> None:
    with pytest.raises(ValueError, match="replay must be a ReplayConfig"):
        SleepAgentConfig(replay={"sources": ["cloze"]})


# -- the sleep ---------------------------------------------------------------------------------
def test_replay_prompts_put_the_day_questions_first_then_the_memory_cloze() -> None:
    agent = _agent()
    rows = agent.replay_prompts(_window([(Q_ANN, "Rome"), (Q_ANN, "Rome")]))
    assert [r.source for r in rows[:1]] == ["queries"] and rows[0].prompt == Q_ANN
    assert "Ann Berg lives in Rome." in rows[0].context  # the reader's lines about Ann Berg
    cloze = rows[1:]
    # 5 + 6 + 6 words -> 3 + 4 + 4 cuts of >= 2 words (cuts_per_unit = 4 takes them all)
    assert len(cloze) == 11 and {r.source for r in cloze} == {"cloze"}
    assert all(r.context.startswith(_stem(r.prompt)) for r in cloze)


def test_replay_prompts_respect_max_rows_and_sources() -> None:
    agent = _agent(dataclasses.replace(CFG, replay=ReplayConfig(max_rows=5, support="none")))
    rows = agent.replay_prompts(_window([(Q_ANN, "Rome")]))
    assert len(rows) == 5 and rows[0].source == "queries"
    only_queries = _agent(dataclasses.replace(CFG, replay=ReplayConfig(sources=("queries",))))
    assert [r.source for r in only_queries.replay_prompts(_window([(Q_ANN, "Rome")]))] == ["queries"]
    assert only_queries.replay_prompts(_window()) == []


def test_a_day_without_questions_still_consolidates_the_memory() -> None:
    agent = _agent()
    report = agent.sleep(_window())
    assert report.metrics["replay_rows"] == 11 and report.metrics["replay_cloze"] == 11
    assert report.metrics["examples"] > 0 and report.steps == CFG.steps and report.committed
    assert agent.memory.n_active == 1
    # what was consolidated is replayed (closed-book) in later sleeps
    assert len(agent.prompts[1]) == report.metrics["examples"] and all(p.startswith(RECALL_INSTRUCTION) for p in agent.prompts[1])


def test_lexical_support_drops_answers_the_memory_does_not_hold() -> None:
    """The random tiny model's answers are noise: the support check drops them and counts the drops."""
    agent = _agent(dataclasses.replace(CFG, replay=ReplayConfig()))
    with pytest.warns(RuntimeWarning, match="consolidates nothing.*support='none'"):
        report = agent.sleep(_window([(Q_ANN, "Rome")]))
    rows, dropped = report.metrics["replay_rows"], report.metrics["replay_dropped"]
    assert rows == 12 and dropped == rows - report.metrics["examples"]
    assert dropped >= 10  # noise almost never consists of words of the memory line
    assert len(agent.prompts[1]) == rows - dropped  # only rows that were kept are replayed later
