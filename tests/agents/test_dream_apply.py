"""Dreaming's apply step (stage 6) and its guards on the tiny preset: tau, exact match, older queries,
the cloze recall of the day's statements and the held-out rewording set."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from agents.dream_config import Dream
from agents.dream_parts import cloze_pairs
from agents.dream_stages import held_out_pairs
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
    _state,
    setup,
)


def _apply_setup(setup):
    """(engine, target, a Dreaming with 10 apply steps at lr 3e-2, tau's rows, tau before, the model's state)."""
    engine, _, _, target = setup
    d = _dreaming(engine, apply_steps=10, lr=3e-2)
    tau_rows = d.evaluator(MEMORIES, QUERIES)
    return engine, target, d, tau_rows, d.tau(tau_rows, target), _state(engine.model)


def test_apply_commits_improvements_and_rolls_back_regressions(setup, monkeypatch):
    engine, target, d, tau_rows, tau0, before = _apply_setup(setup)
    committed, tau1, n, kept, recall, _, kl = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target)
    assert d.config.apply_anchor == 1.0 and kl > 0  # the default anchor's KL(before || after) is reported
    assert committed and n == 1 and math.isnan(kept) and math.isnan(recall) and tau1 > tau0 and d.tau(tau_rows, target) == tau1
    assert not _identical(before, _state(engine.model))
    taught = _state(engine.model)
    assert d.apply([_dream(d, CONFLICT)], tau_rows, tau1, target)[:3] == (False, tau1, 1)  # tau got worse
    assert _identical(taught, _state(engine.model))  # rolled back bit for bit

    def nan_train(params, batches, lr, mode, anchor=None):
        with torch.no_grad():
            for p in params:
                p.fill_(float("nan"))
        return [float("nan")]

    monkeypatch.setattr(d, "_train", nan_train)
    assert d.apply([_dream(d, ALIGNED)], tau_rows, tau1, target)[0] is False
    assert _identical(taught, _state(engine.model))
    assert d.apply([_dream(d, [])], tau_rows, tau1, target)[:3] == (False, tau1, 0)  # nothing to apply


def test_apply_guard_rolls_back_when_an_answer_flips_although_tau_rises(setup, monkeypatch):
    engine, target, d, tau_rows, tau0, before = _apply_setup(setup)
    calls = iter([1.0, 0.0])  # exact match before the apply, then after it: one answer lost
    monkeypatch.setattr(d, "exact_match", lambda rows, t: next(calls))
    committed, tau1, n, *_ = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target)
    assert (committed, tau1, n) == (False, tau0, 1)  # tau rose (see the test above) but the guard refused
    assert _identical(before, _state(engine.model))
    d_tau = _dreaming(engine, apply_steps=10, lr=3e-2, apply_guard="tau")
    monkeypatch.setattr(d_tau, "exact_match", lambda rows, t: pytest.fail("apply_guard='tau' must not run exact match"))
    assert d_tau.apply([_dream(d_tau, ALIGNED)], tau_rows, tau0, target)[0] is True


OLDER = [("Question: Where does Bob live?\nAnswer: Bob lives in", "Oslo"), ("Question: What pet does Cy have?\nAnswer: Cy has a pet", "owl"),
         ("Question: What is Dee's job?\nAnswer: Dee works as", "baker")]


def test_apply_rolls_back_when_older_answers_are_lost(setup, monkeypatch):
    engine, target, d, tau_rows, tau0, before = _apply_setup(setup)
    older_prompts = {d.fmt.render(q) for q, _ in OLDER}

    def fake_exact(seq):  # tau's queries: always 1.0; the older ones: values from seq (before, after)
        calls = iter(seq)
        return lambda rows, t: next(calls) if {engine.tokenizer.decode(p) for p, _ in rows} <= older_prompts else 1.0

    monkeypatch.setattr(d, "exact_match", fake_exact([1.0, 2 / 3]))
    committed, tau1, n, kept, *_ = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, older=OLDER + OLDER[:1] + [(Q, None)])
    assert (committed, tau1, n) == (False, tau0, 1) and kept == pytest.approx(2 / 3)  # tau rose, an older answer was lost
    assert _identical(before, _state(engine.model))
    lax = _dreaming(engine, apply_steps=10, lr=3e-2, min_retention=0.5)
    monkeypatch.setattr(lax, "exact_match", fake_exact([1.0, 2 / 3]))
    assert lax.apply([_dream(lax, ALIGNED)], tau_rows, tau0, target, older=OLDER)[0] is True
    engine.model.load_state_dict(before)
    monkeypatch.setattr(d, "exact_match", fake_exact([0.0, 0.0]))  # nothing to lose: retention not defined, no veto
    committed, _, _, kept, *_ = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, older=OLDER)
    assert committed and math.isnan(kept)
    engine.model.load_state_dict(before)
    off = _dreaming(engine, apply_steps=10, lr=3e-2, min_retention=0.0)
    monkeypatch.setattr(off, "exact_match", fake_exact([]))  # would raise StopIteration if the older rows were checked
    committed, _, _, kept, *_ = off.apply([_dream(off, ALIGNED)], tau_rows, tau0, target, older=OLDER)
    assert committed and math.isnan(kept)
    engine.model.load_state_dict(before)
    capped = _dreaming(engine, apply_steps=1, lr=1e-4, max_eval_queries=2)
    asked = []
    monkeypatch.setattr(capped, "exact_match", lambda rows, t: asked.append(len(rows)) or 1.0)
    capped.apply([_dream(capped, ALIGNED)], tau_rows, tau0, target, older=OLDER)
    assert 2 in asked and max(asked) <= 2  # at most max_eval_queries older queries


def test_apply_rolls_back_when_the_recall_of_the_day_s_statements_falls(setup, monkeypatch):
    engine, target, _, tau_rows, tau0, before = _apply_setup(setup)
    cloze = cloze_pairs(MEMORIES, QUERIES)
    assert cloze == [("Ann lives in", "Rome")]

    def fake_exact(seq):  # tau's queries: always 1.0; the cloze items (raw statement prefixes): seq
        calls = iter(seq)
        return lambda rows, t: next(calls) if {engine.tokenizer.decode(p) for p, _ in rows} == {"Ann lives in"} else 1.0

    d = _dreaming(engine, apply_steps=10, lr=3e-2, recall_guard=True)
    monkeypatch.setattr(d, "exact_match", fake_exact([1.0, 0.0]))
    res = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, cloze=cloze)
    assert (res.committed, res.tau_after, res.rows, res.recall) == (False, tau0, 1, 0.0)  # tau rose, recall fell
    assert _identical(before, _state(engine.model))
    monkeypatch.setattr(d, "exact_match", fake_exact([0.0, 0.0]))  # nothing recalled before: nothing to lose
    assert d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, cloze=cloze).committed is True
    default = _dreaming(engine, apply_steps=10, lr=3e-2)  # opt-in: off by default, not even measured
    monkeypatch.setattr(default, "exact_match", fake_exact([1.0, 0.0]))
    res = default.apply([_dream(default, ALIGNED)], tau_rows, tau0, target, cloze=cloze)
    assert res.committed is True and math.isnan(res.recall)


def test_held_out_pairs_are_the_rows_of_the_dreams_not_applied():
    def dream(*rows):
        return Dream(prompt="p", text="", token_ids=(), rows=list(rows))

    won = dream(("Q: Where does Ann live?", "Rome"), ("Q: Ann's city?", "Rome"))
    lost = dream(("Q: Which city is Ann in?", " Rome "), ("Q: Ann's city?", "Paris"), ("Q: Bob?", " "))
    again = dream(("Q: Which city is Ann in?", "Rome"), ("Q: Where is Bob?", "Oslo"), ("Q: tau", "Rome"))
    same_text = dream(("Q: Where does Ann live?", "Rome"))  # equal to the applied dream, but not it
    assert held_out_pairs([won, lost, again, same_text], [won], exclude=["Q: tau"]) == [
        ("Q: Which city is Ann in?", "Rome"), ("Q: Where is Bob?", "Oslo")]  # stripped, no repeats, in order
    assert held_out_pairs([won, lost], []) == [("Q: Where does Ann live?", "Rome"), ("Q: Ann's city?", "Rome"),
                                               ("Q: Which city is Ann in?", "Rome"), ("Q: Ann's city?", "Paris")]
    assert held_out_pairs([won], [won]) == [] and held_out_pairs([], []) == []


def test_apply_rolls_back_when_the_held_out_dream_rows_are_answered_worse(setup, monkeypatch):
    engine, target, _, tau_rows, tau0, before = _apply_setup(setup)
    d = _dreaming(engine, apply_steps=10, lr=3e-2, heldout_guard=True)
    held = [(d.fmt.render("Question: Which city is Ann in?"), "Rome")]
    held_prompts = {engine.tokenizer.decode(p) for p, _ in d._rows(held, eos=False)}

    def fake_exact(seq):  # tau's queries: always 1.0; the held-out rows: seq
        calls = iter(seq)
        return lambda rows, t: next(calls) if {engine.tokenizer.decode(p) for p, _ in rows} == held_prompts else 1.0

    monkeypatch.setattr(d, "exact_match", fake_exact([1.0, 0.0]))
    res = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, heldout=held)
    assert (res.committed, res.tau_after, res.rows, res.heldout) == (False, tau0, 1, 0.0)  # tau rose, held-out fell
    assert _identical(before, _state(engine.model))
    monkeypatch.setattr(d, "exact_match", fake_exact([0.5, 0.5]))  # kept: no fewer answered
    res = d.apply([_dream(d, ALIGNED)], tau_rows, tau0, target, heldout=held)
    assert res.committed is True and res.heldout == 1.0
    off = _dreaming(engine, apply_steps=10, lr=3e-2)  # opt-in: off by default, not even measured
    monkeypatch.setattr(off, "exact_match", fake_exact([1.0, 0.0]))
    res = off.apply([_dream(off, ALIGNED)], tau_rows, tau0, target, heldout=held)
    assert res.committed is True and math.isnan(res.heldout)


def test_run_checks_the_held_out_rows_only_for_grounded_qa_dreams(setup, monkeypatch):
    engine, _, _, target = setup
    texts = iter([[("Question: Where does Ann live?", "Rome")], [("Question: Which city is Ann in?", "Rome")]] * 3)
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: next(texts))
    held = {}
    for kw in ({}, {"heldout_guard": True}, {"heldout_guard": True, "grounding": "none"}):
        d = _dreaming(engine, dreams=2, dreams_per_expert=1, rounds=1, top_k=1, random_extra=0, template="qa", **kw)
        monkeypatch.setattr(d, "trial", lambda dream, *a: setattr(dream, "reward", 1) or 1)  # the one trial wins
        monkeypatch.setattr(d, "reword", lambda pairs, target: [])  # the rewordings: tested below

        def apply(*a, _apply=d.apply):
            held[len(held)] = a[6]  # run passes (dreams, tau_rows, tau0, target, older, cloze, heldout)
            return _apply(*a)

        monkeypatch.setattr(d, "apply", apply)
        rep = d.run(MEMORIES, QUERIES, target)
        assert rep.skipped == "" and rep.rewarded == 1 and rep.rows_applied == 1
        assert rep.heldout_rows == len(held[len(held) - 1]) and rep.to_metrics()["dream_heldout_rows"] == rep.heldout_rows
    assert held[0] == [] and held[2] == []  # off by default; not for ungrounded dreams
    assert len(held[1]) == 1 and held[1][0][1] == "Rome"  # the dream that was not applied
    assert held[1][0][0] in {d.fmt.render("Question: Where does Ann live?"), d.fmt.render("Question: Which city is Ann in?")}


def test_reword_keeps_the_stem_and_answer_and_drops_copies(setup, monkeypatch):
    engine, _, _, target = setup
    d = _dreaming(engine)
    seen = []

    def fake_generate(prompts, params):
        seen.append((list(prompts), params))
        texts = {"Where does Ann live?": " In which city does Ann live?\n", "Who is Bo?": " Who is Bo?",
                 "What does Cy do?": " Whodat?"}
        return [SimpleNamespace(text=texts[p.rsplit("Question: ", 1)[1].split("\n")[0]]) for p in prompts]

    monkeypatch.setattr(engine, "generate", fake_generate)
    pairs = [(Q, "Rome"), ("Who is Bo?", "a baker"), ("Question: What does Cy do?\nAnswer: Cy works as", "cook"),
             ("Question: Where does Zed live?", None), ("Passage.\nQuestion: Why?", "because")]
    got = d.reword(pairs, target)
    assert got == [(d.fmt.render("Question: In which city does Ann live?\nAnswer: Ann lives in"), "Rome")]
    (prompts, params), = seen  # one batched greedy call, only for the answered one-line questions
    assert len(prompts) == 3 and params.temperature == 0.0 and all(p.startswith("Reword each question.") for p in prompts)
    assert d.reword([(Q, None)], target) == [] and len(seen) == 1  # nothing to reword: no call
    for bad in ([(None, "Rome")], [(Q, 5)], "abc", None):
        with pytest.raises(TypeError, match="pairs must"):
            d.reword(bad, target)
    with pytest.raises(TypeError, match="older must"):
        d.held_out([(Q, "Rome")], [("q", 5)], [], [], "qa", target)
    assert d.held_out([(Q, "Rome")], {Q: "Rome"}, [], [], "qa", target) == got  # a mapping of older answers works
    long_q = "Question: Where does Ann live" + " and why" * 1200 + "?\nAnswer: Ann lives in"
    monkeypatch.undo()  # the real engine: a question too long to reword is left out, not an error
    assert d.reword([(long_q, "Rome")], target) == []


def test_held_out_set_joins_rewordings_and_unapplied_dream_rows(setup, monkeypatch):
    engine, _, _, target = setup
    d = _dreaming(engine, max_eval_queries=2)
    asked = []
    monkeypatch.setattr(d, "reword", lambda pairs, t: asked.append(list(pairs)) or [(f"r:{q}", a) for q, a in pairs])
    queries = [("q1", "a1"), ("q2", None), ("q3", "a3"), ("q4", "a4"), ("q1", "a1")]
    older = [(f"o{i}", f"b{i}") for i in range(6)]
    won = Dream(prompt="p", text="", token_ids=(), rows=[("x", "1")])
    lost = Dream(prompt="p", text="", token_ids=(), rows=[("y", "2"), ("z", "3"), ("w", "4")])
    held = d.held_out(queries, older, [won, lost], [won], "qa", target)
    assert asked == [[("q1", "a1"), ("q3", "a3")], [("o0", "b0"), ("o3", "b3")]]  # answered, capped, spread evenly
    assert held == [("r:q1", "a1"), ("r:q3", "a3"), ("r:o0", "b0"), ("r:o3", "b3"), ("y", "2"), ("z", "3")]
    assert d.held_out(queries, older, [won, lost], [won], "implications", target)[-1] == ("r:o3", "b3")  # no dream rows


def test_older_queries_use_the_real_exact_match(setup):
    engine, _, _, target = setup
    d = _dreaming(engine, apply_steps=40, lr=3e-2)
    older = [(Q, "Rome")]
    tau_rows = d.evaluator(MEMORIES, [("Question: Where does Bob live?\nAnswer: Bob lives in", "Oslo")])
    assert d.exact_match(d.evaluator((), older), target) == 0.0  # a random model does not answer "Rome"
    # a dream that teaches "Oslo" for Bob: nothing older answered before, so nothing to lose
    committed, _, _, kept, *_ = d.apply([_dream(d, [("Question: Where does Bob live?\nAnswer: Bob lives in", "Oslo")])],
                                    tau_rows, d.tau(tau_rows, target), target, older=older)
    assert committed and math.isnan(kept)


def test_apply_anchor_keeps_tau_answers_distributed_as_before(setup):
    """apply_anchor > 0: the apply still learns the dream rows but moves tau's answer distributions less."""
    from agents.dream_ops import anchor_kl, answer_logprobs

    engine, _, _, target = setup
    before = _state(engine.model)
    out = {}
    for w in (0.0, 50.0):
        engine.model.load_state_dict(before)
        d = _dreaming(engine, lr=3e-2, apply_anchor=w)
        tau_rows = d.evaluator(MEMORIES, QUERIES)
        dream_rows = d._rows(UNRELATED)
        with torch.no_grad(), target.student():
            ref = [t.detach() for t in answer_logprobs(engine, tau_rows)]
            assert float(anchor_kl(engine, tau_rows, ref)) == pytest.approx(0.0, abs=1e-5)  # KL(p || p) = 0
        anchor = d.anchor(tau_rows, [], target)
        assert (anchor is None) == (w == 0)
        losses = d._train(target.params, [dream_rows] * 10, d.config.lr, target.student, anchor=anchor)
        with torch.no_grad(), target.student():
            out[w] = (losses, float(anchor_kl(engine, tau_rows, ref)))
    (plain_losses, plain_kl), (anch_losses, anch_kl) = out[0.0], out[50.0]
    assert plain_losses[-1] < plain_losses[0] and anch_losses[-1] < anch_losses[0]  # the dream is learnt either way
    assert plain_kl > 1e-3 and anch_kl < 0.5 * plain_kl


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "1"])
def test_apply_anchor_must_be_a_finite_weight(bad):
    from agents.dream_config import DreamingConfig

    with pytest.raises(ValueError, match="apply_anchor"):
        DreamingConfig(apply_anchor=bad)


