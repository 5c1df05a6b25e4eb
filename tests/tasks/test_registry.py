"""Registry API and registry-wide properties of every task (reasoning-gym's contract)."""

import string

import pytest

import tasks
from tasks import FactsTask, Problem, Task, list_tasks, make_task, register
from tasks import registry as registry_module

SEEDS = (0, 1, 12345)
N_ITEMS = 24
GARBAGE = (
    "", " ", "\n", "zzzz qqqq", "???", "\x00\x01", "日本語の答え", "Answer:", "a the an", "0" * 500,
)  # fmt: skip
PRINTABLE = set(string.printable) - set("\t\r\x0b\x0c")  # printable ASCII + space + newline


@pytest.fixture
def clean_registry(monkeypatch):
    """Let a test register names without leaking them into other tests."""
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))


class _Echo(Task):
    name = "echo"

    def problem(self, seed, idx):
        return Problem(task=self.name, idx=idx, prompt="Say x", answer="x", context="x")

    def score(self, problem, response):
        return float(response == problem.answer)


# ---- API ---------------------------------------------------------------------------------------


def test_public_names_importable():
    for name in tasks.__all__:
        assert getattr(tasks, name) is not None
    assert set(tasks.__all__) >= {
        "Problem", "Task", "make_task", "register", "list_tasks", "FactsTask", "normalize_answer",
    }  # fmt: skip


def test_facts_is_registered():
    assert "facts" in list_tasks()
    assert isinstance(make_task("facts"), FactsTask)


def test_make_task_passes_kwargs():
    task = make_task("facts", n_entities=7, attributes=("pet",))
    assert task.n_entities == 7 and task.attributes == ("pet",)


def test_make_task_returns_fresh_instances():
    assert make_task("facts") is not make_task("facts")


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown task name 'nope'.*known tasks: .*'facts'"):
        make_task("nope")


def test_list_tasks_sorted(clean_registry):
    register("aaa", _Echo)
    names = list_tasks()
    assert names == sorted(names) and "aaa" in names


def test_register_then_make(clean_registry):
    register("echo", _Echo)
    assert isinstance(make_task("echo"), _Echo)
    register("echo", _Echo)  # same class again: a no-op


def test_register_rejects_conflicts_and_bad_input(clean_registry):
    with pytest.raises(ValueError, match="already registered"):
        register("facts", _Echo)
    with pytest.raises(ValueError, match="subclass of tasks.Task"):
        register("x", FactsTask())
    with pytest.raises(ValueError, match="subclass of tasks.Task"):
        register("x", dict)
    with pytest.raises(ValueError, match="non-empty string"):
        register("", _Echo)


def test_registration_is_scoped_by_fixture():
    assert "echo" not in list_tasks() and "aaa" not in list_tasks()


# ---- Registry-wide properties ------------------------------------------------------------------


@pytest.mark.parametrize("name", list_tasks())
def test_oracle_answer_scores_one(name):
    task = make_task(name)
    for seed in SEEDS:
        for i in range(N_ITEMS):
            p = task.problem(seed, i)
            assert task.score(p, p.answer) == 1.0, (seed, i, p)
            q = task.probe(seed, i)
            assert task.score(q, q.answer) == 1.0, (seed, i, q)


@pytest.mark.parametrize("name", list_tasks())
def test_garbage_scores_zero_and_never_raises(name):
    task = make_task(name)
    for seed in SEEDS:
        for i in range(N_ITEMS):
            p = task.problem(seed, i)
            for junk in GARBAGE:
                score = task.score(p, junk)
                assert type(score) is float and score == 0.0, (junk, p)


@pytest.mark.parametrize("name", list_tasks())
def test_scores_are_in_unit_interval(name):
    task = make_task(name)
    p = task.problem(0, 0)
    for response in (p.answer, p.answer + " and more", p.prompt, p.context):
        assert 0.0 <= task.score(p, response) <= 1.0


@pytest.mark.parametrize("name", list_tasks())
def test_item_is_pure_function_of_seed_and_idx(name):
    a, b = make_task(name), make_task(name)
    for seed in SEEDS:
        forward = [a.problem(seed, i) for i in range(N_ITEMS)]
        backward = [b.problem(seed, i) for i in reversed(range(N_ITEMS))][::-1]
        assert forward == backward
        assert [a.probe(seed, i) for i in range(N_ITEMS)] == [
            make_task(name).probe(seed, i) for i in range(N_ITEMS)
        ]


@pytest.mark.parametrize("name", list_tasks())
def test_problem_fields(name):
    task = make_task(name)
    for i in range(N_ITEMS):
        p = task.problem(3, i)
        assert p.task == name and p.idx == i
        for text in (p.prompt, p.answer, p.context):
            assert isinstance(text, str) and text
            assert set(text) <= PRINTABLE, text
