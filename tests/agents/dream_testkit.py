"""Shared inputs of the Dreaming tests (tests/agents/test_dreaming.py, test_dream_agents.py)."""

from __future__ import annotations

Q = "Question: Where does Ann live?\nAnswer: Ann lives in"
MEMORIES = ("Ann lives in Rome.", "Bob lives in Oslo.")
QUERIES = ((Q, "Rome"),)


def _parseable(monkeypatch):
    """The tiny random model never writes a parseable dream: every dream reads as one statement row."""
    monkeypatch.setattr("agents.dream_stages.parse_dream", lambda text, template, max_rows: [
        ("Recall what you know.\nAnswer:", "Ann lives in Rome.")])