def test_apply_anchor_off_draws_no_older_rows_and_on_caps_answer_tokens(setup):
    """apply_anchor 0 reads the older queries no more than before the anchor existed (no extra rng
    draw when they exceed max_eval_queries); the anchor's rows keep at most ANCHOR_TOKENS answer tokens."""
    from agents.dream_stages import ANCHOR_TOKENS

    engine, _, _, target = setup
    older = [(f"Question: Where does person {i} live?\nAnswer: Person {i} lives in", f"Town{i}") for i in range(6)]
    for w in (0.0, 1.0):
        d = _dreaming(engine, apply_anchor=w, apply_guard="tau", max_eval_queries=2, lr=1e-3)
        calls = []
        real = d.evaluator
        d.evaluator = lambda memories, queries: calls.append(len(list(queries))) or real(memories, queries)
        tau_rows = real(MEMORIES, QUERIES)
        d.apply([_dream(d, ALIGNED)], tau_rows, d.tau(tau_rows, target), target, older=older)
        assert calls == ([] if w == 0 else [6])  # the older queries are read (and subsampled) only for the anchor
    long_row = (tau_rows[0][0], list(range(5, 5 + 3 * ANCHOR_TOKENS)))  # e.g. an ARC grid answer
    a = d.anchor([long_row], tau_rows, target)
    assert [len(c) for _, c in a.rows] == [ANCHOR_TOKENS] + [min(len(c), ANCHOR_TOKENS) for _, c in tau_rows]
    assert [tuple(r.shape) for r in a.ref] == [(len(c), engine.model.config.vocab_size) for _, c in a.rows]


def test_resuming_a_dreaming_state_with_another_anchor_warns(setup):
    engine, _, _, _ = setup
    d = _dreaming(engine)  # default apply_anchor 1.0
    state = d.state_dict()
    assert state["apply_anchor"] == 1.0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d.load_state_dict(state)  # same anchor: silent
    old = {k: v for k, v in state.items() if k != "apply_anchor"}  # a state written before the field existed
    with pytest.warns(RuntimeWarning, match=r"before the field existed.*apply_anchor: 0"):
        d.load_state_dict(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _dreaming(engine, apply_anchor=0.0).load_state_dict(old)  # continued as it started: silent
