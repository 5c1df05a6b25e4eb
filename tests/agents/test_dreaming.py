"""Dreaming (agents/dreaming.py) and the SEAL baseline on the tiny preset: real values, a few seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.dreaming import Dreaming, DreamingConfig, expert_target, relabel
from agents.memory.experts import ExpertConfig, ExpertMemory
from sleep_env.types import SleepReport
from tests.agents.dream_testkit import (  # noqa: F401  (setup: a fixture)
    ALIGNED,
    CONFLICT,
    MEMORIES,
    QUERIES,
    UNRELATED,
    Q,
    _dream,
    _dreaming,
    _identical,
    _parseable,
    _state,
    setup,
)


# -- stages on the tiny model -------------------------------------------------------------------------------
def test_teacher_forced_logprobs_match_the_engine(engine):
    d = _dreaming(engine)
    prompts, completions = ["hello there", "a"], [" world!", " bcdefgh"]
    rows = [(engine.encode([p])[0], engine.tokenizer(c, add_special_tokens=False)["input_ids"]) for p, c in zip(prompts, completions)]
    with torch.no_grad():
        ours = d._logprobs(rows)
    for a, b in zip(ours, engine.score(prompts, completions)):
        np.testing.assert_allclose(a.double().numpy(), b, atol=1e-5)


def test_selection_picks_the_aligned_dream(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, top_k=1, random_extra=0)
    tau_rows = d.evaluator(MEMORIES, QUERIES)
    dreams = [_dream(d, UNRELATED), _dream(d, ALIGNED), _dream(d, [])]
    keep = d.select(dreams, tau_rows, target)
    assert keep == [1]
    assert dreams[1].score > 0.9 > dreams[0].score  # same answer tokens as tau (plus EOS): near-parallel gradients
    assert dreams[2].score == float("-inf")  # no rows: ranked last


def test_selection_count_and_random_switch(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, top_k=2, random_extra=1)
    tau_rows = d.evaluator(MEMORIES, QUERIES)
    pairs = [ALIGNED, UNRELATED, CONFLICT, [("Question: Where does Bob live?\nAnswer: Bob lives in", "Oslo")], [], ALIGNED + UNRELATED]
    dreams = [_dream(d, p) for p in pairs]
    keep = d.select(dreams, tau_rows, target)
    by_score = sorted(range(len(dreams)), key=lambda i: -dreams[i].score)
    assert len(keep) == 3 and len(set(keep)) == 3 and keep[:2] == by_score[:2]
    d2 = _dreaming(engine, top_k=2, random_extra=1, gradient_selection=False)
    dreams2 = [_dream(d2, p) for p in pairs]
    keep2 = d2.select(dreams2, tau_rows, target)
    assert len(keep2) == 3 and all(x.score == float("-inf") for x in dreams2)  # no gradients computed
    for _ in range(20):  # a dream without rows is never trialed, whatever the random draw
        assert 4 not in d2.select(dreams2, tau_rows, target)
    assert dreams2[4].reward == 0 and dreams[4].reward == 0  # its reward is 0 without a trial
    few = [_dream(d, []), _dream(d, ALIGNED), _dream(d, [])]
    assert d.select(few, tau_rows, target) == [1]  # fewer parsed dreams than k + b: only those
    assert d.select([_dream(d, [])], tau_rows, target) == []


def test_trial_isolation_and_reward_iff_tau_improves(setup):
    engine, mem, _, target = setup
    d = _dreaming(engine, trial_steps=3, lr=3e-2, apply_steps=10)
    tau_rows = d.evaluator(MEMORIES, QUERIES)
    # first teach the expert "Rome" (a random model's tau is so low that any byte-level SFT raises it)
    assert d.apply([_dream(d, ALIGNED)], tau_rows, d.tau(tau_rows, target), target)[0]
    tau0 = d.tau(tau_rows, target)
    before = _state(engine.model, d)
    good, bad, empty = _dream(d, ALIGNED), _dream(d, CONFLICT), _dream(d, [])
    assert d.trial(good, tau_rows, tau0, target) == 1 and good.tau > tau0
    assert _identical(before, _state(engine.model, d))  # the trial left every weight and buffer bit-identical
    r_bad = d.trial(bad, tau_rows, tau0, target)
    assert r_bad == int(bad.tau > tau0) and r_bad == 0
    assert d.trial(empty, tau_rows, tau0, target) == 0 and math.isnan(empty.tau)
    assert _identical(before, _state(engine.model, d))
    assert d.tau(tau_rows, target) == tau0
    strict = _dreaming(engine, trial_steps=3, lr=3e-2, min_improvement=1e6)
    assert strict.trial(_dream(strict, ALIGNED), tau_rows, tau0, target) == 0  # improvement below the margin
    assert not bool(mem.blocks[0].trainable.any())  # the student mode restored the trainable masks


def test_teacher_answers_replace_the_dreams_and_unanswerable_rows_are_dropped(setup, monkeypatch):
    engine, _, _, target = setup
    asked = []

    def teacher(prompts):
        asked.extend(prompts)
        return ["Rome" if "Ann" in p else "" for p in prompts]

    d = _dreaming(engine, answers="teacher")
    parsed = [[("Question: Where does Ann live?\nAnswer:", "Paris"), ("Question: Who is Zed?\nAnswer:", "a cat")],
              [("Question: Is Ann here?\nAnswer:", "rome.")], []]
    rows, changed = relabel(parsed, teacher)
    assert rows == [[("Question: Where does Ann live?\nAnswer:", "Rome")], [("Question: Is Ann here?\nAnswer:", "Rome")], []]
    assert changed == [1, 0] + [0]  # "rome." and "Rome" are the same answer
    assert len(asked) == 3  # one batched call for every row
    # through generate: whatever the tiny model writes parses into the two rows below
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Question: Where does Ann live?", "Paris"), ("Question: Who is Zed?", "a cat")])
    dreams = d.generate(MEMORIES, "qa", target, n=2, teacher=teacher)
    assert [[a for _, a in dr.rows] for dr in dreams] == [["Rome"], ["Rome"]] and [dr.changed for dr in dreams] == [1, 1]
    assert len(asked) == 3 + 4
    own = _dreaming(engine, grounding="none").generate(MEMORIES, "qa", target, n=2, teacher=teacher)  # answers="dream"
    assert len(asked) == 7 and [[a for _, a in dr.rows] for dr in own] == [["Paris", "a cat"]] * 2  # teacher unused
    checked = _dreaming(engine).generate(MEMORIES, "qa", target, n=2, teacher=teacher)  # default grounding="lexical"
    assert [dr.rows for dr in checked] == [[], []] and [dr.ungrounded for dr in checked] == [2, 2]  # no memory says Paris


def test_exact_match_evaluator(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, apply_steps=40, lr=3e-2, evaluator="exact")
    tau_rows = d.evaluator(MEMORIES, QUERIES)
    assert d.tau(tau_rows, target) == 0.0  # a random model does not answer "Rome"
    assert d.apply([_dream(d, ALIGNED)], tau_rows, 0.0, target)[:3] == (True, 1.0, 1)  # after SFT on the answer it does
    assert d.tau([], target) != d.tau([], target)  # nan without rows


def test_rest_em_trains_only_the_generator(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, generator_steps=3, generator_lr=1e-2)
    (dream,) = d.generate(MEMORIES, "qa", target, n=1)
    assert dream.token_ids and dream.text.startswith("Question:")
    model_before, gen_before = _state(engine.model), [p.detach().clone() for p in d.generator.parameters()]
    losses = d.learn([dream], target)
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert _identical(model_before, _state(engine.model))  # the model (experts included) did not move
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, d.generator.parameters()))
    assert all(p.grad is None for p in engine.model.parameters())


def test_random_expert_picks_an_older_expert(setup):
    engine, mem, slot, target = setup
    assert target.random_expert(np.random.default_rng(0)) is None  # only today's expert is active
    other = mem.expand(1)
    with torch.no_grad():
        for blk in mem.blocks:
            blk.B[other].normal_()
    mem.freeze_all()
    rows = [(engine.encode(["Ann"])[0], engine.encode([" lives"])[0])]
    d = _dreaming(engine)
    with target.reader():
        plain = d._logprobs(rows)[0]
    with target.reader(), target.random_expert(np.random.default_rng(0)):
        assert [bool(blk.enabled[slot]) for blk in mem.blocks] == [False] * len(mem.blocks)
        noisy = d._logprobs(rows)[0]
    assert not torch.allclose(plain, noisy)
    assert all(bool(blk.enabled.all()) for blk in mem.blocks)  # restored


def test_run_end_to_end_counts_and_switches(engine, monkeypatch):
    _parseable(monkeypatch)
    mem = ExpertMemory(engine.model, ExpertConfig(d_low=8, pool_size=2))
    slot = mem.expand(1)
    mem.freeze_all()
    target = expert_target(mem, slot)
    d = _dreaming(engine, dreams=4, top_k=1, random_extra=1, rounds=2, template="implications")
    rep = d.run(MEMORIES, QUERIES, target)
    assert rep.skipped == "" and rep.sampled == 8 and rep.trialed == 4 and len(rep.reward_rate) == 2
    assert 0 <= rep.rewarded <= rep.trialed and all(0.0 <= r <= 1.0 for r in rep.reward_rate)
    assert rep.tau_before < 0 and rep.seconds > 0 and set(rep.stage_seconds) == {"generate", "select", "trial", "learn", "apply"}
    assert rep.committed == (rep.rows_applied > 0 and rep.tau_after >= rep.tau_before)
    metrics = rep.to_metrics()
    assert {"dream_reward_rate_r0", "dream_reward_rate_r1", "dream_seconds", "dream_tau_before"} <= set(metrics)
    assert rep.yield_rate == [1.0, 1.0] and rep.expected_reward == rep.reward_rate  # every dream parsed
    assert all(math.isfinite(g) for g in rep.trial_gain) and (rep.trial_gain[0] > 0) == (rep.reward_rate[0] > 0)  # one dream text: all trials alike
    assert metrics["dream_expected_reward_r1"] == rep.expected_reward[1] and metrics["dream_yield_rate_r0"] == 1.0
    SleepReport(seconds=1.0, steps=rep.sft_steps, metrics=metrics)  # valid as SleepReport metrics
    one = _dreaming(engine, dreams=2, rest_em=False, random_expert=False).run(MEMORIES, QUERIES, target)
    assert len(one.reward_rate) == 1 and one.sampled == 2
    # the held-out guard for real on the tiny model (its rewordings are noise: usually none parse)
    held = _dreaming(engine, dreams=2, rest_em=False, heldout_guard=True, template="implications")
    monkeypatch.setattr(held, "trial", lambda dream, *a: setattr(dream, "reward", 1) or 1)
    h = held.run(MEMORIES, QUERIES, target, older=[(Q, "Rome")])
    assert h.rows_applied > 0 and h.heldout_rows >= 0 and h.stage_seconds["apply"] > 0
    assert h.anchor_kl > 0 and h.to_metrics()["dream_anchor_kl"] == h.anchor_kl  # the default KL anchor, logged
    assert math.isnan(h.heldout) or h.heldout >= 0
    none = d.run(MEMORIES, ((Q, None),), target)
    assert none.skipped.startswith("no evaluator") and none.sampled == 0
    blank = d.run(["", "  \n"], QUERIES, target)  # blank memories are no memories: nothing to dream from
    assert blank.skipped == "no memories" and blank.sampled == 0
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [])
    empty = d.run(MEMORIES, QUERIES, target)  # nothing parses: nothing trialed, expected reward 0
    assert empty.trialed == 0 and empty.yield_rate == [0.0, 0.0] and empty.expected_reward == [0.0, 0.0]
    assert all(math.isnan(r) for r in empty.reward_rate) and all(math.isnan(g) for g in empty.trial_gain)
    assert math.isnan(empty.anchor_kl)  # nothing applied: no anchor KL


def test_template_and_evaluator_per_family(engine):
    d = _dreaming(engine)
    arc_mem = ("ARC task x, demonstrations:\nInput:\n01\n10\nOutput:\n1\n\nInput:\n00\n00\nOutput:\n0\n",)
    assert d.template_for(arc_mem, ()) == "arc"
    assert d.template_for(MEMORIES, QUERIES) == "qa"
    assert d.template_for(MEMORIES, ((Q, None),)) == "implications"
    assert len(d.evaluator(arc_mem, ())) == 2  # each demonstration becomes a closed-book query
    assert len(d.evaluator(MEMORIES, QUERIES + ((Q, "Rome"), ("other", "")))) == 1  # duplicates / empty answers dropped
    assert all(DreamingConfig(template=t).template == t for t in ("qa", "implications", "arc"))


def test_dreaming_state_round_trip(engine):
    d = _dreaming(engine)
    with torch.no_grad():
        d.generator.B[0].fill_(0.5)
    state = d.state_dict()
    d2 = _dreaming(engine)
    d2.load_state_dict(state)
    assert torch.equal(d2.generator.B[0], d.generator.B[0])
    bad = {**state, "A": state["A"][:1]}
    with pytest.raises(ValueError, match="generator_rank"):
        d2.load_state_dict(bad)


def test_rest_em_imitates_only_the_grounded_rows_of_a_dream(setup, monkeypatch):
    engine, _, _, target = setup
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Question: Where does Ann live?\nAnswer:", "Rome"), ("Question: Who is Zed?\nAnswer:", "a cat")])
    d = _dreaming(engine)
    (dream,) = d.generate(MEMORIES, "qa", target, n=1)
    assert dream.ungrounded == 1 and [a for _, a in dream.rows] == ["Rome"]
    text = engine.tokenizer.decode(list(dream.learn_ids), skip_special_tokens=True)
    assert text == " Where does Ann live?\nAnswer: Rome" and dream.learn_ids[-1] == engine.eos_id
    seen = []
    monkeypatch.setattr(d, "_train", lambda params, batches, lr, mode, anchor=None: seen.extend(c for b in batches for _, c in b) or [0.0])
    d.learn([dream], target)
    assert seen and all(c == list(dream.learn_ids) for c in seen)  # not the sampled tokens
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Question: Where does Ann live?\nAnswer:", "Rome")])
    (clean,) = d.generate(MEMORIES, "qa", target, n=1)
    assert clean.ungrounded == 0 and clean.learn_ids == clean.token_ids  # nothing dropped: its own tokens


def test_adam_sft_changes_only_the_given_params_and_leaves_no_grad(setup):
    from agents.dream_ops import adam_sft, sft_loss

    engine, mem, slot, target = setup
    d = _dreaming(engine)
    rows = d._rows([(d.fmt.render(Q), "Rome")])
    before = _state(engine.model)
    with torch.no_grad(), target.student():
        loss0 = float(sft_loss(engine, rows))
    losses = adam_sft(engine, target.params, [rows] * 5, 3e-2, target.student)
    assert len(losses) == 5 and losses[0] == pytest.approx(loss0, rel=1e-5) and losses[-1] < losses[0]
    after = _state(engine.model)
    changed = {k for k, v in after.items() if not torch.equal(v, before[k])}
    trained = {k for k, p in engine.model.named_parameters() if any(p is q for q in target.params)}
    assert changed == trained and len(trained) == len(target.params)  # the experts' A and B, nothing else
    other = [k for k in range(mem.blocks[0].A.shape[0]) if k != slot]
    assert other and all(torch.equal(after[k][other], before[k][other]) for k in trained)  # only the target's slot
    assert all(p.grad is None for p in engine.model.parameters())


def test_older_inputs_are_checked(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, dreams=1, rounds=1)
    for bad in ([("q", 5)], [("q", "a", "b")], ["q"], [(1, "a")], 5, "abc"):
        with pytest.raises(TypeError, match="older must"):
            d.run(MEMORIES, QUERIES, target, older=bad)
    for bad in (None, [(Q, 5)], [Q], "abc"):
        with pytest.raises(TypeError, match="queries must"):
            d.run(MEMORIES, bad, target)
    for bad in ("Ann lives in Rome.", [1, 2]):
        with pytest.raises(TypeError, match="memories must"):
            d.run(bad, QUERIES, target)
    from agents.dream_parts import older_pairs as _older_pairs

    assert _older_pairs({"q1": "a1", "q2": None}) == [("q1", "a1"), ("q2", None)]  # SleepAgent.answers works as is
    assert _older_pairs(None) == [] and _older_pairs((("q", "a"),)) == [("q", "a")]


def test_dreaming_refuses_a_config_that_is_not_a_dreaming_config(engine):
    assert Dreaming(engine, None).config == DreamingConfig()  # None: the defaults
    for bad in ({"dreams": 4}, "qa", 4):
        with pytest.raises(TypeError, match=r"must be a DreamingConfig.*DreamingConfig\(dreams=4"):
            Dreaming(engine, bad)
