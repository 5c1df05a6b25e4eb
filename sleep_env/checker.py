"""``check_sleep_env``: gymnasium's API check plus the sleep protocol's own rules."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env, data_equivalence

from sleep_env.errors import SleepEnvError

__all__ = ["check_sleep_env"]

_SLEEP = 2  # observation kind code of a sleep observation
_MAX_STEPS = 400  # per rule: enough to cross experience boundaries on small streams


def check_sleep_env(env: gym.Env, *, seed: int = 0) -> None:
    """Check an env against gymnasium's API and the sleep-env contract.

    Rules, in order: gymnasium's ``check_env`` (render check skipped); the same seed gives the same
    first 20 observations and infos; a sleep request is granted exactly when ``may_sleep`` is 1;
    waking clears the memory and increments ``model_version``; the baseline probe fills ``b`` and
    each later probe fills exactly one row of ``R``; a returned observation is not changed by
    later steps. The env is left mid-episode: call ``reset()`` afterwards.

    Args:
        env: A :class:`~sleep_env.SleepEnv`, possibly wrapped (the checks use ``env.unwrapped``).
        seed: Stream seed used by the checks.

    Raises:
        SleepEnvError: At the first broken rule, saying which rule and what was seen.

    Example:
        >>> from sleep_env import SleepEnv
        >>> check_sleep_env(SleepEnv())
    """
    base = env.unwrapped
    try:
        check_env(base, skip_render_check=True)
    except (AssertionError, gym.error.Error) as err:
        raise SleepEnvError(f"gymnasium check_env failed: {err}") from err
    _check_replay(base, seed)
    _check_sleep_grants(base, seed)
    _check_probes(base, seed)
    _check_no_aliasing(base, seed)


def _quiet() -> dict[str, Any]:
    return {"response": "", "sleep": 0}


def _rollout(base: Any, seed: int, n: int) -> list[Any]:
    out = [copy.deepcopy(base.reset(seed=seed))]
    for _ in range(n - 1):
        obs, reward, terminated, truncated, info = base.step({"response": "x", "sleep": 1})
        out.append(copy.deepcopy((obs, reward, terminated, truncated, info)))
        if terminated or truncated:
            break
    return out


def _check_replay(base: Any, seed: int) -> None:
    first, second = _rollout(base, seed, 20), _rollout(base, seed, 20)
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        if not data_equivalence(a, b, exact=True):
            raise SleepEnvError(
                f"reset(seed={seed}) is not reproducible: transition {k} differs between two runs"
            )


def _check_sleep_grants(base: Any, seed: int) -> None:
    obs, _ = base.reset(seed=seed)
    for _ in range(_MAX_STEPS):
        if int(obs["kind"]) == _SLEEP:
            version = base.model_version
            obs, _, terminated, truncated, info = base.step(_quiet())
            if str(obs["context"]) != "" or base.memory != ():
                raise SleepEnvError(
                    f"waking did not clear the short-term memory: context {obs['context']!r:.80}"
                )
            if info["model_version"] != version + 1:
                raise SleepEnvError(
                    f"waking must increment model_version: expected {version + 1}, "
                    f"got {info['model_version']}"
                )
        else:
            allowed = int(obs["may_sleep"]) == 1
            obs, _, terminated, truncated, info = base.step({"response": "", "sleep": 1})
            granted = int(obs["kind"]) == _SLEEP
            if granted != allowed or info["sleep_denied"] != (not allowed):
                raise SleepEnvError(
                    f"sleep requested with may_sleep={int(allowed)}: granted={granted}, "
                    f"sleep_denied={info['sleep_denied']}; a request must be granted exactly when "
                    "may_sleep is 1"
                )
        if terminated or truncated:
            return


def _measured_rows(base: Any) -> int:
    return int(np.sum(~np.isnan(base.accuracy_matrix).all(axis=1)))


def _submit_blank(base: Any) -> None:
    base.submit_probes([""] * len(base.probe_prompts()))


def _check_probes(base: Any, seed: int) -> None:
    _, info = base.reset(seed=seed)
    if not info["probe_due"]:
        raise SleepEnvError("reset() must set info['probe_due'] for the baseline probe")
    _submit_blank(base)
    if np.isnan(base.baseline).any() or _measured_rows(base) != 0:
        raise SleepEnvError(
            f"the baseline probe must fill b only: b={base.baseline}, R={base.accuracy_matrix}"
        )
    limit = max(_MAX_STEPS, len(base._started().stream.items) + 2)  # long experiences end late
    for _ in range(limit):
        _, _, terminated, truncated, info = base.step(_quiet())
        if info["probe_due"]:
            before = _measured_rows(base)
            _submit_blank(base)
            R = base.accuracy_matrix
            if _measured_rows(base) != before + 1 or np.isnan(R[~np.isnan(R).all(axis=1)]).any():
                raise SleepEnvError(f"a probe must fill exactly one whole row of R, got R={R}")
            return
        if truncated and not terminated:
            return  # the step budget ended the lifetime before the first experience did
        if terminated:
            break
    raise SleepEnvError(f"no experience-boundary probe came due within {limit} steps")


def _check_no_aliasing(base: Any, seed: int) -> None:
    obs, info = base.reset(seed=seed)
    kept, kept_info = copy.deepcopy(obs), copy.deepcopy(info)
    for _ in range(3):
        _, _, terminated, truncated, _ = base.step(_quiet())
        if terminated or truncated:
            break
    if not data_equivalence(obs, kept, exact=True) or not data_equivalence(info, kept_info):
        raise SleepEnvError("a returned observation or info changed during later steps (aliasing)")
    obs["memory_load"][0] = 0.5  # a caller mutating what it was given must not reach the env
    info["step"] = -1
    again, again_info = base.reset(seed=seed)
    if not data_equivalence(again, kept, exact=True) or not data_equivalence(again_info, kept_info):
        raise SleepEnvError(
            "observations or infos alias internal state: a mutated copy changed a reset"
        )
