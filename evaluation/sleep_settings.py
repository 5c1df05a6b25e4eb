"""``SleepSettings``: the ``sleep:`` section of a run config (the SleepAgent's consolidation knobs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluation.config_values import _did_you_mean
from sleep_env.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class SleepSettings:
    """Knobs of the SleepAgent's consolidation (mirrors ``agents.SleepAgentConfig``).

    Attributes:
        steps: Optimiser steps per sleep.
        batch_size: Sequences per step.
        lr: Learning rate of the new expert.
        on_policy_fraction: GKD lambda in [0, 1].
        beta: Generalized-JSD beta in [0, 1] (0 = forward KL).
        replay_per_batch: Earlier-day sequences per step.
        replay: Templates of the replay the teacher writes from the memory: ``cloze`` (completions
            of memory units from their prefixes) and/or ``queries`` (the day's questions).
        cuts_per_unit: Cloze prefixes per memory unit.
        support: ``lexical`` (drop a replay answer with a content word the memory does not contain)
            or ``none`` (keep every non-empty answer; e.g. for the random ``tiny`` model, whose
            answers the memory never supports).
        router: ``lexical``, ``always`` or ``never``.
        d_low: Expert rank.
        pool_size: Pre-allocated experts per MLP block.
        first_layer: Lowest MLP block that gets experts (0 = all blocks).
        levels: Expert levels K (a sleep of level L consolidates 0->1, ..., L-1->L).
        alpha: Weight of distillation vs Learning to Imitate (1 = no LTI).
        gamma: Weight of the semantic reward in the LTI reward.
        z0: Token edit-distance threshold of the LTI edit reward (inclusive).
        expand: New expert per consolidation (false = ablation "no expansion").
        min_retention: Roll a consolidation back when older-replay agreement falls below this.
    """

    steps: int = 28
    batch_size: int = 12
    lr: float = 1.5e-2
    on_policy_fraction: float = 0.0
    beta: float = 0.0
    replay_per_batch: int = 6
    replay: tuple[str, ...] = ("cloze", "queries")
    cuts_per_unit: int = 4
    support: str = "lexical"
    router: str = "lexical"
    d_low: int = 64
    pool_size: int = 5
    first_layer: int = 0
    levels: int = 1
    alpha: float = 1.0
    gamma: float = 0.5
    z0: int = 4
    expand: bool = True
    min_retention: float = 0.25

    def __post_init__(self) -> None:
        # the rules of agents.SleepAgentConfig / ExpertConfig, checked at load time (not after the first agent ran)
        def fix(name: str, value: Any = None) -> str:  # "; write e.g. sleep: {steps: 28}" (the default)
            return f"; write e.g. sleep: {{{name}: {getattr(SleepSettings, name) if value is None else value}}}"

        for name in ("steps", "batch_size", "d_low", "pool_size", "levels", "cuts_per_unit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sleep.{name} must be >= 1, got {getattr(self, name)}{fix(name)}")
        if self.z0 < 0:
            raise ConfigError(f"sleep.z0 must be >= 0 (a token edit distance), got {self.z0}{fix('z0')}")
        if self.first_layer < 0:
            raise ConfigError(f"sleep.first_layer must be >= 0, got {self.first_layer}{fix('first_layer')}")
        if not self.lr > 0 or self.lr == float("inf"):
            raise ConfigError(f"sleep.lr must be a finite number > 0, got {self.lr}; write e.g. 0.001")
        for name in ("on_policy_fraction", "beta", "alpha", "gamma", "min_retention"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"sleep.{name} must be in [0, 1], got {getattr(self, name)}{fix(name)}")
        if not 0 <= self.replay_per_batch < self.batch_size:
            raise ConfigError(
                f"sleep.replay_per_batch must be in [0, sleep.batch_size={self.batch_size}), got {self.replay_per_batch}"
                f"{fix('replay_per_batch', min(SleepSettings.replay_per_batch, self.batch_size - 1))}"
            )
        sources = ("cloze", "queries")
        if not self.replay or any(r not in sources for r in self.replay):
            bad = next((r for r in self.replay if r not in sources), "")
            raise ConfigError(f"sleep.replay must be a non-empty list of {', '.join(sources)}; got {list(self.replay)!r}"
                              f"{_did_you_mean(str(bad), sources)}; write e.g. sleep: {{replay: [cloze, queries]}}")
        if self.support not in ("lexical", "none"):
            raise ConfigError(f"sleep.support must be lexical or none, got {self.support!r}"
                              f"{_did_you_mean(str(self.support), ('lexical', 'none'))}{fix('support')}")
        if self.router not in ("lexical", "always", "never"):
            raise ConfigError(f"sleep.router must be one of lexical, always, never; got {self.router!r}"
                              f"{_did_you_mean(str(self.router), ('lexical', 'always', 'never'))}{fix('router')}")
