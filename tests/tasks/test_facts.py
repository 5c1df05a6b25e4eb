"""FactsTask: fictional people, cloze prompts, held-out probes and exact-match scoring."""

import re
import string

import numpy as np
import pytest

from tasks import FactsTask, make_task, normalize_answer
from tasks import facts as facts_module
from tasks.facts import ATTRIBUTES, JOBS, PETS
from tasks.names import make_town

PRINTABLE = set(string.printable) - set("\t\r\x0b\x0c")  # printable ASCII + space + newline
NAME = re.compile(r"^[A-Z][a-z]+ [A-Z][a-z]+$")
TOWN = re.compile(r"^[A-Z][a-z]+$")


@pytest.fixture
def task():
    return FactsTask()


# ---- Item layout -------------------------------------------------------------------------------


def test_item_layout(task):
    for idx in range(12):
        p = task.problem(5, idx)
        assert p.metadata["entity_index"] == idx // 3
        assert p.metadata["attribute"] == ATTRIBUTES[idx % 3]
        name, values = task.entity(5, idx // 3)
        assert p.metadata["entity"] == name
        assert p.answer == values[p.metadata["attribute"]]


def test_templates(task):
    city, job, pet = (task.problem(0, i) for i in range(3))
    name = city.metadata["entity"]
    assert city.context == f"{name} lives in {city.answer}."
    assert city.prompt == f"Question: Where does {name} live?\nAnswer: {name} lives in"
    article = "an" if job.answer[0] in "aeiou" else "a"
    assert job.context == f"{name} works as {article} {job.answer}."
    assert job.prompt == f"Question: What does {name} do for a living?\nAnswer: {name} works as"
    assert pet.context == f"{name} has a pet {pet.answer}."
    assert pet.prompt == f"Question: What pet does {name} have?\nAnswer: {name} has a pet"


def test_article_for_vowel_jobs():
    task = FactsTask(n_entities=200, attributes=("job",))
    contexts = [task.problem(0, i).context for i in range(200)]
    assert any(" works as an engineer." in c or " works as an architect." in c for c in contexts)
    assert not any(re.search(r" works as a [aeiou]", c) for c in contexts)


def test_values_come_from_pools(task):
    for e in range(50):
        name, values = task.entity(9, e)
        assert NAME.match(name), name
        assert TOWN.match(values["city"]), values["city"]
        assert values["job"] in JOBS and values["pet"] in PETS


def test_pools_are_one_word_and_unique():
    assert len(JOBS) >= 20 and len(set(JOBS)) == len(JOBS)
    assert len(PETS) >= 20 and len(set(PETS)) == len(PETS)
    for word in JOBS + PETS:
        assert re.fullmatch(r"[a-z]+", word), word


def test_values_do_not_depend_on_attribute_choice():
    full, pets_only = FactsTask(), FactsTask(attributes=("pet",))
    for e in range(10):
        assert pets_only.problem(2, e).answer == full.problem(2, 3 * e + 2).answer
        assert pets_only.problem(2, e).metadata["entity"] == full.entity(2, e)[0]


def test_entity_rng_is_seeded_by_seed_and_entity():
    # Values are the first draws of np.random.default_rng([seed, entity]) (never seed + idx).
    rng = np.random.default_rng([4, 7])
    expected_town = make_town(rng)
    assert FactsTask().entity(4, 7)[1]["city"] == expected_town
    # seed + entity aliasing: (4, 7) and (7, 4) and (5, 6) are different people.
    names = {FactsTask().entity(s, e)[0] for s, e in [(4, 7), (7, 4), (5, 6)]}
    assert len(names) == 3


# ---- Names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 99])
def test_names_unique_within_a_seed(seed):
    task = FactsTask(n_entities=50)
    names = [task.problem(seed, 3 * e).metadata["entity"] for e in range(50)]
    assert len(set(names)) == 50


def test_different_seeds_give_different_names():
    task = FactsTask()
    a = [task.entity(0, e)[0] for e in range(50)]
    b = [task.entity(1, e)[0] for e in range(50)]
    assert a != b
    assert len(set(a) & set(b)) <= 2


def test_name_collisions_are_redrawn_deterministically(monkeypatch):
    # Force collisions with a tiny name pool; uniqueness must hold and stay a function of (seed, e).
    pool = ["Ab Cd", "Ef Gh", "Ij Kl", "Mn Op"]
    monkeypatch.setattr(facts_module, "make_name", lambda rng: pool[int(rng.integers(len(pool)))])
    first = [FactsTask().entity(3, e)[0] for e in range(4)]
    assert sorted(first) == sorted(pool)
    again = FactsTask()
    assert [again.entity(3, e)[0] for e in reversed(range(4))][::-1] == first


def test_entity_accessible_in_any_order():
    a, b = FactsTask(), FactsTask()
    assert a.entity(0, 30) == b.entity(0, 30)
    assert [a.entity(0, e) for e in range(31)] == [b.entity(0, e) for e in range(31)]


# ---- Probes ------------------------------------------------------------------------------------


def test_probe_same_fact_different_prompt(task):
    for idx in range(30):
        p, q = task.problem(11, idx), task.probe(11, idx)
        assert q.answer == p.answer and q.context == p.context and q.metadata == p.metadata
        assert q.prompt != p.prompt
        assert q.prompt.startswith("Question: ") and "\nAnswer: " in q.prompt
        assert p.metadata["entity"] in q.prompt


# ---- Text hygiene ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 2**31])
def test_every_string_is_printable_ascii(seed):
    task = FactsTask()
    for idx in range(60):
        for p in (task.problem(seed, idx), task.probe(seed, idx)):
            for text in (p.prompt, p.answer, p.context, p.metadata["entity"]):
                assert set(text) <= PRINTABLE, text
            assert "\n" not in p.answer and "\n" not in p.context
            assert not p.prompt.endswith((" ", "\n"))


def test_answer_survives_normalisation(task):
    for idx in range(60):
        answer = task.problem(0, idx).answer
        assert normalize_answer(answer) == answer.lower()


# ---- Scoring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "exact", "contains"),
    [
        ("{a}", 1.0, 1.0),
        (" {a}", 1.0, 1.0),
        (" {A}.", 1.0, 1.0),
        ("{a}\nQuestion: something else", 1.0, 1.0),
        ("  the {a}, I think", 1.0, 1.0),
        (" a {a}!", 1.0, 1.0),
        ("{a}?", 1.0, 1.0),
        ("{a}s", 0.0, 0.0),  # whole words only
        ("x{a}", 0.0, 0.0),
        ("{a} {a}", 0.0, 1.0),
        ("the town of {a}.", 0.0, 1.0),
        ("\n{a}", 0.0, 0.0),  # the first line is empty
        ("Somewhere, {a}", 0.0, 0.0),  # only the first clause counts
        ("", 0.0, 0.0),
        ("...", 0.0, 0.0),
        ("\u00e9\u00e8 {a}", 0.0, 1.0),
    ],
)
def test_score_cases_exact_and_contains(response, exact, contains):
    p = FactsTask().problem(0, 0)
    text = response.format(a=p.answer, A=p.answer.upper())
    assert FactsTask(match="exact").score(p, text) == exact
    assert FactsTask(match="contains").score(p, text) == contains


