"""The memory substrate: level 0 is the context; levels 1..K are pools of masked low-rank experts on the MLP blocks."""

from agents.memory.experts import ExpertBlock, ExpertConfig, ExpertMemory, ParameterCounts, PoolExhausted

__all__ = ["ExpertBlock", "ExpertConfig", "ExpertMemory", "ParameterCounts", "PoolExhausted"]
