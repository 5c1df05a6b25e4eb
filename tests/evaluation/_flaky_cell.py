"""A cell function for the retry test: importable by name in spawned worker processes."""

from pathlib import Path


def cell(c):
    if c["schedule"] == "broken":
        raise RuntimeError("this cell always fails")
    marker = Path(c["run_dir"] + ".tried")
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        raise RuntimeError("first attempt fails")
    return {"acc": 0.5 + 0.1 * c["seed"], "sleeps": 2, "availability": 1.0}


def crash(c):
    """Kills its worker process on the first attempt (a broken pool), succeeds on the retry."""
    import os
    import signal

    marker = Path(c["run_dir"] + ".tried")
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"acc": 1.0}
