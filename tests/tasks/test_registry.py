"""Registry API: register, make_task (including ``family:variant`` names), list_tasks."""

import pytest

import tasks
from tasks import FactsTask, Problem, Task, list_tasks, make_task, register
from tasks import registry as registry_module


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


# ---- Registry-wide properties: see test_families.py (every family, with fixtures) -----------------


def test_prefix_family_names():
    task = make_task("rg:basic_arithmetic")
    assert task.name == "rg:basic_arithmetic" and "rg:" in list_tasks()
    with pytest.raises(ValueError, match="needs a name after 'rg:'"):
        make_task("rg:")
    with pytest.raises(ValueError, match="reasoning-gym dataset name"):
        make_task("rg:no_such_generator")
    with pytest.raises(ValueError, match="unknown task name 'zz:x'"):
        make_task("zz:x")


def test_every_family_is_registered():
    assert set(list_tasks()) >= {"facts", "squad", "intents", "babi", "cipher", "arc", "rg:"}


def test_option_and_name_typos_get_did_you_mean() -> None:
    import pytest

    from tasks import make_task

    with pytest.raises(TypeError, match=r"task 'babi' has no option\(s\) \['fillr'\] \(did you mean 'filler'\?\); its options: .*filler"):
        make_task("babi", fillr=3)
    with pytest.raises(ValueError, match=r"did you mean 'facts'\?.*'rg:<name>'"):
        make_task("factz")
