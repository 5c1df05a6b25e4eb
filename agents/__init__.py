"""Agents: everything that owns a model (engine, memory substrate, losses, sleep, baselines)."""

from agents.baselines import InContextAgent, ReplaySFTAgent, SDFTSleepAgent, SFTSleepAgent
from agents.dreaming import Dreaming, DreamingConfig
from agents.engine import Rollout, RolloutEngine, SamplingParams, TransformersEngine
from agents.memory.experts import ExpertConfig, ExpertMemory
from agents.models import load_model
from agents.prompting import ContextReader, PromptFormat
from agents.seal import SEALAgent
from agents.seeding import KnowledgeSeeding, SeedingConfig
from agents.sleep_agent import SleepAgent, SleepAgentConfig

__all__ = [
    "InContextAgent",
    "SFTSleepAgent",
    "ReplaySFTAgent",
    "SDFTSleepAgent",
    "SEALAgent",
    "Dreaming",
    "DreamingConfig",
    "KnowledgeSeeding",
    "SeedingConfig",
    "SleepAgent",
    "SleepAgentConfig",
    "TransformersEngine",
    "Rollout",
    "RolloutEngine",
    "SamplingParams",
    "ExpertConfig",
    "ExpertMemory",
    "load_model",
    "ContextReader",
    "PromptFormat",
]
