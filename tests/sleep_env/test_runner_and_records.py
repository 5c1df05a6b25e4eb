"""run_lifetime with scripted agents, and JSON-able records."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import sleep_env
from sleep_env import Agent, LifetimeRecord, SleepReport, StepRecord, TaskBoundary, run_lifetime
from sleep_env.errors import SleepEnvError
from tests.sleep_env.sleep_env_testkit import OracleAgent, kv_config, kv_env


def test_oracle_with_memory_probes_gets_a_perfect_diagonal() -> None:
    env = kv_env(probe_context="memory", context_chars=1000)
    record = run_lifetime(env, OracleAgent(), seed=0)
    R = record.accuracy_matrix
    assert np.diag(R).tolist() == [1.0, 1.0, 1.0]
    assert np.tril(R).sum() == 6.0 and np.triu(R, 1).sum() == 0.0  # unseen experiences score 0
    assert record.baseline.tolist() == [0.0, 0.0, 0.0]
    assert record.terminated and not record.truncated and record.sleeps == 0
    assert len(record.probe_answers) == 4  # baseline + one round per experience
    queries = [r for r in record.steps if r.kind == "query"]
    assert len(queries) == 6 and all(r.reward == 1.0 for r in queries)


def test_closed_book_oracle_scores_zero() -> None:
    record = run_lifetime(kv_env(), OracleAgent(), seed=0)
    assert np.nansum(record.accuracy_matrix) == 0.0 and not np.isnan(record.accuracy_matrix).any()


def test_sleeping_agent_gets_windows_reports_and_versions() -> None:
    agent = OracleAgent(sleepy=True)
    record = run_lifetime(kv_env(schedule=TaskBoundary(), probe_context="memory"), agent, seed=1)
    assert record.sleeps == 3 and len(record.sleep_reports) == 3 and len(agent.windows) == 3
    assert [w.model_version for w in agent.windows] == [0, 1, 2]
    assert [w.experience for w in agent.windows] == [0, 1, 2]
    assert all(len(w.memories) == 5 and len(w.queries) == 2 for w in agent.windows)
    assert all(r.seconds >= 0.0 and r.metrics == {"memories": 5.0} for r in record.sleep_reports)
    assert record.sleep_seconds == pytest.approx(sum(r.seconds for r in record.sleep_reports))
    assert [r.model_version for r in record.steps if r.kind == "sleep"] == [0, 1, 2]
    # probes are due on the wake steps, after the sleep cleared the context
    assert np.diag(record.accuracy_matrix).tolist() == [0.0, 0.0, 0.0]


def test_on_step_sees_every_record_once() -> None:
    seen: list[StepRecord] = []
    record = run_lifetime(
        kv_env(schedule=TaskBoundary()), OracleAgent(sleepy=True), seed=0, on_step=seen.append
    )
    assert seen == record.steps and len(seen) == 15 + 3


def test_runner_works_through_gymnasium_make() -> None:
    env = gym.make(sleep_env.ENV_ID, config=kv_config(max_steps=6))
    record = run_lifetime(env, OracleAgent(), seed=2)
    assert record.truncated and not record.terminated and len(record.steps) == 6
    assert (
        not np.isnan(record.accuracy_matrix[0]).any() and np.isnan(record.accuracy_matrix[1:]).all()
    )


def test_a_bad_sleep_report_is_an_error() -> None:
    class Lazy(OracleAgent):
        def sleep(self, window):
            return {"seconds": 0}

    with pytest.raises(SleepEnvError, match="SleepReport"):
        run_lifetime(kv_env(schedule=TaskBoundary()), Lazy(sleepy=True), seed=0)


def test_lifetime_record_is_json_round_trippable() -> None:
    record = run_lifetime(
        kv_env(max_steps=7, schedule=TaskBoundary()), OracleAgent(sleepy=True), seed=0
    )
    text = json.dumps(record.to_dict(), allow_nan=False)
    back = LifetimeRecord.from_dict(json.loads(text))
    assert back.steps == record.steps and back.sleep_reports == record.sleep_reports
    np.testing.assert_array_equal(back.accuracy_matrix, record.accuracy_matrix)
    np.testing.assert_array_equal(back.baseline, record.baseline)
    assert back.to_dict() == record.to_dict()


def test_oracle_agent_satisfies_the_protocol() -> None:
    assert isinstance(OracleAgent(), Agent)
    assert not isinstance(object(), Agent)


def test_sleep_report_validation() -> None:
    with pytest.raises(ValueError, match="^seconds must be"):
        SleepReport(seconds=-1.0, steps=0)
    with pytest.raises(ValueError, match="^steps must be"):
        SleepReport(seconds=0.0, steps=-1)
    assert SleepReport(seconds=1, steps=2, metrics={"loss": np.float32(0.5)}).to_dict() == {
        "seconds": 1.0, "steps": 2, "metrics": {"loss": 0.5}, "committed": True,
    }  # fmt: skip
    assert SleepReport(seconds=0.0, steps=0, committed=False).to_dict()["committed"] is False
    with pytest.raises(ValueError, match="^committed must be"):
        SleepReport(seconds=0.0, steps=0, committed=1)


class _Chatty(OracleAgent):
    """Answers with far more text than the action space allows (model output run away)."""

    def act(self, obs):
        action = super().act(obs)
        return {**action, "response": action["response"] + " and so on" * 1000}

    def answer(self, prompts, contexts):
        return [a + " and so on" * 1000 for a in super().answer(prompts, contexts)]


def test_over_long_agent_output_is_cut_scored_and_warned_once() -> None:
    env = kv_env(probe_context="memory", context_chars=1000)
    with pytest.warns(RuntimeWarning, match="cut to the action space's max_length=4096") as caught:
        record = run_lifetime(env, _Chatty(), seed=0)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert all(len(r.response) <= 4096 for r in record.steps)
    assert max(len(a) for round_ in record.probe_answers for a in round_) == 4096
    # the lifetime ran to the end; the kv task scores exact match, so the run-away answers score 0
    oracle = run_lifetime(kv_env(probe_context="memory", context_chars=1000), OracleAgent(), seed=0)
    assert record.terminated and len(record.steps) == len(oracle.steps)
    assert np.diag(record.accuracy_matrix).tolist() == [0.0, 0.0, 0.0]
    assert [r.reward for r in record.steps if r.kind == "query"] == [0.0] * 6


def test_an_agent_missing_a_protocol_method_is_named_before_the_lifetime_starts() -> None:
    from sleep_env import SleepEnv
    from sleep_env.errors import SleepEnvError

    class NoSleep:
        def act(self, obs):
            return {"response": "", "sleep": 1}

        def answer(self, prompts, contexts):
            return [""] * len(prompts)

    env = SleepEnv()
    with pytest.raises(SleepEnvError, match=r"agent NoSleep lacks sleep\(\) of the Agent protocol"):
        run_lifetime(env, NoSleep(), seed=0)
    assert env.records() == []  # refused before reset: nothing ran
