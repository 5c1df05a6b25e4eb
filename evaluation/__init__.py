"""Evaluation: pure metrics over accuracy matrices and run records (no torch, no env state)."""
