"""facts attribute updates and the squad family (knowledge incorporation)."""

from __future__ import annotations

import json

import pytest

from tasks import FactsTask, SquadTask
from tasks.squad import FIXTURE_PATH, load_squad, squad_f1

# ---- facts: attribute updates --------------------------------------------------------------------


def test_updates_zero_keeps_the_old_items():
    plain, zero = FactsTask(), FactsTask(updates=0.0)
    for i in range(30):
        a, b = plain.problem(4, i), zero.problem(4, i)
        assert (a.prompt, a.answer, a.context) == (b.prompt, b.answer, b.context)
        assert "update" not in b.metadata and b.metadata["key"] == f"{i // 3}.{('city', 'job', 'pet')[i % 3]}"


def test_updates_change_the_newest_value():
    task = FactsTask(updates=0.5)
    newest: dict[str, str] = {}
    n_updates = 0
    for i in range(200):
        p = task.problem(1, i)
        key = p.metadata["key"]
        if p.metadata.get("update"):
            n_updates += 1
            assert key in newest, "an update refers to an earlier fact"
            assert p.answer != newest[key], "an update changes the value"
            assert p.context.startswith(p.metadata["entity"])
            assert any(w in p.context for w in ("has moved to", "now works as", "now has a pet"))
        else:
            assert key not in newest, "a new fact is stated once"
        newest[key] = p.answer
    assert 70 <= n_updates <= 130  # about half of 199 (binomial, p = 0.5)


def test_update_probe_asks_the_same_question_with_the_new_value():
    task = FactsTask(updates=0.5)
    update = next(task.problem(0, i) for i in range(1, 50) if task.problem(0, i).metadata.get("update"))
    original = next(task.problem(0, i) for i in range(50)
                    if task.problem(0, i).metadata["key"] == update.metadata["key"])  # fmt: skip
    assert update.prompt == original.prompt and update.answer != original.answer
    probe = task.probe(0, update.idx)
    assert probe.answer == update.answer and task.score(probe, update.answer) == 1.0
    assert task.score(probe, original.answer) == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.3", True, None])
def test_updates_validated(bad):
    with pytest.raises(ValueError, match="updates must be a probability"):
        FactsTask(updates=bad)


# ---- squad ---------------------------------------------------------------------------------------


def test_fixture_loads_with_all_questions():
    paras = load_squad(FIXTURE_PATH)
    assert len(paras) == 12 and sum(len(p.questions) for p in paras) == 36
    raw = json.loads(FIXTURE_PATH.read_text())
    for article in raw["data"]:  # every answer is a span of its passage, as SQuAD v1.1 requires
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                for a in qa["answers"]:
                    assert para["context"][a["answer_start"]:].startswith(a["text"])


def test_squad_item_is_passage_plus_its_question():
    task = SquadTask()
    paras = {p.context: p for p in load_squad(FIXTURE_PATH)}
    seen = set()
    for i in range(12):  # one pass visits every paragraph once
        p, q = task.problem(0, i), task.probe(0, i)
        para = paras[p.context]
        seen.add(p.context)
        questions = {question: answers for _, question, answers in para.questions}
        assert p.prompt.removeprefix("Question: ").removesuffix("\nAnswer:") in questions
        assert q.context == p.context and q.prompt != p.prompt
        assert p.context not in p.prompt  # closed-book
    assert len(seen) == 12


@pytest.mark.parametrize(
    ("pred", "gold", "f1"),
    [("the Grey Sound", "Grey Sound", 1.0), ("grey sea", "the Grey Sound", 0.5), ("", "x", 0.0),
     ("about forty days", "about forty days", 1.0), ("forty", "about forty days", 0.5)],
)  # fmt: skip
def test_squad_f1_hand_computed(pred, gold, f1):
    assert squad_f1(pred, gold) == pytest.approx(f1)


def test_squad_scores_best_over_gold_answers_and_first_line_only():
    task = SquadTask()
    p = next(task.problem(0, i) for i in range(60) if len(task.problem(0, i).metadata["answers"]) > 1)
    for gold in p.metadata["answers"]:
        assert task.score(p, gold) == 1.0
    assert task.score(p, "\n" + p.answer) == 0.0
    assert SquadTask(metric="em").score(p, p.answer.upper() + ".") == 1.0


def test_squad_v2_impossible_questions_skipped(tmp_path):
    data = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Ab cd ef.", "qas": [
        {"id": "1", "question": "What?", "answers": [], "is_impossible": True},
        {"id": "2", "question": "Which?", "answers": [{"text": "cd", "answer_start": 3}]},
    ]}]}]}  # fmt: skip
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(data))
    task = SquadTask(path=path)
    assert {task.problem(0, i).prompt for i in range(5)} == {"Question: Which?\nAnswer:"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "1.1"}', r"the top level has no key 'data'"),
        ('{"data": [{"title": "x"}]}', r"data\[0\] has no key 'paragraphs'"),
        ('{"data": [{"paragraphs": [{"qas": []}]}]}', r"data\[0\].paragraphs\[0\] has no key 'context'"),
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q"}]}]}]}',
         r"data\[0\].paragraphs\[0\].qas\[0\] has no key 'answers'"),
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": [{}]}]}]}]}',
         r"qas\[0\].answers\[0\] has no key 'text'"),
        ('{"data": []}', "has no answerable question"),
        ("not json", "is not readable JSON"),
    ],
)  # fmt: skip
def test_malformed_squad_file_names_path_and_key(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    task = SquadTask(path=path)  # no parsing at construction
    with pytest.raises(ValueError, match=message) as info:
        task.problem(0, 0)
    assert str(path) in str(info.value)


def test_missing_squad_path_is_refused_at_construction(tmp_path):
    with pytest.raises(ValueError, match="path must be an existing SQuAD JSON file.*nope.json"):
        SquadTask(path=tmp_path / "nope.json")
    with pytest.raises(ValueError, match="metric"):
        SquadTask(metric="bleu")


def test_squad_charset_comes_from_the_file(tmp_path):
    data = {"data": [{"paragraphs": [{"context": "Zoë lives in Gävle.", "qas": [
        {"id": "1", "question": "Where does Zoë live?", "answers": [{"text": "Gävle", "answer_start": 13}]}]}]}]}  # fmt: skip
    path = tmp_path / "u.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    task = SquadTask(path=path)
    assert {"ë", "ä"} <= task.charset and "é" not in task.charset
    assert task.score(task.problem(0, 0), "Gävle") == 1.0
