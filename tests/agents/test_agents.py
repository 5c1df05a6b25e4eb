"""Baseline and sleep agents on the random tiny model: mechanics, never accuracy.

Covers ``InContextAgent``/``SleepAgent`` actions, one ``SleepAgent.sleep`` (one expert unmasked, base
weights untouched, closed-book logits changed, engine version bumped), the lexical router (in-context
answers come from the base model), ``SleepAgentConfig`` validation, ``ContextReader`` and
``PromptFormat`` (answer stem last; one BOS with a chat template).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import (
    ContextReader,
    ExpertConfig,
    InContextAgent,
    PromptFormat,
    SamplingParams,
    SleepAgent,
    SleepAgentConfig,
    TransformersEngine,
)
from agents.baselines import ANSWER_PARAMS
from agents.models import tiny_model, tiny_tokenizer
from agents.replay import ReplayConfig
from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, SleepEnv, SleepReport, SleepWindow, StreamConfig

Q_ANN = "Question: Where does Ann Berg live?\nAnswer: Ann Berg lives in"
Q_BOB = "Question: What does Bob Stone do for a living?\nAnswer: Bob Stone works as"
MEMORIES = ("Ann Berg lives in Rome.", "Ann Berg works as a pilot.", "Bob Stone works as a chef.")
WINDOW = SleepWindow(
    level=1,
    memories=MEMORIES,
    queries=((Q_ANN, "Rome"), (Q_BOB, "chef"), ("Question: What does Ann Berg do for a living?\nAnswer: Ann Berg works as", None)),
    step_budget=10,
    model_version=0,
    experience=0,
)
# the random tiny model never writes an answer the memory supports: keep every row (mechanics tests)
SMALL = SleepAgentConfig(steps=3, batch_size=4, replay_per_batch=1, lr=1e-2, experts=ExpertConfig(d_low=4, pool_size=2),
                         replay=ReplayConfig(support="none"))



def _engine(seed: int = 0) -> TransformersEngine:
    return TransformersEngine(tiny_model(seed=seed), tiny_tokenizer(), batch_size=8)


def _obs(kind: int, may_sleep: int, prompt: str = Q_ANN, context: str = "\n".join(MEMORIES)) -> dict:
    """An observation shaped like the env's (numpy integers for the Discrete entries)."""
    return {
        "prompt": prompt, "context": context, "kind": np.int64(kind), "task_index": np.int64(0),
        "memory_load": np.array([0.1], dtype=np.float32), "may_sleep": np.int64(may_sleep),
        "sleep_due": np.int64(0), "sleep_level": np.int64(may_sleep),
    }  # fmt: skip


def _closed_book_logits(agent: SleepAgent, prompt: str, *, experts: bool = True) -> torch.Tensor:
    ids = torch.tensor(agent.engine.encode([agent.format.render(prompt, "")]))
    with torch.no_grad(), agent.memory.routed(experts):
        return agent.engine.model(input_ids=ids).logits[0, -1].clone()


def _rollout(agent: SleepAgent, text: str, *, experts: bool):
    with agent.memory.routed(experts):
        return agent.engine.generate([text], ANSWER_PARAMS)[0]


def _differ(a, b) -> bool:
    return a.token_ids != b.token_ids or not np.allclose(a.logprobs, b.logprobs, atol=1e-5)


