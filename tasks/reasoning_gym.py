"""``rg:<name>``: any reasoning-gym generator (Stojanovski et al. 2025) as a task.

``make_task("rg:basic_arithmetic", config={...})`` wraps ``reasoning_gym.create_dataset(name,
seed=..., size=..., **config)`` (install ``sleep-env[tasks]``; imported when the task is built,
never when ``tasks`` is imported). reasoning-gym item ``i`` of a dataset with seed ``s`` is a pure
function of ``(s, i)``; this wrapper reads the dataset of block ``b = i // size`` with the seed
``SeedSequence([seed, b]).generate_state(1)[0]``, so any index is valid and seeds do not alias.

Item ``idx`` uses three reasoning-gym items: ``3 idx`` is a worked example to study
(``"Question: <q>\\nAnswer: <a>"``), ``3 idx + 1`` is the query and ``3 idx + 2`` the probe: new
instances of the studied skill, with their own gold answers. Prompts read
``"Question: <q>\\nAnswer:"``. Scoring calls the dataset's own ``score_answer`` on the response
(its first line when the gold answer is one line, stripped; an empty one scores 0.0); a scorer that raises scores 0.0 (some
do on malformed text, e.g. ``prime_factorization``), as does a result outside [0, 1] or nan.

Caveats (reasoning-gym 0.1.25): ``composite`` needs ``config={"datasets": ...}``; ``boxnet``,
``graph_color``, ``propositional_logic``, ``rubiks_cube`` and ``rush_hour`` have no gold answer
string and are refused when their first item is built; ``game_of_life_halting`` has been seen to
score a wrong answer 1.0. The declared charset is printable ASCII + newline plus
:data:`RG_SYMBOLS` (the non-ASCII symbols the generators use, measured over 30 items of every
family, plus Latin-1 letters) plus ``extra_chars``; ``codeio`` and ``emoji_mystery`` need more (pass ``extra_chars``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tasks.base import TEXT_CHARSET, Problem, Task, check_index, first_line

__all__ = ["ReasoningGymTask", "RG_SYMBOLS"]

RG_SYMBOLS: frozenset[str] = frozenset("’“”•€™↑→↓↔∧∨∫⊕─│┌┐└┘├▀▄█▌▐▪✅❌❔") | frozenset(
    chr(c) for c in range(0xA1, 0x100)
)
"""Non-ASCII characters reasoning-gym 0.1.25 generators use (all but codeio and emoji_mystery): the
symbols seen in 30 items of every generator plus Latin-1 (accented letters of word-based tasks)."""

NO_GOLD = ("boxnet", "graph_color", "propositional_logic", "rubiks_cube", "rush_hour")
"""reasoning-gym 0.1.25 generators whose items have no gold answer string."""


def _import_rg() -> Any:
    try:
        import reasoning_gym
    except ImportError as err:
        raise ImportError(f"rg:<name> tasks need reasoning-gym, which is not installed ({err}); "
                          'install it with: pip install "sleep-env[tasks]"') from None  # fmt: skip
    return reasoning_gym


class ReasoningGymTask(Task):
    """A reasoning-gym generator: study a worked example, answer new instances.

    Args:
        generator: A reasoning-gym dataset name (e.g. ``"basic_arithmetic"``).
        config: Options of the generator's config dataclass (e.g. ``{"min_terms": 2}``).
        size: Items per reasoning-gym dataset block (>= 3); only sets how indices map to blocks.
        extra_chars: Characters to add to the declared charset (for generators beyond RG_SYMBOLS).

    Raises:
        ValueError: If ``generator`` is not a reasoning-gym dataset, or the dataset cannot be built
            with ``config`` (the message names both).
        ImportError: If reasoning-gym is not installed.

    Example:
        >>> task = ReasoningGymTask("basic_arithmetic")
        >>> p = task.problem(seed=0, idx=0)
        >>> p.task, p.prompt.startswith("Question: "), p.prompt.endswith("\\nAnswer:")
        ('rg:basic_arithmetic', True, True)
        >>> task.score(p, p.answer), task.score(p, "not a number")
        (1.0, 0.0)
    """

    def __init__(  # noqa: D107
        self,
        generator: str,
        config: Mapping[str, Any] | None = None,
        size: int = 500,
        extra_chars: str = "",
    ) -> None:
        rg = _import_rg()
        from reasoning_gym.factory import DATASETS

        if not isinstance(generator, str) or generator not in DATASETS:
            near = sorted(n for n in DATASETS if isinstance(generator, str) and generator[:3] in n)[:8]
            raise ValueError(f"generator must be a reasoning-gym dataset name, got {generator!r}; "
                             f"similar names: {near or sorted(DATASETS)[:8]}")  # fmt: skip
        if config is not None and not isinstance(config, Mapping):
            raise ValueError(f"config must be a mapping of generator options, got {config!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 3:
            raise ValueError(f"size must be an integer >= 3, got {size!r}")
        if not isinstance(extra_chars, str):
            raise ValueError(f"extra_chars must be a string of characters, got {extra_chars!r}")
        self.generator, self.config = generator, dict(config or {})
        self.size, self.extra_chars = int(size), extra_chars
        self.name = f"rg:{generator}"
        self._rg = rg
        self._datasets: dict[int, Any] = {}  # dataset seed -> dataset (a cache of pure results)

    def __repr__(self) -> str:
        """Return the constructor call that rebuilds this task."""
        return (f"ReasoningGymTask({self.generator!r}, config={self.config!r}, size={self.size}, "
                f"extra_chars={self.extra_chars!r})")  # fmt: skip

    @property
    def charset(self) -> frozenset[str]:  # type: ignore[override]
        """Printable ASCII + newline, :data:`RG_SYMBOLS` and ``extra_chars``."""
        return TEXT_CHARSET | RG_SYMBOLS | frozenset(self.extra_chars)

    def _dataset(self, rg_seed: int) -> Any:
        if rg_seed not in self._datasets:
            try:
                self._datasets[rg_seed] = self._rg.create_dataset(
                    self.generator, seed=rg_seed, size=self.size, **self.config
                )
            except Exception as err:  # noqa: BLE001 -- reasoning-gym raises assorted types
                raise ValueError(
                    f"reasoning-gym could not build {self.generator!r} with config {self.config!r} "
                    f"({type(err).__name__}: {err}); fix config (composite needs config={{'datasets': ...}})"
                ) from None
        return self._datasets[rg_seed]

    def _entry(self, seed: int, index: int) -> tuple[int, int, dict[str, Any]]:
        block, i = divmod(index, self.size)
        rg_seed = int(np.random.SeedSequence([seed, block]).generate_state(1)[0])
        entry = self._dataset(rg_seed)[i]
        if not isinstance(entry.get("answer"), str):
            raise ValueError(f"rg:{self.generator} items have no gold answer string (answer "
                             f"{entry.get('answer')!r}); pick another generator")  # fmt: skip
        return rg_seed, i, entry

    def problem(self, seed: int, idx: int) -> Problem:
        """Return item ``idx``: a worked example to study and a new instance to answer.

        Raises:
            ValueError: If ``seed`` or ``idx`` is not a non-negative integer, or the generator has
                no gold answers.
        """
        return self._make(seed, idx, 1)

    def probe(self, seed: int, idx: int) -> Problem:
        """Return a third instance of the generator (reasoning-gym item ``3 idx + 2``)."""
        return self._make(seed, idx, 2)

    def score(self, problem: Problem, response: str) -> float:
        """Score with the generator's ``score_answer``; 0.0 when it raises or leaves [0, 1]."""
        if not isinstance(response, str):
            return 0.0
        try:
            meta = problem.metadata
            entry = self._dataset(int(meta["rg_seed"]))[int(meta["rg_index"])]
            if "\n" not in problem.answer:
                response = first_line(response)
            if not response.strip():
                return 0.0  # no answer (reasoning-gym would give a format credit of 0.01)
            score = float(self._dataset(int(meta["rg_seed"])).score_answer(answer=response.strip(), entry=entry))
        except Exception:  # noqa: BLE001 -- a scorer failure on model output is a 0, never an error
            return 0.0
        return score if 0.0 <= score <= 1.0 else 0.0

    def _make(self, seed: int, idx: int, which: int) -> Problem:
        seed, idx = check_index("seed", seed), check_index("idx", idx)
        _, _, example = self._entry(seed, 3 * idx)
        rg_seed, i, entry = self._entry(seed, 3 * idx + which)
        question = str(entry["question"]).strip()
        return Problem(
            task=self.name,
            idx=idx,
            prompt=f"Question: {question}\nAnswer:",
            answer=entry["answer"],
            context=f"Question: {str(example['question']).strip()}\nAnswer: {example['answer']}",
            metadata={"generator": self.generator, "rg_seed": rg_seed, "rg_index": i},
        )
