"""A hypothesis state machine over reset / step / request_sleep / submit_probes.

Examples per run: the ``HYPOTHESIS_PROFILE`` profile of ``conftest.py`` (``default`` or ``thorough``).
"""

from __future__ import annotations

import copy

import pytest
from gymnasium.utils.env_checker import data_equivalence
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sleep_env import AgentChoice, FixedInterval
from sleep_env.errors import ResetNeeded, SleepEnvError
from tests.sleep_env.sleep_env_testkit import kv_env

MAX_STEPS = 12


class SleepEnvMachine(RuleBasedStateMachine):
    # a roomy memory with feedback: overwrites at every ignored period
    env_options: dict = {"schedule": FixedInterval(period=3), "sleep_cost_steps": 1}

    def __init__(self) -> None:
        super().__init__()
        self.env = kv_env(max_steps=MAX_STEPS, **self.env_options)
        self.obs = None
        self.info = None
        self.ended = False
        self.steps = 0
        self.version = 0
        self.first_obs: dict[int, dict] = {}

    @rule(seed=st.integers(0, 3))
    def reset(self, seed: int) -> None:
        self.obs, self.info = self.env.reset(seed=seed)
        if seed in self.first_obs:
            assert data_equivalence(self.obs, self.first_obs[seed], exact=True)
        self.first_obs[seed] = copy.deepcopy(self.obs)
        self.ended, self.steps, self.version = False, 0, 0

    @precondition(lambda self: self.obs is None or self.ended)
    @rule(text=st.text(max_size=5))
    def step_when_not_allowed(self, text: str) -> None:
        with pytest.raises(ResetNeeded):
            self.env.step({"response": text, "sleep": 0})

    def _step(self, text: str, sleep: int) -> None:
        asleep = int(self.obs["kind"]) == 2
        allowed = int(self.obs["may_sleep"]) == 1
        before, evicted_total = self.env.memory, self.info["evicted_total"]
        self.obs, reward, terminated, truncated, self.info = self.env.step(
            {"response": text, "sleep": sleep}
        )
        self.steps += 1
        self._check_memory_accounting(before, evicted_total, woke=asleep)
        assert 0.0 <= reward <= 1.0
        assert truncated == (self.steps >= MAX_STEPS)
        granted = int(self.obs["kind"]) == 2
        if asleep:
            assert not granted and self.info["model_version"] == self.version + 1
        else:
            assert granted == (sleep == 1 and allowed)
            assert self.info["sleep_denied"] == (sleep == 1 and not allowed)
        assert self.info["model_version"] >= self.version
        self.version = self.info["model_version"]
        self.ended = terminated or truncated

    def _check_memory_accounting(self, before: tuple[str, ...], evicted_total: int, *, woke: bool) -> None:
        """Eviction and overwrite counts equal the items that left the short-term memory."""
        info, after = self.info, self.env.memory
        assert info["evicted_total"] == evicted_total + info["evicted"]
        if woke:  # waking clears the consolidated store; nothing is evicted
            assert after == () and info["evicted"] == 0 and info["overwritten"] == 0
            return
        rec = self.env.records()[-1]
        entered = int(rec.kind == "study" or self.env.config.feedback)
        evicted, overwritten = info["evicted"], info["overwritten"]
        assert evicted == rec.evicted
        if overwritten:  # an ignored sleep_due: everything left after admission is lost
            assert after == () and overwritten == len(before) - evicted + entered
        else:  # the oldest `evicted` items left, in order, and the new entry is last
            assert after[: len(after) - entered] == before[evicted:]
            assert len(before) + entered - len(after) == evicted

    @precondition(lambda self: self.obs is not None and not self.ended)
    @rule(text=st.text(max_size=20))
    def step(self, text: str) -> None:
        self._step(text, 0)

    @precondition(lambda self: self.obs is not None and not self.ended)
    @rule()
    def request_sleep(self) -> None:
        self._step("", 1)

    @precondition(lambda self: self.obs is not None)
    @rule()
    def submit_probes(self) -> None:
        n = len(self.env.probe_prompts())
        if self.info["probe_due"]:
            self.env.submit_probes([""] * n)
            self.info = {**self.info, "probe_due": False}
        else:
            with pytest.raises(SleepEnvError):
                self.env.submit_probes([""] * n)

    @invariant()
    def observation_in_space(self) -> None:
        if self.obs is not None:
            assert self.obs in self.env.observation_space
            assert len(self.obs["context"]) <= self.env.config.context_chars


class TightMemoryMachine(SleepEnvMachine):
    # a 25-character memory without feedback, nothing ever due: evictions at almost every study item
    env_options = {"schedule": AgentChoice(min_gap=2, max_sleeps=2), "context_chars": 25, "feedback": False}


TestTightMemoryMachine = TightMemoryMachine.TestCase


# Example counts come from the hypothesis profile (conftest.py): HYPOTHESIS_PROFILE=thorough
# runs many more and longer examples than the bounded default.
TestSleepEnvMachine = SleepEnvMachine.TestCase
