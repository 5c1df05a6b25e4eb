"""Probes and the accuracy matrix: baseline at reset, one row per experience, deferral to wake."""

from __future__ import annotations

import numpy as np
import pytest

from sleep_env import TaskBoundary
from sleep_env.errors import InvalidAction, ResetNeeded, SleepEnvError
from sleep_env.stream import MAX_PROMPT_CHARS
from tests.sleep_env.sleep_env_testkit import OracleAgent, act, kv_env

T = 3


def _blank(env) -> None:
    env.submit_probes([""] * len(env.probe_prompts()))


def test_baseline_is_due_at_reset_and_fills_b_only() -> None:
    env = kv_env()
    _, info = env.reset(seed=0)
    assert info["probe_due"] is True
    assert np.isnan(env.baseline).all() and np.isnan(env.accuracy_matrix).all()
    _blank(env)
    assert env.baseline.tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(env.accuracy_matrix).all()
    with pytest.raises(SleepEnvError, match="no probe due"):
        _blank(env)


def test_one_row_per_experience_at_its_last_item() -> None:
    env = kv_env()
    _, info = env.reset(seed=0)
    _blank(env)
    due_at = []
    for step in range(1, 16):
        *_, info = env.step(act())
        if info["probe_due"]:
            due_at.append(step)
            rows_before = int((~np.isnan(env.accuracy_matrix).all(axis=1)).sum())
            _blank(env)
            R = env.accuracy_matrix
            assert int((~np.isnan(R).all(axis=1)).sum()) == rows_before + 1
            assert not np.isnan(R[info["experience"]]).any()
    assert due_at == [5, 10, 15]
    assert not np.isnan(env.accuracy_matrix).any()


def test_probe_set_covers_every_experience_closed_book() -> None:
    env = kv_env(n_probe=2)
    env.reset(seed=0)
    probes = env.probe_prompts()
    assert probes.experiences == (0, 0, 1, 1, 2, 2)
    assert probes.contexts == ("",) * 6
    assert all(p.startswith("what is ") for p in probes.prompts)


def test_probe_context_memory_shows_the_current_context() -> None:
    env = kv_env(probe_context="memory")
    env.reset(seed=0)
    obs, *_ = env.step(act())
    assert set(env.probe_prompts().contexts) == {obs["context"]} != {""}


def test_probe_is_deferred_to_the_wake_step_when_sleeping_at_the_boundary() -> None:
    env = kv_env(schedule=TaskBoundary(), probe_context="memory")
    agent = OracleAgent()
    obs, _ = env.reset(seed=0)
    _blank(env)
    for _ in range(4):
        obs, *_ = env.step(agent.act(obs))
    obs, *_, info = env.step(act(sleep=1))
    assert int(obs["kind"]) == 2 and info["probe_due"] is False
    with pytest.raises(SleepEnvError):
        _blank(env)
    obs, *_, info = env.step(act())
    assert info["probe_due"] is True and info["experience"] == 0 and info["model_version"] == 1
    env.submit_probes(
        agent.answer(list(env.probe_prompts().prompts), list(env.probe_prompts().contexts))
    )
    R = env.accuracy_matrix
    assert R[0].tolist() == [0.0, 0.0, 0.0]  # measured after the sleep cleared the context
    assert np.isnan(R[1:]).all()


def test_unsubmitted_probe_lapses_at_the_next_step() -> None:
    env = kv_env()
    env.reset(seed=0)
    env.step(act())
    with pytest.raises(SleepEnvError):
        _blank(env)
    assert np.isnan(env.baseline).all()


def test_wrong_answer_count_names_expected_and_got() -> None:
    env = kv_env()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="expected 9, got 2") as err:
        env.submit_probes(["a", "b"])
    assert isinstance(err.value, ValueError)  # InvalidAction is a ValueError too
    env.submit_probes(["x"] * 9)  # still due after the error


def test_probe_answer_longer_than_the_action_space_is_refused_by_name() -> None:
    env = kv_env()
    env.reset(seed=0)
    answers = ["x"] * 9
    answers[4] = "y" * (MAX_PROMPT_CHARS + 1)
    with pytest.raises(InvalidAction, match=rf"answers\[4\] has {MAX_PROMPT_CHARS + 1} characters"):
        env.submit_probes(answers)
    answers[4] = "y" * MAX_PROMPT_CHARS  # exactly the limit is an answer like any other (scored 0)
    env.submit_probes(answers)
    assert env.baseline.tolist() == [0.0, 0.0, 0.0]


def test_a_single_string_is_not_a_list_of_answers() -> None:
    env = kv_env()
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="list of str.*got str"):
        env.submit_probes("x" * 9)  # 9 characters = 9 probes: must not be read as 9 answers
    with pytest.raises(InvalidAction, match=r"answers\[3\] = NoneType None.*answers ''"):
        env.submit_probes(["x"] * 3 + [None] * 6)  # None is not an answer (it used to slip through)
    env.submit_probes(("x",) * 9)  # a tuple is fine, and the probe is still due
    assert env.baseline.tolist() == [0.0, 0.0, 0.0]


def test_probe_methods_need_a_reset() -> None:
    env = kv_env()
    with pytest.raises(ResetNeeded):
        env.probe_prompts()
    with pytest.raises(ResetNeeded):
        env.submit_probes([])
    assert env.accuracy_matrix.shape == (T, T) and np.isnan(env.accuracy_matrix).all()


def test_accuracy_matrix_and_baseline_are_copies() -> None:
    env = kv_env()
    env.reset(seed=0)
    env.accuracy_matrix[:] = 1.0
    env.baseline[:] = 1.0
    assert np.isnan(env.accuracy_matrix).all() and np.isnan(env.baseline).all()


def test_rows_missed_in_sleep_are_all_filled_on_wake() -> None:
    # sleep at the end of experience 0 with a cost of 5 items: experience 1 passes entirely
    env = kv_env(schedule=TaskBoundary(), sleep_cost_steps=5)
    env.reset(seed=0)
    for _ in range(4):
        env.step(act())
    env.step(act(sleep=1))
    *_, info = env.step(act())
    assert info["probe_due"] is True and info["missed"] == 5
    _blank(env)
    R = env.accuracy_matrix
    assert not np.isnan(R[:2]).any() and np.isnan(R[2]).all()


def test_evaluate_probes_scores_each_probe_and_records_nothing() -> None:
    env = kv_env(n_probe=2)
    env.reset(seed=0)
    truth = [p.answer for ps in env.unwrapped._started().stream.probes for p in ps]
    answers = [truth[0], "", truth[2], "wrong", "", truth[5]]
    scores = env.evaluate_probes(answers)
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert np.isnan(env.baseline).all()  # nothing recorded: the baseline is still due
    env.submit_probes(answers)  # the recorded per-experience means agree with the per-probe scores
    assert env.baseline.tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(InvalidAction, match="one answer per probe"):
        env.evaluate_probes(answers[:-1])
    with pytest.raises(ResetNeeded):
        kv_env().evaluate_probes([])
