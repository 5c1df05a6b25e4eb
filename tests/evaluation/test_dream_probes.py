"""The run's paired measurement of Dreaming: probes answered just before and just after it, in one sleep."""

from types import SimpleNamespace

import pytest

from evaluation.config import load_config
from evaluation.experiment import build_env_config
from evaluation.measured import _Measured
from sleep_env import SleepEnv, SleepReport

CFG = load_config("model: tiny\nexperiences: 2\nfacts_per_experience: 3\nqueries_per_experience: 1\n")  # 6 probes


def _env() -> SleepEnv:
    env = SleepEnv(build_env_config(CFG))
    env.reset(seed=0)
    return env


class _Dreamer:
    """Answers the probes in ``good`` correctly; its sleep switches ``good`` from ``before`` to ``after``."""

    dreaming = object()  # an agent with Dreaming configured

    def __init__(self, truth, before, after):
        self.truth, self.good, self.after, self.dream_monitor = truth, set(before), set(after), None

    def answer(self, prompts, contexts):
        return [self.truth[i] if i in self.good else "" for i in range(len(prompts))]

    def sleep(self, window):
        self.dream_monitor("before")
        self.good = self.after  # what "Dreaming" changed
        self.dream_monitor("after")
        return SleepReport(seconds=0.0, steps=1, metrics={"dream_committed": 1.0})


def _setup(before, after):
    env = _env()
    truth = [p.answer for ps in env.unwrapped._started().stream.probes for p in ps]
    agent = _Dreamer(truth, before, after)
    return agent, _Measured(agent, CFG, lambda msg: None, routed=False, env=env)


def test_gained_and_lost_probes_are_counted_per_sleep() -> None:
    agent, measured = _setup(before={0, 1}, after={1, 2, 3})
    assert agent.dream_monitor == measured._dream_probes  # the hook is installed
    report = measured.sleep(SimpleNamespace(model_version=0, level=1))
    assert report.metrics["eval_dream_probes_gained"] == 2.0  # probes 2 and 3
    assert report.metrics["eval_dream_probes_lost"] == 1.0  # probe 0
    assert report.metrics["dream_committed"] == 1.0 and report.metrics["eval_dream_probe_seconds"] >= 0.0
    # the next sleep starts from scratch: no change, nothing gained or lost
    again = measured.sleep(SimpleNamespace(model_version=1, level=1))
    assert (again.metrics["eval_dream_probes_gained"], again.metrics["eval_dream_probes_lost"]) == (0.0, 0.0)


def test_agents_without_dreaming_are_not_hooked() -> None:
    plain = SimpleNamespace(dreaming=None, dream_monitor=None)
    _Measured(plain, CFG, lambda msg: None, routed=False, env=_env())
    assert plain.dream_monitor is None


@pytest.mark.parametrize("before, after, gained, lost", [(set(), {0, 1, 2, 3, 4, 5}, 6.0, 0.0), ({5}, set(), 0.0, 1.0)])
def test_extremes(before, after, gained, lost) -> None:
    _, measured = _setup(before, after)
    m = measured.sleep(SimpleNamespace(model_version=0, level=1)).metrics
    assert (m["eval_dream_probes_gained"], m["eval_dream_probes_lost"]) == (gained, lost)
