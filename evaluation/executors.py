"""Executors of a comparison grid: a pool of local worker processes, or Ray.

Both call ``fn(cell)`` for every cell and report each outcome through
``on_done(i, attempt, metrics, exc) -> bool``; when it returns True the cell is submitted again
(attempt + 1). A worker process that dies (a broken pool) fails its pending cells, and the pool is
rebuilt for their retries.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cores", "run_local", "run_ray"]


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (Linux)
    except AttributeError:
        return os.cpu_count() or 1


def _local_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_local(cells: list[dict], fn: Callable, workers: int, on_done: Callable) -> None:
    """Run the cells in a pool of ``workers`` spawned processes (a picklable ``fn``)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = _local_pool(workers)
    pending: dict[Any, tuple[int, int, Any]] = {}

    def submit(i: int, attempt: int) -> None:
        pending[pool.submit(fn, cells[i])] = (i, attempt, pool)

    try:
        for i in range(len(cells)):
            submit(i, 0)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i, attempt, owner = pending.pop(fut)
                try:
                    metrics = fut.result()
                except Exception as exc:  # noqa: BLE001 -- a cell's failure is data for the report
                    if isinstance(exc, BrokenProcessPool) and owner is pool:  # a worker died: new pool
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = _local_pool(workers)
                    if on_done(i, attempt, None, exc):
                        submit(i, attempt + 1)
                else:
                    on_done(i, attempt, metrics, None)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(cells: list[dict], fn: Callable, address: str | None, workers: int, on_done: Callable) -> None:
    """Run the cells as Ray tasks (1 CPU each) on a local instance with ``workers`` CPUs, or at ``address``.

    Raises:
        DependencyNotInstalled: If ray is not installed.
    """
    try:
        import ray
    except ImportError:
        from sleep_env.errors import DependencyNotInstalled

        raise DependencyNotInstalled('the Ray executor needs ray: pip install "ray>=2.9"') from None
    root = str(Path(__file__).resolve().parents[1])
    env_vars = {"PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                "OMP_NUM_THREADS": "1"}
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": {"env_vars": env_vars}}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers
        ray.init(**kwargs)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        pending = {remote.remote(cells[i]): (i, 0) for i in range(len(cells))}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i, attempt = pending.pop(ref)
                try:
                    metrics = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 -- RayTaskError wraps the cell's error
                    if on_done(i, attempt, None, exc):
                        pending[remote.remote(cells[i])] = (i, attempt + 1)
                else:
                    on_done(i, attempt, metrics, None)
    finally:
        if started:
            ray.shutdown()