def _base_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer except the expert pools and their masks."""
    skip = (".A", ".B", ".active", ".trainable")
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith(skip)}


# -- actions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, may_sleep", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_in_context_agent_never_sleeps(kind: int, may_sleep: int) -> None:
    agent = InContextAgent(_engine())
    action = agent.act(_obs(kind, may_sleep))
    assert set(action) == {"response", "sleep"}
    assert isinstance(action["response"], str)
    assert action["sleep"] == 0 and type(action["sleep"]) is int
    if kind == 0:
        assert action["response"] == ""  # a study item needs no answer


def test_in_context_agent_sleep_is_a_no_op() -> None:
    agent = InContextAgent(_engine())
    before = _base_snapshot(agent.engine.model)
    report = agent.sleep(WINDOW)
    assert isinstance(report, SleepReport) and report.steps == 0
    after = _base_snapshot(agent.engine.model)
    assert all(torch.equal(v, after[k]) for k, v in before.items())


@pytest.mark.parametrize("kind", [0, 1])
@pytest.mark.parametrize("may_sleep", [0, 1])
def test_sleep_agent_asks_to_sleep_exactly_when_allowed(kind: int, may_sleep: int) -> None:
    agent = SleepAgent(_engine(), SMALL)
    action = agent.act(_obs(kind, may_sleep))
    assert action["sleep"] == may_sleep and type(action["sleep"]) is int
    assert isinstance(action["response"], str)


def test_agents_follow_may_sleep_through_a_real_env() -> None:
    exp = ExperienceConfig(task="facts", n_study=2, n_query=2)
    env = SleepEnv(EnvConfig(stream=StreamConfig(experiences=(exp, exp)), schedule=FixedInterval(period=4)))
    agent = SleepAgent(_engine(), SMALL)
    obs, info = env.reset(seed=0)
    terminated = truncated = False
    allowed = asked = 0
    while not (terminated or truncated):
        if info["sleep_window"] is not None:
            assert agent.sleep(info["sleep_window"]).steps == SMALL.steps
            action = {"response": "", "sleep": 0}
        else:
            action = agent.act(obs)
            assert action["sleep"] == int(obs["may_sleep"])
            allowed += int(obs["may_sleep"])
            asked += action["sleep"]
        obs, _, terminated, truncated, info = env.step(action)
    assert allowed == asked == 2 and agent.sleeps == 2


# -- one sleep -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slept():
    """A SleepAgent before and after one sleep on ``WINDOW``."""
    agent = SleepAgent(_engine(), SMALL)
    before = {
        "n_active": agent.memory.n_active,
        "version": agent.engine.model_version,
        "base": _base_snapshot(agent.engine.model),
        "logits": _closed_book_logits(agent, Q_ANN),
    }
    report = agent.sleep(WINDOW)
    return agent, report, before


def test_sleep_report(slept) -> None:
    agent, report, _ = slept
    assert isinstance(report, SleepReport)
    assert report.steps == SMALL.steps
    assert {"loss_first", "loss_last"} <= set(report.metrics)
    assert np.isfinite(report.metrics["loss_first"]) and np.isfinite(report.metrics["loss_last"])
    assert report.metrics["loss_first"] >= 0.0 and report.metrics["loss_last"] >= 0.0  # a divergence
    assert report.metrics["expert"] == 0.0
    assert agent.sleeps == 1


def test_sleep_unmasks_exactly_one_expert_and_bumps_the_version(slept) -> None:
    agent, _, before = slept
    assert before["n_active"] == 0 and agent.memory.n_active == 1
    for blk in agent.memory.blocks:
        assert blk.active.tolist() == [True, False]
        assert not blk.trainable.any()  # frozen after the consolidation
    assert agent.engine.model_version == before["version"] + 1


def test_sleep_leaves_base_weights_unchanged(slept) -> None:
    agent, _, before = slept
    after = _base_snapshot(agent.engine.model)
    assert after.keys() == before["base"].keys() and len(after) > 0
    for name, value in before["base"].items():
        assert torch.equal(after[name], value), name
    assert all(not p.requires_grad for n, p in agent.engine.model.named_parameters() if not n.endswith((".A", ".B")))


def test_sleep_changes_closed_book_logits(slept) -> None:
    agent, _, before = slept
    after = _closed_book_logits(agent, Q_ANN)
    assert not torch.allclose(after, before["logits"])
    # experts off: exactly the pre-sleep model again
    torch.testing.assert_close(_closed_book_logits(agent, Q_ANN, experts=False), before["logits"])


def test_lexical_router_answers_in_context_questions_with_experts_off(slept) -> None:
    agent, _, _ = slept
    assert agent.config.router == "lexical"
    context = "\n".join(MEMORIES)
    text = agent.format.render(Q_ANN, agent.reader.select(context, Q_ANN))
    got = agent.answer([Q_ANN], [context])[0]
    # identical to a fresh copy of the base model that never had experts
    fresh = _engine().generate([text], ANSWER_PARAMS)[0]
    assert got == fresh.text.strip()
    off = _rollout(agent, text, experts=False)
    assert off.token_ids == fresh.token_ids
    np.testing.assert_allclose(off.logprobs, fresh.logprobs, rtol=0, atol=1e-5)
    # ... while the experts do change this very prompt when switched on
    assert _differ(_rollout(agent, text, experts=True), off)
    assert agent.answer([Q_ANN], [context], router="always") == [_rollout(agent, text, experts=True).text.strip()]


def test_lexical_router_answers_closed_book_questions_with_experts_on(slept) -> None:
    agent, _, _ = slept
    text = agent.format.render(Q_ANN, "")
    on_r, off_r = _rollout(agent, text, experts=True), _rollout(agent, text, experts=False)
    assert _differ(on_r, off_r)  # the routes are distinguishable on this prompt
    on, off = on_r.text.strip(), off_r.text.strip()
    assert agent.answer([Q_ANN], [""]) == [on]
    assert agent.answer([Q_ANN], ["Carl Dunn lives in Oslo."]) == [on]  # nothing relevant: closed-book
    assert agent.answer([Q_ANN], [""], router="never") == [off]


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"on_policy_fraction": 1.5}, "on_policy_fraction"),
        ({"on_policy_fraction": -0.1}, "on_policy_fraction"),
        ({"beta": 2.0}, "beta"),
        ({"router": "off"}, "router"),
        ({"replay_per_batch": 12, "batch_size": 12}, "replay_per_batch"),
        ({"replay_per_batch": -1}, "replay_per_batch"),
    ],
)
def test_sleep_agent_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SleepAgentConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [({"d_low": 0}, "d_low"), ({"pool_size": 0}, "pool_size")])
def test_expert_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ExpertConfig(**kwargs)


# -- context reader ------------------------------------------------------------------------------


def test_context_reader_picks_the_lines_with_the_name_in_order() -> None:
    context = "Ann Berg lives in Rome.\nBob Stone works as a chef.\n\nAnn Berg works as a pilot.\nCarl Dunn has a pet cat."
    assert ContextReader().select(context, Q_ANN) == "Ann Berg lives in Rome.\nAnn Berg works as a pilot."
    assert ContextReader().select(context, Q_BOB) == "Bob Stone works as a chef."


def test_context_reader_returns_empty_when_nothing_matches() -> None:
    assert ContextReader().select("Bob Stone works as a chef.\nCarl Dunn has a pet cat.", Q_ANN) == ""
    assert ContextReader().select("", Q_ANN) == ""
    # stop words and short words alone are not relevance
    assert ContextReader().select("What is the answer to this?", "Question: What is the answer?") == ""


def test_context_reader_keeps_at_most_top_k_lines() -> None:
    context = "\n".join(f"Ann Berg fact number {i}." for i in range(10))
    picked = ContextReader(top_k=3).select(context, Q_ANN).split("\n")
    assert len(picked) == 3
    assert picked == [f"Ann Berg fact number {i}." for i in (7, 8, 9)]  # ties: newer lines win, original order


# -- prompt format -------------------------------------------------------------------------------


def test_plain_render_puts_the_answer_stem_last() -> None:
    fmt = PromptFormat(tiny_tokenizer())
    assert not fmt.chat
    text = fmt.render(Q_ANN, "Ann Berg lives in Rome.")
    assert text.startswith("Facts:\nAnn Berg lives in Rome.\n\n")
    assert text.endswith("\nAnswer: Ann Berg lives in")
    assert text.count("Answer:") == 1
    assert fmt.render("Where does Ann Berg live?").endswith("\nAnswer:")
    assert "Facts:" not in fmt.render(Q_ANN, "  \n")


def _chat_tokenizer():
    """A WordLevel fast tokenizer with a chat template starting with ``{{ bos_token }}`` and a BOS post-processor."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    words = ("Facts: Question: Answer: Where does Ann Berg live? lives in Rome. You answer questions with a "
             "short answer. Use the facts when they are given.").split()  # fmt: skip
    vocab = {t: i for i, t in enumerate(specials + sorted(set(words)))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    template = (
        "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=specials[4:], chat_template=template,
    )  # fmt: skip


def test_chat_render_puts_the_stem_in_the_assistant_turn_last() -> None:
    tok = _chat_tokenizer()
    fmt = PromptFormat(tok)
    assert fmt.chat
    text = fmt.render(Q_ANN, "Ann Berg lives in Rome.")
    assert text.endswith("<|assistant|> Ann Berg lives in")
    assert text.index("Facts:") < text.index("Question:") < text.index("<|assistant|>")
    assert "Answer:" not in text  # the stem is typed into the answer turn, not left as a label


def test_chat_prompt_is_encoded_with_exactly_one_bos() -> None:
    tok = _chat_tokenizer()
    bos = tok.bos_token_id
    assert tok("Rome.")["input_ids"][0] == bos  # the post-processor prepends BOS ...
    text = PromptFormat(tok).render(Q_ANN, "Ann Berg lives in Rome.")
    assert text.startswith("<s>")  # ... and so does the chat template
    assert tok(text)["input_ids"][:2] == [bos, bos]  # the C20 bug this guards against
    engine = TransformersEngine(tiny_model(), tok)
    ids = engine.encode([text])[0]
    assert ids[0] == bos and ids[1] != bos
    assert ids.count(bos) == 1
    # the agent's path renders and encodes the same way
    agent = InContextAgent(engine)
    assert engine.encode([agent.format.render(Q_ANN, "Ann Berg lives in Rome.")])[0].count(bos) == 1


def test_plain_byte_tokenizer_adds_no_trailing_eos() -> None:
    engine = _engine()
    text = PromptFormat(engine.tokenizer).render(Q_ANN)
    ids = engine.encode([text])[0]
    assert engine.tokenizer.eos_token_id not in ids  # ByT5 would append EOS with special tokens on
    assert engine.tokenizer.decode(ids) == text


def test_sampling_params_used_for_answers_are_greedy_and_stop_after_the_first_clause() -> None:
    assert ANSWER_PARAMS == SamplingParams(temperature=0.0, max_new_tokens=12, stop=("\n", ". ", ", "))


def test_on_policy_steps_train_on_student_samples_scored_by_the_teacher() -> None:
    """With lambda = 1 every step samples from the student; the loss stays a finite divergence."""
    import dataclasses

    agent = SleepAgent(_engine(), dataclasses.replace(SMALL, on_policy_fraction=1.0))
    report = agent.sleep(WINDOW)
    assert report.metrics["on_policy_steps"] == SMALL.steps
    assert np.isfinite(report.metrics["loss_last"]) and report.metrics["loss_last"] >= 0.0
    assert agent.memory.n_active == 1


def test_context_reader_skips_question_lines_and_keeps_the_facts() -> None:
    # the short-term memory also holds the day's answered queries: they must not crowd out the facts
    memory = "\n".join([
        "Volmai Gainwood lives in Flalmeford.", "Volmai Gainwood has a pet iguana.",
        "Question: What pet does Volmai Gainwood have?", "Answer: Volmai Gainwood has a pet iguana",
        "Question: Where does Volmai Gainwood live?", "Answer: Volmai Gainwood lives in Flalmeford",
        "Question: What does Volmai Gainwood do for a living?", "Answer: Volmai Gainwood works as lawyer",
    ])  # fmt: skip
    got = ContextReader(top_k=4).select(memory, "Question: What pet does Volmai Gainwood have?\nAnswer: Volmai Gainwood has a pet")
    lines = got.split("\n")
    assert not any(ln.startswith("Question:") or ln.endswith("?") for ln in lines)
    # answer lines lose their "Answer:" label; a fact said twice is kept once (the newest copy)
    assert lines == ["Volmai Gainwood has a pet iguana", "Volmai Gainwood lives in Flalmeford", "Volmai Gainwood works as lawyer"]
    assert ContextReader().select("Question: Where does Ann Berg live?", "Where does Ann Berg live?") == ""


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_context_reader_top_k_must_be_a_positive_int(top_k) -> None:
    with pytest.raises(ValueError, match="ContextReader.top_k must be an int >= 1"):
        ContextReader(top_k=top_k)
