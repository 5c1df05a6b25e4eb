"""Writing run and compare directories safely: atomic writes, strict JSON, claiming an output folder.

Every file sleep-env writes goes through :func:`atomic_write_text` / :func:`atomic_save_npy`
(temporary file in the same folder + ``os.replace``), so an interrupted write leaves the old file or
the new one, never half of one. JSON is strict (:func:`json_safe`: nan and inf -> null).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sleep_env.errors import SleepEnvError

__all__ = ["atomic_write_text", "atomic_save_npy", "claim_output_dir", "json_safe", "pending_agents"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    """Save ``arr`` as ``.npy`` at ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".npy", dir=path.parent)
    os.close(fd)
    np.save(tmp, arr)
    os.replace(tmp, path)


def _written_by_us(folder: Path) -> bool:
    """A run directory (config.json) or a compare directory (compare.json, or runs/ of an interrupted one)."""
    return (folder / "config.json").is_file() or (folder / "compare.json").is_file() or (folder / "runs").is_dir()


def claim_output_dir(out: str | Path, *, force: bool, what: str, also: str = "") -> Path:
    """Create ``out`` as an empty folder for a new run or comparison (runs never mix).

    Args:
        out: The folder to write.
        force: Delete a used folder first: only one sleep-env wrote (a run or compare directory);
            never a file or any other folder.
        what: How errors name it (``"run directory"``).
        also: Extra advice for a used folder (e.g. ``"--resume it, "``).

    Returns:
        ``out`` as a Path, existing and empty.

    Raises:
        SleepEnvError: ``out`` is a file, a non-empty folder and ``force`` is not set, or a
            non-empty folder that sleep-env did not write.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SleepEnvError(f"{what} {str(out)!r} is a file, not a folder; pass a folder path to --out "
                            "(--force never deletes files)")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SleepEnvError(f"{what} {str(out)!r} already exists and is not empty; pass a new --out, "
                                f"{also}or --force to overwrite it (runs are never mixed)")
        if not _written_by_us(out):
            raise SleepEnvError(f"{what} {str(out)!r} is not empty and was not written by sleep-env (no config.json, "
                                "compare.json or runs/ in it); --force only replaces sleep-env output: pass a new --out")
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SleepEnvError(f"cannot create {what} {str(out)!r} ({exc.strerror}); pass a folder path whose "
                            "parents are folders you can write") from None
    return out


def json_safe(x: Any) -> Any:
    """``x`` with every non-finite float (nan, +-inf; at any depth of dicts, lists and tuples) as None.

    JSON has no nan or infinity (``json.dumps`` would write the non-standard ``NaN`` / ``Infinity``);
    null reads as "undefined" (e.g. a metric with nothing to average). Tuples become lists.
    """
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


def pending_agents(summary: dict, run_dir: Path) -> list[str]:
    """The agents of a run that have no summary entry yet (an interrupted run), in config order.

    Read from ``summary["pending"]`` (written by ``sleep-env run``) and, when the run directory's
    ``config.json`` is readable, from the agents it lists.
    """
    pending = [str(a) for a in summary.get("pending", []) if isinstance(summary.get("pending"), list)]
    try:
        agents = json.loads((run_dir / "config.json").read_text()).get("agents", [])
    except (OSError, ValueError, AttributeError):
        agents = []
    done = summary.get("agents", {})
    pending += [str(a) for a in agents if isinstance(a, str) and a not in done and a not in pending]
    return pending
