"""Env overhead: steps per second of SleepEnv against gymnasium's CartPole-v1, same loop, same wrappers.

    python benchmarks/env_overhead.py [--steps 1000 100000] [--context-chars 4000]

Both envs are built with ``gymnasium.make`` (so both carry the same wrappers: order enforcing and
the passive env checker, which SleepEnv's registration leaves out by default, so it is asked for
here) and stepped by the same loop with a constant action, resetting on
``terminated or truncated``; ``step()`` calls are timed, ``reset()`` calls apart (a SleepEnv reset
builds a whole lifetime of items; its cost per reset is reported next to the ratio). SleepEnv streams the ``facts`` task with a short-term memory of
``--context-chars`` characters kept full (long stream, no sleep: ``Never``), so each step returns a
context of that size. No probes are answered (the agent's side, not env overhead).

Target (issue 3): ``ratio = sleep_env_steps_per_s / cartpole_steps_per_s >= 0.25`` at a
4000-character context, for 1k and 100k steps. The last output line is JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium as gym

import sleep_env
from sleep_env import EnvConfig, ExperienceConfig, Never, StreamConfig


LIFETIME = 2000  # items per lifetime: 10 experiences x (150 study + 50 query)


def sleep_env_config(context_chars: int) -> EnvConfig:
    """A long facts stream (2,000 items per lifetime) whose memory fills to ``context_chars``."""
    exp = ExperienceConfig(task="facts", n_study=150, n_query=50)
    return EnvConfig(
        stream=StreamConfig(experiences=(exp,) * 10, n_probe=1),
        schedule=Never(),
        context_chars=context_chars,
    )


def steps_per_second(env: gym.Env, action, n: int) -> tuple[float, float, int]:
    """Step ``env`` ``n`` times with ``action``, resetting (new seed) at episode ends.

    Returns:
        ``(steps_per_s, seconds_per_reset, resets)``: steps per second of ``step()`` alone, and
        the mean wall time of a ``reset()`` (timed apart: for SleepEnv it builds a lifetime).
    """
    env.reset(seed=0)
    stepping = resetting = 0.0
    resets = 0
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        _, _, terminated, truncated, _ = env.step(action)
        t1 = clock()
        stepping += t1 - t0
        if terminated or truncated:
            env.reset()
            resetting += clock() - t1
            resets += 1
    return n / stepping, resetting / max(resets, 1), resets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--context-chars", type=int, default=4000)
    args = ap.parse_args()

    # disable_env_checker=False: the same wrappers as CartPole (SleepEnv is registered without the checker)
    ours = gym.make(sleep_env.ENV_ID, config=sleep_env_config(args.context_chars), disable_env_checker=False)
    cartpole = gym.make("CartPole-v1")
    action = {"response": "Paris", "sleep": 0}
    steps_per_second(ours, action, 500)  # warm-up (task construction, caches)
    steps_per_second(cartpole, 0, 500)
    fill = ours.unwrapped.memory
    results = {}
    loads = []
    for n in args.steps:
        mine, reset_s, resets = steps_per_second(ours, action, n)
        theirs, _, _ = steps_per_second(cartpole, 0, n)
        results[n] = (mine, theirs)
        loads.append(reset_s)
        print(f"{n:>7} steps: SleepEnv {mine:,.0f} steps/s, CartPole-v1 {theirs:,.0f} steps/s, "
              f"ratio {mine / theirs:.2f}; SleepEnv reset (builds a {LIFETIME}-item lifetime): "
              f"{reset_s * 1e3:.1f} ms x {resets}")
    print(f"memory after warm-up: {len(fill)} items, {len(chr(10).join(fill))} characters (capacity {args.context_chars})")
    out = {
        "context_chars": args.context_chars,
        "python": platform.python_version(),
        "gymnasium": gym.__version__,
        **{f"sleep_env_steps_per_s_{n}": round(m) for n, (m, _) in results.items()},
        **{f"cartpole_steps_per_s_{n}": round(c) for n, (_, c) in results.items()},
        **{f"ratio_{n}": round(m / c, 3) for n, (m, c) in results.items()},
        "sleep_env_reset_ms": round(1e3 * max(loads), 2),
        "target_ratio": 0.25,
        "ok": all(m / c >= 0.25 for m, c in results.values()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
