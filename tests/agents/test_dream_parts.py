"""Dreaming's pure parts (agents/dream_parts.py, agents/dream_config.py): selection, parsing, grounding, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.dreaming import DreamingConfig, gradient_alignment, grounded, load_dreaming_config, parse_dream, select_dreams

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
Q = "Question: Where does Ann live?\nAnswer: Ann lives in"


def test_gradient_alignment_values():
    g, r = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0])
    assert gradient_alignment(g, r) == pytest.approx(1.0)
    assert gradient_alignment(torch.tensor([0.0, 3.0]), r) == pytest.approx(0.0)
    assert gradient_alignment(-g, r) == pytest.approx(-1.0)
    assert gradient_alignment(g, r, "dot") == pytest.approx(2.0)
    assert gradient_alignment(torch.tensor([3.0, 4.0]), r, "norm") == pytest.approx(5.0)
    assert gradient_alignment(torch.zeros(2), r) == 0.0
    assert gradient_alignment(torch.tensor([float("nan"), 0.0]), r) == float("-inf")
    with pytest.raises(ValueError, match="kind"):
        gradient_alignment(g, r, "bogus")


def test_select_dreams_keeps_topk_plus_b_random():
    scores = [0.1, 0.9, float("-inf"), 0.5, 0.3, 0.2]
    for seed in range(5):
        keep = select_dreams(scores, 2, 2, np.random.default_rng(seed))
        assert len(keep) == 4 and len(set(keep)) == 4
        assert keep[:2] == [1, 3]  # the top-2 by score, best first
        assert set(keep[2:]) <= {0, 2, 4, 5}
    assert select_dreams(scores, 10, 3, np.random.default_rng(0)) == [1, 3, 4, 5, 0, 2]  # capped at len
    assert select_dreams([0.2, 0.1], 0, 1, np.random.default_rng(0)) in ([0], [1])


def test_parse_dream_never_raises_and_reads_each_template():
    text = "Question: Where does Ann live?\nAnswer: Ann lives in Rome.\nQuestion: Who lives in Oslo?\nAnswer: Bob"
    assert parse_dream(text, "qa") == [("Question: Where does Ann live?\nAnswer:", "Ann lives in Rome."),
                                       ("Question: Who lives in Oslo?\nAnswer:", "Bob")]
    assert parse_dream("Q: Who is Ann?\nThe answer is a baker\nQuestion: x?\nWhatever", "qa") == [
        ("Question: Who is Ann?\nAnswer:", "a baker")]
    assert parse_dream("1. Ann lives in Rome.\n2. Rome\n- Bob likes the sea", "implications") == [
        ("Recall what you know.\nAnswer:", "Ann lives in Rome."), ("Recall what you know.\nAnswer:", "Bob likes the sea")]
    arc = parse_dream("Input:\n01\n10\nOutput:\n10\n01\n", "arc")
    assert len(arc) == 1 and arc[0][1] == "10\n01" and "01\n10" in arc[0][0]
    # question and answer on one line after "?" (SmolLM2-135M writes this), several pairs in a row
    assert parse_dream("Question: Where does Ann live? Answer: Rome Question: Who? Answer: Bob lives in Oslo\n", "qa") == [
        ("Question: Where does Ann live?\nAnswer:", "Rome"), ("Question: Who?\nAnswer:", "Bob lives in Oslo")]
    assert parse_dream("Question: Is it Ann. Answer: no", "qa") == []  # one line without "?" is not a pair
    for garbage in ("", "\x00\x01 ??", "Question: only a question", "Answer: x", None, 42):
        for template in ("qa", "arc"):
            assert parse_dream(garbage, template) == []
    assert len(parse_dream("\n".join(f"line number {i} here" for i in range(20)), "implications", max_rows=3)) == 3
    with pytest.raises(ValueError, match=r"template must be one of \['arc', 'implications', 'qa'\], got 'poem'"):
        parse_dream("Question: Where? Answer: Rome", "poem")  # a caller's mistake raises; bad text never does


def test_grounded_keeps_what_one_memory_line_states():
    memories = ("Kailgul Griwood has a pet owl.\nNarnoun Garcroft lives in Kaidousvale.",
                "Question: What does Prosbak Locroft do for a living?\nAnswer: Prosbak Locroft works as gardener")
    cases = [
        ("What pet does Kailgul Griwood have?", "Kailgul Griwood has a pet owl", True),
        ("What pet does Kailgul Griwood have?", "Kailgul Griwood has a pet cat", False),  # a dreamt pet
        ("Where does Narnoun Garcroft live?", "Narnoun Garcroft lives in Kaidusvale", False),  # misspelt town
        ("Where does Narnoun Garcroft live?", "Kaidousvale", True),
        ("What is Prosbak Locroft's job?", "gardener", True),  # an answered query in the memory counts
        ("What is Prosbak Locroft's job?", "Narnoun Garcroft", False),  # another line's words
        ("Where does Prosbak live?", "Kaidousvale", False),  # right town, wrong person
        ("Who has an owl?", "Kailgul Griwood", True),
        ("Who has an owl?", "Narnoun Garcroft", False),
        ("Where does Narnoun Garcroft live?", "Narnoun Garcroft", False),  # claims nothing new
    ]
    assert [grounded(q, a, memories) for q, a, _ in cases] == [want for _, _, want in cases]
    assert grounded("Where?", "Rome", ()) is False


def test_words_of_any_script_are_words():
    """A name or answer with non-ASCII letters ("Köln") is one word for grounding and the context reader."""
    from agents.prompting import ContextReader, content_words

    assert content_words("Ann lives in Köln near Zürich.") == {"ann", "lives", "köln", "near", "zürich"}
    assert content_words("Lee's home-town is Oslo") == {"lee", "home-town", "oslo"}  # ASCII: as before
    assert content_words("Ann lives in Ko\u0308ln") == {"ann", "lives", "köln"}  # base letter + combining mark: NFC
    memories = ("Åsa Lindqvist lives in Köln.\nAnn Lee lives in Rome.",)
    assert grounded("Where does Åsa Lindqvist live?", "Köln", memories) is True
    assert grounded("Where does Åsa Lindqvist live?", "Rome", memories) is False  # another person's town
    assert grounded("Where does Ann Lee live?", "Köln", memories) is False
    assert grounded("Where does Åsa Lindqvist live?", "Ko\u0308ln", memories) is True  # the same word, decomposed
    assert ContextReader().select(memories[0], "Where does Åsa Lindqvist live?") == "Åsa Lindqvist lives in Köln."


def test_config_validation_names_the_field():
    for kw, field in [({"dreams": 0}, "dreams"), ({"lr": 0.0}, "lr"), ({"top_k": 0, "random_extra": 0}, "top_k"),
                      ({"template": "poem"}, "template"), ({"evaluator": "f1"}, "evaluator"),
                      ({"min_improvement": -1.0}, "min_improvement"), ({"random_extra": -1}, "random_extra"),
                      ({"answers": "oracle"}, "answers"), ({"apply_guard": "none"}, "apply_guard"),
                      ({"grounding": "model"}, "grounding")]:
        with pytest.raises(ValueError, match=field):
            DreamingConfig(**kw)


def test_paper_example_configs_load():
    squad = load_dreaming_config(CONFIGS / "dreaming_squad.yaml")
    arc = load_dreaming_config(CONFIGS / "dreaming_arc.yaml")
    assert squad.dreams == 5 and squad.template == "implications"
    assert arc.dreams == 60 and arc.top_k + arc.random_extra == 60 - 45 and arc.template == "arc"
    facts = load_dreaming_config(CONFIGS / "dreaming_facts.yaml")
    assert facts.template == "qa"


def test_load_dreaming_config_names_a_bad_key(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("dreaming: {lr: 1e-3, generator_lr: 5.0e-4}\n")  # YAML 1.1 reads 1e-3 as a string
    assert load_dreaming_config(path).lr == 0.001 and load_dreaming_config(path).generator_lr == 0.0005
    path.write_text("dreaming: {lr: fast}\n")
    with pytest.raises(ValueError, match=r"dreaming\.lr must be a number, got 'fast'"):
        load_dreaming_config(path)
    path.write_text("dreaming: {seed: -1}\n")
    with pytest.raises(ValueError, match=r"d\.yaml: dreaming: seed must be an int >= 0, got -1"):
        load_dreaming_config(path)
    path.write_text("dreaming: {dreams: 3, dreamz: 4}\n")
    with pytest.raises(ValueError, match="dreamz"):
        load_dreaming_config(path)
    path.write_text("sleep: {steps: 3}\n")
    with pytest.raises(ValueError, match="dreaming"):
        load_dreaming_config(path)


def test_min_retention_is_checked():
    for bad in (True, "high", None, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="min_retention"):
            DreamingConfig(min_retention=bad)
    assert DreamingConfig(min_retention=0).min_retention == 0 and DreamingConfig().min_retention == 1.0


def test_cloze_pairs_take_the_first_usable_occurrence_and_skip_questions_and_labels():
    from agents.dream_parts import cloze_pairs

    memories = ["Rome Rome", "Answer: Rome, and Ann lives in Rome.", "Question: Is it Rome?", "C++ is used by Bo's team: C++",
                "Bo works as a baker.\nAnswer: baker"]
    queries = [("q1", "Rome"), ("q2", "C++"), ("q3", "baker"), ("q4", None), ("q5", "  ")]
    got = cloze_pairs(memories, queries)  # "C++": at the line's start, then after a label ":" -> none
    assert got == [("Rome", "Rome"), ("Answer: Rome, and Ann lives in", "Rome"), ("Bo works as a", "baker")]
    assert cloze_pairs(memories, queries, limit=1) == got[:1] and cloze_pairs(memories, queries, limit=0) == []
    assert cloze_pairs(["Ann lives in Romeo."], [("q", "Rome")]) == []  # whole words only
    # a question before the answer on its line: skipped (it tests the question format)
    lines = ["Where does Ann live? Rome", "Where does Ann live? - Rome", 'She asked "Where does Ann live?" Rome.',
             "Where does Ann live？ Rome", "Ann lives in Rome."]
    assert cloze_pairs(lines, [("q", "Rome")]) == [("Ann lives in", "Rome")]


@pytest.mark.parametrize("memories, queries, limit, error, match", [
    ("Ann lives in Rome.", [("q", "Rome")], None, TypeError, "memories must be a sequence of strings"),
    (["x"], ["Rome"], None, TypeError, "queries must hold"),
    (["x"], [("q", 5)], None, TypeError, r"got \('q', 5\)"),
    (["x"], [("q", "x")], -1, ValueError, "limit must be None or an int >= 0, got -1"),
])
def test_cloze_pairs_refuse_bad_input_by_name(memories, queries, limit, error, match):
    from agents.dream_parts import cloze_pairs

    with pytest.raises(error, match=match):
        cloze_pairs(memories, queries, limit)


@pytest.mark.parametrize("field", ["recall_guard", "random_expert", "gradient_selection", "rest_em"])
def test_switches_must_be_bools(field):
    with pytest.raises(ValueError, match=f"{field} must be True or False, got 'false'"):
        DreamingConfig(**{field: "false"})


def test_cloze_pairs_read_generators_once_and_name_none():
    from agents.dream_parts import cloze_pairs

    memories, queries = ["Ann Lee lives in Rome."], [("q", "Rome")]
    assert cloze_pairs((m for m in memories), (q for q in queries)) == [("Ann Lee lives in", "Rome")]
    with pytest.raises(TypeError, match="memories must be a sequence of strings, got None|memories must be a sequence"):
        cloze_pairs(None, queries)
    with pytest.raises(TypeError, match="queries must be a collection of"):
        cloze_pairs(memories, None)


@pytest.mark.parametrize("kw", [{"top_k": 1.5}, {"random_extra": True}, {"top_k": "1"}])
def test_kept_counts_must_be_ints(kw):
    (name, value), = kw.items()
    with pytest.raises(ValueError, match=f"{name} must be an int >= 0, got {value!r}"):
        DreamingConfig(**kw)


def test_rewording_parts_refuse_bad_input_by_name_and_never_raise_on_model_output():
    from agents.dream_parts import parse_rewording, split_question
    from agents.dream_stages import held_out_pairs

    with pytest.raises(TypeError, match="prompt must be a string, got None"):
        split_question(None)
    with pytest.raises(TypeError, match="question must be a string"):
        parse_rewording("Where is Ann?", None)
    with pytest.raises(TypeError, match="dreams must be a sequence of Dream"):
        held_out_pairs(None, [])
    with pytest.raises(TypeError, match="applied must be a sequence of Dream"):
        held_out_pairs([], ["x"])
    for text in (None, 5, ["x"], "", "\n", "?" * 300, " ?"):  # model output is data
        assert parse_rewording(text, "Where does Ann live?") is None
    # names: possessives, any script, a first word that is a name; openers are not names
    assert parse_rewording(" What is Ann Lee's pet?", "What pet does Ann Lee own?") == "What is Ann Lee's pet?"
    assert parse_rewording(" Where is the home?", "Where does Élodie live?") is None
    assert parse_rewording(" Where is Élodie's home?", "Where does Élodie live?") == "Where is Élodie's home?"
    assert parse_rewording(" Who's home is Rome?", "Ann lives where?") is None
    assert parse_rewording(" Which town is Ann's?", "Ann lives where?") == "Which town is Ann's?"


def test_the_extra_guards_need_the_exact_apply_guard():
    for name in ("recall_guard", "heldout_guard"):
        with pytest.raises(ValueError, match=rf"{name} needs apply_guard='exact'.*set apply_guard: exact or {name}: false"):
            DreamingConfig(apply_guard="tau", **{name: True})
        assert getattr(DreamingConfig(**{name: True}), name) is True


def test_agents_dreaming_re_exports_the_public_parts():
    import agents.dream_parts
    import agents.dreaming

    missing = [n for n in agents.dream_parts.__all__ if not hasattr(agents.dreaming, n)]
    assert missing == []


def test_select_dreams_refuses_bad_counts():
    rng = np.random.default_rng(0)
    assert select_dreams([0.1, 0.9, 0.5], np.int64(1), 0, rng) == [1]
    for k, b, name in ((-1, 0, "k"), (1.5, 0, "k"), (True, 0, "k"), (1, -2, "b"), (1, None, "b")):
        with pytest.raises(ValueError, match=rf"{name} must be an int >= 0"):
            select_dreams([0.1, 0.9], k, b, rng)


def test_load_dreaming_config_refuses_a_yaml_list(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("- dreams: 4\n")
    with pytest.raises(ValueError, match=r"expected a YAML mapping with a 'dreaming:' key, got a list"):
        load_dreaming_config(path)
    path.write_text("dreams: 4\ntop_k: 1\n")  # the fields without the dreaming: key
    with pytest.raises(ValueError, match=r"no 'dreaming:' key \(found \['dreams', 'top_k'\] at the top level: nest them under dreaming:\)"):
        load_dreaming_config(path)
