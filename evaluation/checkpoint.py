"""Checkpoints of a lifetime: one file per agent, replaced atomically at every wake-up.

A checkpoint holds the lifetime loop's state (the env's ``get_state()``: stream position, short-term
memory, RNG state, ``R``, ``b``, records; the sleep reports and probe answers so far), the agent's
``state_dict()`` (for ``SleepAgent``: its experts, RNG states, replay prompts) and the experiment's
own bookkeeping (measurements, probe history). It is written with ``torch.save`` to a temporary file
in the same folder and renamed over the previous one (``os.replace``), so a run killed at any moment
leaves either the previous or the new checkpoint, never a partial one. It is read back with
``torch.load(weights_only=True)``: plain types and tensors only, no code.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

from sleep_env.errors import SleepEnvError

__all__ = ["StatefulAgent", "save_checkpoint", "load_checkpoint", "keep_checkpoint", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = "sleep-env-checkpoint"


@runtime_checkable
class StatefulAgent(Protocol):
    """An agent that can be checkpointed (optional next to :class:`sleep_env.Agent`).

    ``state_dict()`` returns everything its future behaviour depends on that is not rebuilt from
    its constructor arguments (trained weights, RNG states, replay buffers), as plain Python types
    and CPU tensors so that ``torch.save``/``torch.load(weights_only=True)`` round-trip it.
    ``load_state_dict(state)`` restores it into a freshly built agent. An agent without these
    methods runs normally, but an interrupted lifetime of it restarts from the beginning.
    """

    def state_dict(self) -> dict[str, Any]:
        """Return the agent's state (plain types and tensors)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` output."""
        ...


def save_checkpoint(path: str | Path, *, loop: Mapping[str, Any], agent: Mapping[str, Any] | None,
                    extra: Mapping[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file in the same folder + ``os.replace``).

    Args:
        path: The checkpoint file (``<run>/<agent>/checkpoint.pt``).
        loop: The JSON-able loop state ``run_lifetime``'s ``on_wake`` received.
        agent: The agent's ``state_dict()``, or ``None`` for an agent without state.
        extra: JSON-able bookkeeping of the caller.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _replacing(path) as tmp:
        torch.save({"format": _FORMAT, "version": 1, "loop": json.dumps(loop), "agent": agent,
                    "extra": json.dumps(extra)}, tmp)


@contextlib.contextmanager
def _replacing(path: Path):
    """Yield a temporary file beside ``path`` to write; on success it replaces ``path`` (``os.replace``),
    on any error it is removed and ``path`` is left as it was."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def keep_checkpoint(path: str | Path, sleeps: int) -> Path:
    """Copy the checkpoint ``path`` to ``checkpoint-sleep<sleeps>.pt`` beside it, atomically.

    Used by ``RunConfig.keep_checkpoints``: a kept copy is never replaced by a later wake-up, so a run
    can branch from any sleep (``examples/reseed.py``).

    Returns:
        The copy's path.
    """
    path = Path(path)
    dest = path.with_name(f"{path.stem}-sleep{int(sleeps)}{path.suffix}")
    with _replacing(dest) as tmp:
        shutil.copyfile(path, tmp)
    return dest


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``{"loop": dict, "agent": dict | None, "extra": dict}``.

    Raises:
        SleepEnvError: If the file is missing, truncated, corrupt or not a sleep-env checkpoint;
            the message names the file and the fix.
    """
    import torch

    path = Path(path)
    fix = "delete it to restart that agent's lifetime from the beginning, or pass another run directory"
    if not path.is_file():
        raise SleepEnvError(f"checkpoint {str(path)!r} does not exist; {fix}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        # torch's weights_only refusal opens with a paragraph on its 2.6 default change, which reads like a
        # version problem; for a file this module did not write the useful part is "not a checkpoint"
        why = "" if "weights_only" in str(exc) else f" ({type(exc).__name__}: {_first_words(exc)})"
        raise SleepEnvError(f"checkpoint {str(path)!r} is corrupt or not a sleep-env checkpoint{why}; {fix}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("version") != 1:
        raise SleepEnvError(f"{str(path)!r} is not a sleep-env checkpoint (version 1); {fix}")
    try:
        return {"loop": json.loads(data["loop"]), "agent": data["agent"], "extra": json.loads(data["extra"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise SleepEnvError(f"checkpoint {str(path)!r} is corrupt ({type(exc).__name__}: {_first_words(exc)}); {fix}") from None


def _first_words(exc: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message, cut at a word boundary (torch's messages run long)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
