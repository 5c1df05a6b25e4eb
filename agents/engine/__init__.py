"""Rollout engines: one engine serves the agent, the probes, teacher sampling and dreams."""

from agents.engine.base import Rollout, RolloutEngine, SamplingParams
from agents.engine.hf import TransformersEngine, build_batch

__all__ = ["Rollout", "RolloutEngine", "SamplingParams", "TransformersEngine", "build_batch"]
