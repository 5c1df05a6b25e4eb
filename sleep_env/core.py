"""The sleep environment: one episode is one lifetime over a stream of study and query items.

See :class:`SleepEnv` for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sleep_env._validate import as_opt_int, fail
from sleep_env.config import EnvConfig
from sleep_env.env_state import check_header, env_state, read_probe_state
from sleep_env.episode import Episode, episode_info, parse_action
from sleep_env.errors import ResetNeeded, SleepEnvError, StreamExhausted
from sleep_env.probes import experience_means, probe_item_scores, probe_set
from sleep_env.schedules import SleepDecision
from sleep_env.spaces import KINDS, action_space, observation, observation_space
from sleep_env.stream import (
    DEFAULT_CHARSET,
    MAX_PROMPT_CHARS,
    Stream,
    StreamConfig,
    build_stream,
    check_charset,
    make_tasks,
    stream_charset,
)
from sleep_env.transitions import decide, take_step, wake
from sleep_env.types import ProbeSet, StepRecord

__all__ = ["EnvConfig", "SleepEnv", "KINDS"]

_NONE = SleepDecision(may_sleep=False, due=False, level=0)
_BASELINE = -1  # probe row code for the baseline vector b


def _task_names(config: StreamConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.task for e in config.experiences))


class SleepEnv(gym.Env):
    """A lifetime of study and query items with a bounded short-term memory and granted sleeps.

    Each step presents one item; ``step(action)`` handles the action's ``response`` for that item
    (study: the text enters memory, reward 0; query: reward = the task's score in [0, 1] and, with
    ``feedback``, ``prompt + " " + answer`` enters memory), then presents the next item. The memory
    holds at most ``context_chars`` characters; on overflow the oldest whole items are evicted.

    Sleep has two phases. The observation presenting an item carries the schedule's decision for
    the clock after that item (``may_sleep``, ``sleep_due``, ``sleep_level``). An action with
    ``sleep=1`` where ``may_sleep`` is 1 makes the env return a sleep observation (``kind`` 2) with
    ``info["sleep_window"]``; the next step (any action) wakes the agent: the memory is cleared,
    ``model_version`` increments and ``sleep_cost_steps`` items pass unanswered. A request where
    ``may_sleep`` is 0 is denied and counted; a due sleep not taken clears the memory anyway.

    Probes: ``info["probe_due"]`` is True at reset (the baseline ``b``) and after each experience
    (row ``i`` of ``R``); when the agent sleeps at the experience's end, on the wake step instead.
    Answer them with :meth:`probe_prompts` / :meth:`submit_probes` before the next ``step`` or
    ``reset`` (a probe not submitted by then lapses; its row stays ``nan``).

    Info keys (every step; no wall-clock values): ``step`` (steps taken), ``experience`` and
    ``kind`` (of the item the action answered: ``"study"``, ``"query"``, ``"sleep"`` for the wake
    step, ``"reset"`` at reset), ``model_version``, ``evicted``, ``sleep_denied``, ``missed``,
    ``overwritten`` (this step) with running ``evicted_total``, ``denied_total``, ``missed_total``,
    ``overwritten_total`` and ``sleeps``, ``probe_due``, ``sleep_window`` (a
    :class:`~sleep_env.types.SleepWindow` on the step that enters sleep, else ``None``) and
    ``sleep_level`` (the schedule's level of the sleep entered on this step, or completed on the
    wake step; else 0).
    Reference answers never appear in observations or infos; :meth:`records` holds them.

    Levels: the observation's ``sleep_level`` is ``Discrete(schedule.n_levels + 1)``; with
    :class:`~sleep_env.schedules.MultiLevel` it is the slowest due level, and the agent
    consolidates the due levels fast to slow. The env owns level 0 (the context) only: every wake
    clears it, whatever the level.

    Vector envs and autoreset: ``gymnasium.vector.SyncVectorEnv`` and ``AsyncVectorEnv`` (the
    latter with ``shared_memory=False``, since Text spaces have no shared-memory buffer) run this
    env. Their default autoreset mode is gymnasium's *next-step* autoreset: the step that returns
    ``terminated`` (or ``truncated``) for a sub-env is followed by one step whose action for that
    sub-env is ignored and which returns the next lifetime's first observation (from
    ``reset()`` without a seed: the next stream seed of the env's generator), reward 0 and both
    flags False. Probes are not part of the vector API (call the sub-envs directly if needed).

    After the last item the observation has an empty prompt, the final memory as context, kind 0
    and no sleep flags.

    Args:
        config: The configuration; ``None`` = ``EnvConfig()`` (the default facts stream).
        render_mode: Only ``None`` (no rendering).

    Raises:
        ValueError: If a task cannot be built or the stream has a character outside the charset.

    Example:
        >>> env = SleepEnv()
        >>> obs, info = env.reset(seed=0)
        >>> int(obs["kind"]), info["probe_due"]
        (0, True)
    """

    metadata = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None) -> None:
        """Build the spaces and the tasks, and check the stream of ``config.seed``."""
        self.config = EnvConfig() if config is None else config
        if not isinstance(self.config, EnvConfig):
            raise fail("config", "an EnvConfig or None", config, "pass EnvConfig(...)")
        if render_mode is not None:
            raise fail("render_mode", "None", render_mode, "this env does not render")
        self.render_mode = None
        self.task_names = _task_names(self.config.stream)
        self.n_experiences = len(self.config.stream.experiences)
        self._tasks = make_tasks(self.config.stream)
        # the stream's charset is derived from its tasks' declared charsets (sleep_env.stream)
        self._charset = DEFAULT_CHARSET | stream_charset(self._tasks) | frozenset(self.config.extra_chars)
        check_charset(self._build(self.config.seed), self._charset)
        experiences = self.config.stream.experiences
        self._exp_task = tuple(self.task_names.index(e.task) for e in experiences)
        self.observation_space = observation_space(
            self._charset, context_chars=self.config.context_chars,
            n_tasks=len(self.task_names), n_levels=self.config.schedule.n_levels,
        )  # fmt: skip
        self.action_space = action_space(self._charset)
        t = self.n_experiences
        self._R = np.full((t, t), np.nan)
        self._b = np.full(t, np.nan)
        self._ep: Episode | None = None
        self._probe_rows: tuple[int, ...] = ()  # rows of R due now (_BASELINE = b)
        self._last_probe_scores = np.zeros(0)  # per-probe scores of the last submitted round

    # ---------------------------------------------------------------- public read-only state
    @property
    def accuracy_matrix(self) -> np.ndarray:
        """``R`` (T, T) float64, a copy; ``R[i, j]`` in [0, 1], ``nan`` where not measured.

        ``R[i, j]`` is the mean probe score on experience ``j``'s material after experience ``i``.
        """
        return self._R.copy()

    @property
    def baseline(self) -> np.ndarray:
        """``b`` (T,) float64, a copy: probe scores at reset (before the stream); else ``nan``."""
        return self._b.copy()

    @property
    def probe_queried(self) -> np.ndarray:
        """(N,) bool, aligned with :meth:`probe_prompts`: the probe's item was asked by day.

        The split behind ``acc_queried`` / ``acc_unqueried``: a sleep that only learns the day's
        questions scores on the True probes and not on the False ones.

        Raises:
            ResetNeeded: Before ``reset()``.
        """
        stream = self._started().stream
        if not stream.queried:  # a stream built by hand without the split: nothing counts as asked
            return np.zeros(sum(len(ps) for ps in stream.probes), dtype=bool)
        return np.array([q for qs in stream.queried for q in qs], dtype=bool)

    @property
    def last_probe_scores(self) -> np.ndarray:
        """(N,) float64 in [0, 1], a copy: each probe's score in the last submitted round, in
        :meth:`probe_prompts` order (empty before the first :meth:`submit_probes` of an episode)."""
        return self._last_probe_scores.copy()

    @property
    def model_version(self) -> int:
        """Completed sleeps in this episode."""
        return 0 if self._ep is None else self._ep.model_version

    @property
    def memory(self) -> tuple[str, ...]:
        """The short-term memory items, oldest first."""
        return () if self._ep is None else self._ep.memory

    def records(self, start: int = 0) -> list[StepRecord]:
        """Return this episode's step records from index ``start`` on (a new list).

        The records hold the reference answers, which observations never show.
        """
        return [] if self._ep is None else self._ep.records[start:]

    # ---------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        """Start a new lifetime.

        ``reset(seed=s)`` replays stream ``s`` exactly; ``reset()`` draws the next stream seed from
        the env's generator (seeded by the last seeded reset, or by ``config.seed`` on the first).

        Args:
            seed: Non-negative stream seed (a Python or numpy integer), or ``None``.
            options: Unused.

        Raises:
            ValueError: If ``seed`` is not None or an integer >= 0 (``1.5``, ``"1"`` and ``True``
                are refused rather than silently converted).

        Returns:
            ``(observation, info)``: the first item and the info dict (``probe_due`` is True).
        """
        seed = as_opt_int("seed", seed, low=0, fix="pass a whole number such as reset(seed=0), or None")
        if seed is None and self._np_random is None:
            seed = self.config.seed
        super().reset(seed=None if seed is None else int(seed))
        stream_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        stream = self._build(stream_seed)
        if stream_seed != self.config.seed:
            check_charset(stream, self._charset)
        self._ep = Episode(stream=stream)
        self._probe_rows = (_BASELINE,)
        self._R[:] = np.nan
        self._b[:] = np.nan
        self._last_probe_scores = np.zeros(0)
        return self._present(self._ep), self._info(self._ep, experience=0, kind="reset")

    def step(self, action: Mapping[str, Any]):
        """Handle ``action`` for the presented item, then present the next one.

        Args:
            action: ``{"response": str, "sleep": 0 or 1}`` (``sleep`` may be omitted = 0). While
                asleep any action (even ``None``) wakes the agent and is otherwise ignored, by
                design: the wake step carries no answer to check.

        Returns:
            ``(observation, reward, terminated, truncated, info)``; reward in [0, 1], flags are
            Python bools.

        Raises:
            ResetNeeded: Before ``reset()``, or after the episode was truncated.
            StreamExhausted: After the stream ended (a ``ResetNeeded``).
            InvalidAction: If the action is not a mapping of the form above, has a key other
                than ``response``/``sleep``, or its response is longer than the action space's
                ``max_length`` (``MAX_PROMPT_CHARS`` characters). A response that is a ``str`` of
                the right length is always scored, whatever its characters.
        """
        ep = self._steppable()
        self._probe_rows = ()  # probes not submitted before this step lapse
        if ep.window is not None:  # while asleep, any next action wakes the agent
            return self._wake(ep)
        response, wants_sleep = parse_action(action, MAX_PROMPT_CHARS)
        outcome = take_step(ep, self.config, response, wants_sleep)  # sets ep.window if it slept
        item = outcome.item
        truncated = self._out_of_budget(ep)
        rows = (item.experience,) if item.last_of_experience else ()
        if outcome.slept:
            if not truncated:  # the probe waits for the wake step, so R's row includes the sleep
                ep.deferred, rows = rows, ()
            terminated = False
            obs = self._sleep_obs(ep)
        else:
            terminated = ep.pos >= len(ep.stream.items)
            obs = self._terminal_obs(ep) if terminated else self._present(ep)
        self._probe_rows = rows
        ep.ended = "terminated" if terminated else "truncated" if truncated else None
        info = self._info(
            ep, experience=item.experience, kind=item.kind, evicted=outcome.evicted,
            denied=outcome.denied, overwritten=outcome.overwritten, window=ep.window,
        )  # fmt: skip
        return obs, float(outcome.reward), bool(terminated), bool(truncated), info

    def render(self) -> None:
        """This env has no render modes (``render_mode`` must be None).

        Raises:
            NotImplementedError: Always, with where to look instead.
        """
        raise NotImplementedError(
            "SleepEnv has no render modes; the observation is text already: print obs['prompt'] and "
            "obs['context'], or read env.unwrapped.records() (answers included)"
        )

    # ---------------------------------------------------------------- probes
    def probe_prompts(self) -> ProbeSet:
        """Return the held-out probes of every experience (answers hidden).

        Returns:
            A :class:`ProbeSet`; contexts are ``""`` (closed-book) or, with
            ``probe_context="memory"``, the current short-term memory.

        Raises:
            ResetNeeded: Before ``reset()``.
        """
        ep = self._started()
        return probe_set(ep.stream, ep.context if self.config.probe_context == "memory" else "")

    def submit_probes(self, answers: list[str]) -> None:
        """Score the agent's probe answers and fill the due row of ``R`` (or the baseline ``b``).

        Args:
            answers: One answer per probe of :meth:`probe_prompts`, in its order (text).

        Raises:
            ResetNeeded: Before ``reset()``.
            SleepEnvError: If no probe is due (check ``info["probe_due"]``).
            InvalidAction: If ``answers`` is not a list of strings (a single ``str`` is refused),
                their number differs from the number of probes, or one is longer than the action
                space's ``max_length`` (``MAX_PROMPT_CHARS``). ``InvalidAction`` is a ``ValueError``.
        """
        stream = self._started().stream
        if not self._probe_rows:
            raise SleepEnvError(
                "submit_probes() called with no probe due; submit only when info['probe_due'] is "
                "True, before the next step()"
            )
        items = probe_item_scores(stream, answers, max_chars=MAX_PROMPT_CHARS)
        scores = experience_means(stream, items)
        self._last_probe_scores = items
        for row in self._probe_rows:
            if row == _BASELINE:
                self._b[:] = scores
            else:
                self._R[row] = scores
        self._probe_rows = ()

    def evaluate_probes(self, answers: list[str]) -> np.ndarray:
        """Score probe answers without recording them (``R`` and ``b`` stay as they are).

        For measurements between probe rounds, e.g. the probes just before and just after one part
        of a sleep (``evaluation.experiment`` does so around Dreaming). Any time after ``reset()``.

        Args:
            answers: One answer per probe of :meth:`probe_prompts`, in its order (text).

        Returns:
            (N,) float64 in [0, 1]: the score of each probe, in :meth:`probe_prompts` order.

        Raises:
            ResetNeeded: Before ``reset()``.
            InvalidAction: As :meth:`submit_probes`.
        """
        return probe_item_scores(self._started().stream, answers, max_chars=MAX_PROMPT_CHARS)

    # ---------------------------------------------------------------- internals
    def _build(self, seed: int) -> Stream:
        return build_stream(self.config.stream, seed, self._tasks, extra_chars=self.config.extra_chars)

    def _started(self) -> Episode:
        if self._ep is None:
            raise ResetNeeded("the env has no stream yet; call env.reset(seed=...) first")
        return self._ep

    def _steppable(self) -> Episode:
        if self._ep is None:
            raise ResetNeeded("step() called before reset(); call env.reset(seed=...) first")
        if self._ep.ended == "terminated":
            raise StreamExhausted(
                "step() called after the stream ended (terminated=True); call env.reset()"
            )
        if self._ep.ended == "truncated":
            raise ResetNeeded(
                "step() called after the step budget ran out (truncated=True); call env.reset()"
            )
        return self._ep

    def _out_of_budget(self, ep: Episode) -> bool:
        return self.config.max_steps is not None and ep.steps >= self.config.max_steps

    def _obs(
        self, ep: Episode, kind: int, prompt: str, experience: int, decision: SleepDecision
    ) -> dict[str, Any]:
        return observation(
            kind=kind, prompt=prompt, context=ep.context, task_index=self._exp_task[experience],
            context_chars=self.config.context_chars, decision=decision,
        )  # fmt: skip

    def _present(self, ep: Episode) -> dict[str, Any]:
        item = ep.stream.items[ep.pos]
        decision = decide(ep, self.config)
        return self._obs(ep, KINDS.index(item.kind), item.text, item.experience, decision)

    def _sleep_obs(self, ep: Episode) -> dict[str, Any]:
        """The observation while asleep (``kind`` sleep, no sleep allowed, the window's level)."""
        asleep = SleepDecision(may_sleep=False, due=False, level=ep.window.level)
        return self._obs(ep, KINDS.index("sleep"), "", ep.window.experience, asleep)

    def _terminal_obs(self, ep: Episode) -> dict[str, Any]:
        """The observation after the last item: empty prompt, the final memory, no sleep flags."""
        return self._obs(ep, KINDS.index("study"), "", ep.stream.items[-1].experience, _NONE)

    def _wake(self, ep: Episode):
        """End a sleep (see :func:`~sleep_env.transitions.wake`) and present the next item."""
        window, missed, rows = wake(ep, self.config.sleep_cost_steps)
        terminated = ep.pos >= len(ep.stream.items)
        truncated = self._out_of_budget(ep)
        self._probe_rows = tuple(rows)
        ep.ended = "terminated" if terminated else "truncated" if truncated else None
        obs = self._terminal_obs(ep) if terminated else self._present(ep)
        info = self._info(
            ep, experience=window.experience, kind="sleep", missed=missed, level=window.level
        )
        return obs, 0.0, bool(terminated), bool(truncated), info

    def _info(self, ep: Episode, **kwargs: Any) -> dict[str, Any]:
        """The info dict (:func:`~sleep_env.episode.episode_info`) with ``probe_due`` from the env."""
        return episode_info(ep, probe_due=bool(self._probe_rows), **kwargs)

    # ---------------------------------------------------------------- checkpointing
    def get_state(self) -> dict[str, Any]:
        """Return the env's whole mutable state as a JSON-able dict (for checkpoints).

        It holds the stream seed (the stream itself is rebuilt from it), the position, the
        short-term memory, the sleep window, the counters, the step records, ``R``, ``b``, the
        probe rows due and the state of the env's random generator. :meth:`set_state` restores it.

        Returns:
            A dict of JSON-able values (``nan`` in ``R`` and ``b`` written as ``None``).

        Raises:
            ResetNeeded: Before ``reset()``.
        """
        return env_state(
            self._started(), n_experiences=self.n_experiences, R=self._R, b=self._b,
            probe_rows=self._probe_rows, np_random=self._np_random,
        )  # fmt: skip

    def set_state(self, state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Restore a state from :meth:`get_state` (of an env with the same config).

        Args:
            state: The dict :meth:`get_state` returned (e.g. read back from JSON).

        Returns:
            ``(observation, info)`` as the env presents them now: the current item (or the sleep
            observation while asleep, or the terminal observation); ``info["kind"]`` is
            ``"resume"`` and ``info["probe_due"]`` tells whether a probe round is still due.

        Raises:
            SleepEnvError: If ``state`` is not a state of this env (missing key, other number of
                experiences, unknown version).
        """
        try:
            check_header(state, self.n_experiences)
            super().reset(seed=None)
            if state["np_random"] is not None:
                self.np_random = np.random.Generator(np.random.PCG64())
                self.np_random.bit_generator.state = state["np_random"]
            stream = self._build(int(state["stream_seed"]))
            ep = Episode.from_state(state, stream)
            R, b, rows = read_probe_state(state, self.n_experiences)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SleepEnvError(
                f"not a SleepEnv state ({type(exc).__name__}: {exc}); pass the dict env.get_state() returned"
            ) from None
        self._ep, self._R[:], self._b[:], self._probe_rows = ep, R, b, rows
        if ep.window is not None:
            obs, experience = self._sleep_obs(ep), ep.window.experience
        elif ep.pos >= len(stream.items):
            obs, experience = self._terminal_obs(ep), stream.items[-1].experience
        else:
            obs, experience = self._present(ep), stream.items[ep.pos].experience
        return obs, self._info(ep, experience=experience, kind="resume", window=ep.window)
