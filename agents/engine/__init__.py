"""Rollout engines: one engine serves the agent, the probes, teacher sampling and dreams.

``VLLMEngine`` is importable without vLLM installed; vLLM itself is imported when one is built.
"""

from agents.engine.base import (
    PROBE_COMPLETION,
    PROBE_PROMPT,
    IncompatibleModels,
    PromptTooLong,
    Rollout,
    RolloutEngine,
    RolloutError,
    SamplingParams,
    StaleWeights,
    check_compatible,
)
from agents.engine.export import export_for_serving
from agents.engine.batching import build_batch, position_ids
from agents.engine.hf import TransformersEngine
from agents.engine.vllm import VLLMEngine

__all__ = [
    "Rollout",
    "RolloutEngine",
    "SamplingParams",
    "TransformersEngine",
    "VLLMEngine",
    "build_batch",
    "position_ids",
    "check_compatible",
    "export_for_serving",
    "RolloutError",
    "PromptTooLong",
    "IncompatibleModels",
    "StaleWeights",
    "PROBE_PROMPT",
    "PROBE_COMPLETION",
]
