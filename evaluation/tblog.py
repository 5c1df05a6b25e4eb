"""TensorBoard scalars on one strictly increasing global step, flushed so short runs are complete.

an unflushed writer loses the last points of short runs, a per-phase step counter makes
curves zig-zag, and two runs sharing a log directory overlap. Here each lifetime writes its own
directory, every tag's steps strictly increase (the global step is the number of env steps taken,
shared by wake items, probes and sleeps), the writer is flushed after each probe round and sleep and
closed in a ``finally``, and a resumed run purges the events the killed run wrote after its last
checkpoint (``purge_step``), so the curve never loops back.
"""

from __future__ import annotations

import math
import numbers
import time
from pathlib import Path

__all__ = ["ScalarLogger"]


def _wait_past_existing_event_files(logdir: Path) -> None:
    """Sleep (at most ~1 s) until a new event file will sort after every file already in ``logdir``.

    TensorBoard reads a directory's event files in name order, and a name starts with the creation
    time in whole seconds, then host and pid. A resumed writer created in the same second as the
    interrupted one could sort first (a smaller pid), and its purge of the interrupted run's later
    steps would then be applied before those steps are read: the curve would loop back.
    """
    stamps = []
    for f in logdir.glob("events.out.tfevents.*"):
        part = f.name.split(".")[3] if len(f.name.split(".")) > 3 else ""
        if part.isdigit():
            stamps.append(int(part))
    if stamps:
        while int(time.time()) <= max(stamps):
            time.sleep(0.05)


class ScalarLogger:
    """A TensorBoard scalar writer for one lifetime (torch's ``SummaryWriter`` underneath).

    Args:
        logdir: The event directory (one per schedule, agent and seed).
        purge_step: When resuming: events at this step or later, written by the interrupted run,
            are hidden (``SummaryWriter(purge_step=...)``); ``None`` for a new run.

    Raises:
        DependencyNotInstalled: If ``tensorboard`` is not installed.
    """

    def __init__(self, logdir: str | Path, *, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises ImportError when the tensorboard package is missing
            from sleep_env.errors import DependencyNotInstalled

            raise DependencyNotInstalled("TensorBoard logging needs tensorboard: pip install tensorboard") from None
        self.logdir = Path(logdir)
        if purge_step is not None:
            _wait_past_existing_event_files(self.logdir)
        self._writer = SummaryWriter(log_dir=str(self.logdir), purge_step=purge_step, flush_secs=10)
        self._last: dict[str, int] = {}
        self._floor = -1 if purge_step is None else purge_step - 1

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log ``value`` (converted to a Python float) under ``tag`` at ``step``.

        Raises:
            ValueError: If ``value`` is not a finite real number (``nan`` metrics are skipped by
                the caller, never logged as 0), or ``step`` does not exceed the tag's last step.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise ValueError(f"scalar {tag!r} must be a finite number, got {value!r}; skip undefined (nan) metrics")
        last = self._last.get(tag, self._floor)
        if step <= last:
            raise ValueError(f"scalar {tag!r}: step {step} does not exceed the last step {last}; steps must strictly increase")
        self._last[tag] = step
        self._writer.add_scalar(tag, float(value), global_step=int(step))

    def flush(self) -> None:
        """Write pending events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