def test_match_option_validated():
    with pytest.raises(ValueError, match="match"):
        FactsTask(match="fuzzy")
    with pytest.raises(ValueError, match="probe_stem"):
        FactsTask(probe_stem="other")


def test_probe_stems():
    canonical, reworded = FactsTask().probe(0, 0), FactsTask(probe_stem="reworded").probe(0, 0)
    query = FactsTask().problem(0, 0)
    assert canonical.prompt.split("\n")[1] == query.prompt.split("\n")[1]  # same answer stem
    assert canonical.prompt.split("\n")[0] != query.prompt.split("\n")[0]  # reworded question
    assert reworded.prompt.split("\n")[1] != query.prompt.split("\n")[1]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("{a}", 1.0),
        (" {a}", 1.0),
        (" {A}.", 1.0),
        ("{a}\nQuestion: something else", 1.0),
        ("  the {a}, I think", 1.0),
        (" a {a}!", 1.0),
        ("{a}?", 1.0),
        ("{a}s", 0.0),
        ("{a} {a}", 0.0),
        ("\n{a}", 0.0),  # the first line is empty
        ("not {a}", 0.0),
        ("", 0.0),
        ("...", 0.0),
        ("\u00e9\u00e8 {a}", 0.0),
    ],
)
def test_score_cases(response, expected):
    task = FactsTask(match="exact")
    p = task.problem(0, 0)
    text = response.format(a=p.answer, A=p.answer.upper())
    assert task.score(p, text) == expected


def test_restating_the_stem_counts_only_under_contains():
    p = FactsTask().problem(0, 0)
    text = f"{p.metadata['entity']} lives in {p.answer}"
    assert FactsTask(match="exact").score(p, text) == 0.0
    assert FactsTask(match="contains").score(p, text) == 1.0


def test_score_never_raises(task):
    p = task.problem(0, 0)
    for junk in ["\x00", "\ud800", "\U0001f600" * 100, " " * 10_000, "\r\n", None, 3, b"bytes"]:
        assert task.score(p, junk) == 0.0


def test_other_entitys_value_scores_zero(task):
    p = task.problem(0, 0)
    others = {task.problem(0, 3 * e).answer for e in range(1, 20)} - {p.answer}
    assert others and all(task.score(p, o) == 0.0 for o in others)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Brastow", "brastow"),
        ("  a   Baker. ", "baker"),
        ("An owl!", "owl"),
        ("theatre", "theatre"),
        ("Zorvak's ferret", "zorvaks ferret"),
        ("", ""),
        ("\u00c9clair", "\u00e9clair"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


# ---- Construction and misuse -------------------------------------------------------------------


def test_len_and_defaults():
    task = FactsTask()
    assert task.n_entities == 4 and task.attributes == ("city", "job", "pet") and len(task) == 12
    assert len(FactsTask(n_entities=5, attributes=("job", "city"))) == 10


def test_indexing_past_len_gives_further_people():
    task = FactsTask(n_entities=1)
    assert task.problem(0, 5).metadata["entity_index"] == 1


def test_custom_attribute_order():
    task = FactsTask(attributes=("pet", "city"))
    assert [task.problem(0, i).metadata["attribute"] for i in range(4)] == ["pet", "city"] * 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_entities": 0},
        {"n_entities": -1},
        {"n_entities": 2.5},
        {"n_entities": True},
        {"attributes": ()},
        {"attributes": ("city", "city")},
        {"attributes": ("colour",)},
        {"attributes": "city"},
    ],
)
def test_bad_options_raise(kwargs):
    with pytest.raises(ValueError, match="must be"):
        FactsTask(**kwargs)


@pytest.mark.parametrize(("seed", "idx"), [(-1, 0), (0, -1), (0, 1.0), ("0", 0), (True, 0)])
def test_bad_seed_or_idx_raises(task, seed, idx):
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        task.problem(seed, idx)
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        task.probe(seed, idx)


def test_numpy_integers_accepted(task):
    assert task.problem(np.int64(3), np.int32(4)) == task.problem(3, 4)


def test_make_task_facts_matches_class():
    assert make_task("facts").problem(1, 2) == FactsTask().problem(1, 2)
