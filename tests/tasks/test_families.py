"""Registry-wide properties of every task family (reasoning-gym's contract, issue 4).

For every family (with a fixture where a file is needed): the gold answer scores 1.0 for 50
indices, empty or garbage answers score < 0.5 (0.0 for exact-match families), any string scores in
[0, 1] without raising, ``problem(seed, idx)`` is a pure function (same inputs, same problem; a
different seed, different problems), and no probe or query appears verbatim in the study texts of
its experience.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import list_tasks, make_task

FIXTURES = Path(__file__).parent / "fixtures"

# (id, registry name, kwargs, exact-match scorer?)
FAMILIES = [
    ("facts", "facts", {}, True),
    ("facts-updates", "facts", {"updates": 0.4}, True),
    ("squad", "squad", {}, False),
    ("squad-em", "squad", {"metric": "em"}, True),
    ("intents", "intents", {"n_classes": 6}, True),
    ("intents-clinc-file", "intents", {"path": str(FIXTURES / "intents_clinc_style.json"), "n_classes": 6}, True),
    ("intents-banking-file", "intents", {"path": str(FIXTURES / "intents_banking_style.csv"), "n_classes": 3}, True),
    ("babi", "babi", {}, True),
    ("babi-filler", "babi", {"filler": 300}, True),
    ("cipher", "cipher", {}, False),
    ("cipher-from-english", "cipher", {"direction": "from_english"}, False),
    ("arc", "arc", {}, True),
    ("arc-evaluation", "arc", {"split": "evaluation"}, True),
    ("rg-basic-arithmetic", "rg:basic_arithmetic", {}, False),
    ("rg-leg-counting", "rg:leg_counting", {}, False),
    ("rg-word-sorting", "rg:word_sorting", {}, False),
]
IDS = [f[0] for f in FAMILIES]
GARBAGE = (
    "", " ", "\n", "zzzz qqqq", "???", "\x00\x01", "日本語の答え", "Answer:", "a the an", "0" * 500,
    "Question: What?\nAnswer:", "\ud800", "\U0001f600" * 50,
)  # fmt: skip
N_GOLD = 50
_CACHE: dict[str, object] = {}


def _task(fid: str):
    if fid not in _CACHE:
        _, name, kwargs, _ = next(f for f in FAMILIES if f[0] == fid)
        _CACHE[fid] = make_task(name, **kwargs)
    return _CACHE[fid]


def test_every_registered_family_is_covered():
    covered = {name.split(":")[0] + (":" if ":" in name else "") for _, name, _, _ in FAMILIES}
    assert set(list_tasks()) <= covered


@pytest.mark.parametrize("fid", IDS)
def test_gold_answer_scores_one_for_50_indices(fid):
    task = _task(fid)
    for seed in (0, 7):
        for i in range(N_GOLD):
            for p in (task.problem(seed, i), task.probe(seed, i)):
                assert task.score(p, p.answer) == 1.0, (fid, seed, i, p)
                assert isinstance(p.answer, str) and p.answer.strip()


@pytest.mark.parametrize("fid", IDS)
def test_garbage_scores_low_and_never_raises(fid):
    exact = next(f[3] for f in FAMILIES if f[0] == fid)
    task = _task(fid)
    for i in range(12):
        p = task.problem(3, i)
        for junk in (*GARBAGE, None, 3, b"bytes"):
            score = task.score(p, junk)
            assert type(score) is float and 0.0 <= score < 0.5, (fid, junk, score, p.answer)
            if exact:
                assert score == 0.0, (fid, junk, score)
        assert task.score(p, "") == 0.0


@pytest.mark.parametrize("fid", IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=st.text(max_size=300), idx=st.integers(0, 40))
def test_any_string_scores_in_unit_interval(fid, response, idx):
    task = _task(fid)
    p = task.probe(11, idx)
    score = task.score(p, response)
    assert type(score) is float and 0.0 <= score <= 1.0
    assert 0.0 <= task.score(p, p.answer + response) <= 1.0


@pytest.mark.parametrize("fid", IDS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), idx=st.integers(0, 2000))
def test_problem_is_a_pure_function(fid, seed, idx):
    _, name, kwargs, _ = next(f for f in FAMILIES if f[0] == fid)
    warm = _task(fid)
    fresh = make_task(name, **kwargs)  # a new instance, no cache: the same problem
    assert fresh.problem(seed, idx) == warm.problem(seed, idx) == warm.problem(seed, idx)
    assert fresh.probe(seed, idx) == warm.probe(seed, idx)


@pytest.mark.parametrize("fid", IDS)
def test_order_of_calls_does_not_matter(fid):
    _, name, kwargs, _ = next(f for f in FAMILIES if f[0] == fid)
    a, b = make_task(name, **kwargs), make_task(name, **kwargs)
    forward = [a.problem(5, i) for i in range(20)]
    assert [b.problem(5, i) for i in reversed(range(20))][::-1] == forward


@pytest.mark.parametrize("fid", IDS)
def test_different_seeds_give_different_problems(fid):
    task = _task(fid)
    for s1, s2 in ((0, 1), (1, 2), (12345, 54321)):
        a = [task.problem(s1, i) for i in range(10)]
        b = [task.problem(s2, i) for i in range(10)]
        assert a != b
        assert sum(x.prompt == y.prompt and x.context == y.context for x, y in zip(a, b)) <= 3


@pytest.mark.parametrize("fid", IDS)
def test_problem_fields(fid):
    _, name, _, _ = next(f for f in FAMILIES if f[0] == fid)
    task = _task(fid)
    for i in range(20):
        p = task.problem(2, i)
        assert p.task == name and p.idx == i
        for text in (p.prompt, p.answer, p.context):
            assert isinstance(text, str) and text.strip()
            assert set(text) <= task.charset, set(text) - task.charset
        assert p.prompt.startswith("Question: ")


@pytest.mark.parametrize("fid", IDS)
@pytest.mark.parametrize("seed", [0, 99])
def test_no_probe_or_query_verbatim_in_study_texts(fid, seed):
    task = _task(fid)
    n_study = 12
    study = [task.problem(seed, i).context for i in range(n_study)]
    blob = "\n".join(study)
    for i in range(n_study):
        for p in (task.problem(seed, i), task.probe(seed, i)):
            assert p.prompt not in blob, (fid, p.prompt)
            question = p.prompt.removeprefix("Question: ").rsplit("\nAnswer:", 1)[0]
            assert question not in blob, (fid, question)


@pytest.mark.parametrize("fid", IDS)
def test_probe_differs_from_the_query(fid):
    task = _task(fid)
    differ = [task.probe(0, i).prompt != task.problem(0, i).prompt for i in range(20)]
    assert all(differ)
