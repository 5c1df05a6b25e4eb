"""The two-phase sleep protocol: grants, denials, overwrites, wake and missed items."""

from __future__ import annotations

from sleep_env import FixedInterval, SleepWindow, TaskBoundary
from tests.sleep_env.sleep_env_testkit import act, kv_env


def _steps(env, n, action=None):
    out = None
    for _ in range(n):
        out = env.step(action or act())
    return out


def test_flags_announce_the_sleep_after_the_presented_item() -> None:
    env = kv_env(schedule=FixedInterval(period=2))
    obs, _ = env.reset(seed=0)
    flags = []
    for _ in range(6):
        flags.append((int(obs["may_sleep"]), int(obs["sleep_due"]), int(obs["sleep_level"])))
        obs, *_ = env.step(act())
    assert flags == [(0, 0, 0), (1, 1, 1)] * 3


def test_sleep_window_wake_and_model_version() -> None:
    env = kv_env(schedule=FixedInterval(period=2))
    obs, _ = env.reset(seed=0)
    first = obs["prompt"]
    obs, *_ = env.step(act())
    second = obs["prompt"]
    obs, reward, terminated, truncated, info = env.step(act(sleep=1))
    assert int(obs["kind"]) == 2 and obs["prompt"] == "" and obs["context"] == f"{first}\n{second}"
    assert int(obs["sleep_level"]) == 1 and int(obs["may_sleep"]) == 0
    assert (reward, terminated, truncated) == (0.0, False, False)
    window = info["sleep_window"]
    assert window == SleepWindow(level=1, memories=(first, second), queries=(), step_budget=100,
                                 model_version=0, experience=0)  # fmt: skip
    assert info["model_version"] == 0 and info["probe_due"] is False
    obs, reward, _, _, info = env.step({"response": "ignored", "sleep": 1})  # any action wakes
    assert info["kind"] == "sleep" and info["model_version"] == 1 and env.model_version == 1
    assert obs["context"] == "" and int(obs["kind"]) == 0 and reward == 0.0
    assert info["sleep_window"] is None
    sleep_record = env.records()[-1]
    assert sleep_record.kind == "sleep" and sleep_record.model_version == 0
    assert env.records()[1].slept is True
    _, *_, info = env.step(act())
    assert env.records()[-1].model_version == 1


def test_window_carries_the_days_queries_with_feedback_answers() -> None:
    for feedback in (True, False):
        env = kv_env(schedule=TaskBoundary(), feedback=feedback)
        env.reset(seed=0)
        _steps(env, 4)
        *_, info = env.step(act(sleep=1))
        window = info["sleep_window"]
        asked = [(r.prompt, r.answer) for r in env.records() if r.kind == "query"]
        assert len(window.queries) == 2
        assert window.queries == tuple((p, a if feedback else None) for p, a in asked)
        assert len(window.memories) == (5 if feedback else 3)
        env.step(act())
        _steps(env, 4)
        *_, info = env.step(act(sleep=1))
        assert len(info["sleep_window"].queries) == 2  # only the queries since the last sleep


def test_denied_sleep_is_counted_not_raised() -> None:
    env = kv_env()  # Never
    env.reset(seed=0)
    for k in range(1, 4):
        obs, *_, info = env.step(act(sleep=1))
        assert int(obs["kind"]) != 2 and info["sleep_denied"] is True and info["denied_total"] == k
    *_, info = env.step(act(sleep=0))
    assert info["sleep_denied"] is False and info["denied_total"] == 3
    assert [r.denied for r in env.records()] == [True, True, True, False]
    assert env.model_version == 0


def test_ignoring_a_due_sleep_overwrites_the_memory() -> None:
    env = kv_env(schedule=FixedInterval(period=2))
    env.reset(seed=0)
    *_, info = env.step(act())
    assert info["overwritten"] == 0
    obs, *_, info = env.step(act())
    assert info["overwritten"] == 2 and info["overwritten_total"] == 2
    assert obs["context"] == "" and env.memory == ()
    assert env.records()[-1].overwritten == 2 and env.model_version == 0


def test_sleep_cost_steps_pass_items_unanswered() -> None:
    env = kv_env(schedule=TaskBoundary(), sleep_cost_steps=2)
    env.reset(seed=0)
    _steps(env, 4)
    env.step(act(sleep=1))
    obs, *_, info = env.step(act())
    assert info["missed"] == 2 and info["missed_total"] == 2
    missed = [r for r in env.records() if r.missed]
    assert [r.kind for r in missed] == ["study", "study"]
    assert all(r.experience == 1 and r.reward == 0.0 for r in missed)
    # experience 1 is 3 study items + 2 queries: its third study item is presented next
    assert int(obs["kind"]) == 0 and obs["prompt"] not in {r.prompt for r in missed}
    env.step(act())
    obs, *_ = env.step(act())
    assert int(obs["kind"]) == 1


def test_missed_queries_score_zero_in_records() -> None:
    env = kv_env(schedule=FixedInterval(period=3), sleep_cost_steps=2)
    env.reset(seed=0)
    _steps(env, 2)
    env.step(act(sleep=1))
    env.step(act())
    missed = [r for r in env.records() if r.missed]
    assert [r.kind for r in missed] == ["query", "query"]
    assert all(r.reward == 0.0 and r.answer is not None and r.response == "" for r in missed)


def test_sleep_requests_while_asleep_do_nothing_more() -> None:
    env = kv_env(schedule=FixedInterval(period=1))
    env.reset(seed=0)
    env.step(act(sleep=1))
    obs, *_, info = env.step(act(sleep=1))
    assert int(obs["kind"]) == 0 and info["model_version"] == 1 and info["denied_total"] == 0
