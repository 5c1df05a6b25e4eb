"""TensorBoard scalars are complete on disk and strictly increasing, read back with EventAccumulator."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from evaluation.tblog import ScalarLogger  # noqa: E402


def _steps(logdir, tag):
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)], [e.value for e in acc.Scalars(tag)]


def test_short_run_is_complete_on_disk(tmp_path):
    log = ScalarLogger(tmp_path)
    for s in range(10):
        log.scalar("eval/acc", s / 10, s)
    log.close()
    steps, values = _steps(tmp_path, "eval/acc")
    assert steps == list(range(10))
    assert values == pytest.approx([s / 10 for s in range(10)])


def test_exception_inside_the_run_keeps_the_points_before_it(tmp_path):
    log = ScalarLogger(tmp_path)
    with pytest.raises(RuntimeError):
        try:
            for s in range(10):
                log.scalar("eval/acc", 1.0, s)
                if s == 5:
                    raise RuntimeError("boom")
        finally:
            log.close()
    assert _steps(tmp_path, "eval/acc")[0] == [0, 1, 2, 3, 4, 5]


def test_steps_must_increase_and_values_be_finite(tmp_path):
    log = ScalarLogger(tmp_path)
    log.scalar("a", 1.0, 3)
    with pytest.raises(ValueError, match="strictly increase"):
        log.scalar("a", 1.0, 3)
    log.scalar("b", 1.0, 0)  # another tag has its own last step on the shared global step
    with pytest.raises(ValueError, match="finite"):
        log.scalar("a", math.nan, 4)
    with pytest.raises(ValueError, match="finite"):
        log.scalar("a", "0.5", 4)
    log.close()


def test_purge_step_hides_what_an_interrupted_run_wrote_after_its_checkpoint(tmp_path):
    log = ScalarLogger(tmp_path)
    for s in range(8):  # the killed run got to step 7; its checkpoint was at step 4
        log.scalar("x", float(s), s)
    log.close()
    log = ScalarLogger(tmp_path, purge_step=5)
    with pytest.raises(ValueError):
        log.scalar("x", 0.0, 4)  # below the purge step: would loop back
    for s in range(5, 10):
        log.scalar("x", 10.0 + s, s)
    log.close()
    steps, values = _steps(tmp_path, "x")
    assert steps == list(range(10))
    assert values[:5] == pytest.approx([0, 1, 2, 3, 4]) and values[5:] == pytest.approx([15, 16, 17, 18, 19])
