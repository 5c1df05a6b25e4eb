"""Quick start: the plain gymnasium loop with the two-phase sleep and the probes.

    python examples/quickstart.py            # the real SmolLM2-135M-Instruct (a few minutes on 2 CPU cores)
    python examples/quickstart.py --tiny     # a random tiny model: mechanics only, seconds
"""

import sys

import gymnasium as gym

import sleep_env
from agents import SleepAgent, SleepAgentConfig, TransformersEngine, load_model
from agents.replay import ReplayConfig
from sleep_env import EnvConfig, ExperienceConfig, FixedInterval, StreamConfig

tiny = "--tiny" in sys.argv
model, tokenizer = load_model("tiny" if tiny else "smollm2-135m")
# the random tiny model cannot read: keep its replay rows unchecked (mechanics only)
cfg = SleepAgentConfig(steps=2, replay=ReplayConfig(support="none")) if tiny else SleepAgentConfig(steps=24)
agent = SleepAgent(TransformersEngine(model, tokenizer), cfg)

# Two experiences of 6 fictional facts, each followed by 6 questions; a sleep is allowed every 12 steps.
facts = ExperienceConfig(task="facts", n_study=6, n_query=6)
config = EnvConfig(stream=StreamConfig(experiences=(facts, facts)), schedule=FixedInterval(period=12))
env = gym.make(sleep_env.ENV_ID, config=config)

obs, info = env.reset(seed=0)
terminated = truncated = False
while not (terminated or truncated):
    if info["probe_due"]:  # at reset and after each experience: closed-book questions on every experience
        probes = env.unwrapped.probe_prompts()
        env.unwrapped.submit_probes(agent.answer(list(probes.prompts), list(probes.contexts)))
    if info["sleep_window"] is not None:  # phase 1: the env granted sleep; consolidate outside the env
        report = agent.sleep(info["sleep_window"])
        print(f"slept {report.seconds:.1f} s: {dict(report.metrics)}")
        action = {"response": "", "sleep": 0}  # phase 2: any action wakes the agent
    else:
        action = agent.act(obs)  # answer the query (or read the study item); ask to sleep when allowed
    obs, reward, terminated, truncated, info = env.step(action)
if info["probe_due"]:
    probes = env.unwrapped.probe_prompts()
    env.unwrapped.submit_probes(agent.answer(list(probes.prompts), list(probes.contexts)))

print("accuracy matrix R[i, j] (closed-book score on experience j after experience i):")
print(env.unwrapped.accuracy_matrix.round(2))
print("baseline before the stream:", env.unwrapped.baseline.round(2))
