"""The memory substrate: levels >= 1 are pools of masked low-rank experts on the MLP blocks."""

from agents.memory.experts import ExpertBlock, ExpertConfig, ExpertMemory

__all__ = ["ExpertBlock", "ExpertConfig", "ExpertMemory"]
