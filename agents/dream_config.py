"""Dreaming's knobs and records: :class:`DreamingConfig` (with :func:`load_dreaming_config`), one
:class:`Dream`, and a sleep's :class:`DreamReport`. The loop itself is :mod:`agents.dreaming`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from agents.dream_parts import TEMPLATES

__all__ = ["DreamingConfig", "Dream", "DreamReport", "load_dreaming_config", "DREAM_SYSTEM_PROMPT"]

#: The allowed values of DreamingConfig's string fields (``template`` aside: "auto" or a template key).
_CHOICES = {"answers": ("dream", "teacher"), "grounding": ("lexical", "none"), "evaluator": ("logprob", "exact"),
            "apply_guard": ("exact", "tau")}
DREAM_SYSTEM_PROMPT = "Write study notes."


@dataclass(frozen=True, kw_only=True)
class DreamingConfig:
    """Knobs of Dreaming.

    Defaults are small and CPU-friendly (few dreams, few SFT steps: every kept dream pays a trial);
    the paper's counts are in ``examples/configs/dreaming_*.yaml``.

    Attributes:
        dreams: m, dreams sampled per round, >= 1 (paper: 5 per SQuAD passage, 60 per ARC task).
        top_k: Dreams kept by gradient score, >= 0 (paper's ARC: 60 - 45 rejected = 15 kept).
        random_extra: b, further dreams kept at random for diversity, >= 0; ``top_k + random_extra >= 1``.
            A round keeps at most the dreams that parsed, so ``top_k + random_extra >= dreams`` is
            allowed and trials every parsed dream (no selection; each one pays a trial).
        trial_steps: Adam steps of each trial fine-tune on one dream, >= 1 (SEAL inner loop; small
            because every kept dream pays it).
        lr: Adam learning rate of trials and of the apply step, > 0. Measured with
            ``python examples/dream_trials.py --seed 0`` (SmolLM2, the first sleep's consolidated
            expert, 10 dreams, one 3-step trial per parsed dream): at 1e-2 (``SeedingConfig``'s
            range) one trial cut probe accuracy from 1.00 to as low as 0.42 and 0 of 6 trials raised
            tau; at 1e-3 probe accuracy stayed 1.00, 4 of 6 trials raised tau and the gradient score
            had the sign of tau's change in 5 of 6 (docs/dreaming.md, "Trial step size").
        apply_steps: Adam steps training the consolidated level on the accepted dreams, >= 1.
            (Measured at the earlier ``lr: 1e-2``: with 6 every apply was rolled back; with 3 the
            applies committed and seed 2's closed-book accuracy fell from 0.94 to 0.61, hence
            ``apply_guard``.)
        batch_size: Rows per apply step, >= 1.
        rounds: ReST-EM rounds per sleep, >= 1 (SEAL used 2; 3 so that a trend of the reward rate
            within a sleep can show).
        generator_steps: Adam steps of the generator's adapter per round, >= 1.
        generator_lr: Its learning rate, > 0.
        generator_rank: Rank of the generator's adapter, >= 1.
        dream_tokens: Length cap of a dream, tokens, >= 1.
        temperature: Sampling temperature of dreams, > 0. 0.7: SmolLM2 at 1.0 rarely writes a pair
            that a memory line supports (seed 2, first sleep, 12 dreams each: dreams with a grounded
            row 2 at 1.0, 5 at 0.7, 6 at 0.4; grounded rows 2 / 9 / 9), and ReST-EM can only learn
            from rewarded dreams.
        template: ``"auto"`` (arc when the memories hold Input/Output demonstrations, qa when the
            window has answered queries, implications otherwise) or a key of :data:`TEMPLATES`.
        answers: Who answers a ``qa`` dream's questions: ``"dream"`` (default: the dream's own
            answers, as SEAL) or ``"teacher"`` (the model reading the window's memories through the
            agent's context reader with the experts off, Knowledge Seeding's teacher;
            a question it finds no memory line for is dropped). Measured with
            ``examples/dream_trials.py --seed 0`` at lr 1e-3: own answers 4 of 6 trials raised tau,
            the teacher's 2 of 5: SmolLM2's teacher answers the dreams' oddly worded questions badly
            ("lives in a pet tortoise named"). Other templates always keep the dream's text.
        grounding: ``"lexical"`` (default): a ``qa`` dream row is kept only when one memory line
            states its claim (:func:`agents.dream_parts.grounded`: the answer's new words and the
            question's names in one line); ``"none"``: every parsed row is kept (SEAL). Measured on
            SmolLM2 (facts, seeds 0 and 1, first sleep, ``grounding: none``): the applied dreams
            taught dreamt pets ("cat", "dog" for an "owl") and each seed lost one probe that the
            no-Dreaming run answers; the exact-match guard on the day's questions did not catch it.
            The price: dreams cannot combine facts of different lines (the paper's "novel memory
            combinations"); other templates are not checked.
        evaluator: ``"logprob"`` (default: smooth, cheap) or ``"exact"`` (greedy exact match).
        apply_guard: ``"exact"`` (default): the apply step is kept only when tau does not fall *and*
            the greedy exact match on tau's queries does not fall; ``"tau"``: tau alone (measured
            not to be enough: with ``apply_steps: 3`` and ``lr: 1e-2`` tau rose from -1.72 to -1.20
            nats/token while seed 2's probe accuracy fell from 0.92 to 0.58).
        min_retention: Apply guard on older knowledge, in [0, 1]: with ``apply_guard="exact"`` the
            apply step is also rolled back when the greedy exact match on earlier sleeps' answered
            queries (the ``older`` pairs :meth:`agents.dreaming.Dreaming.run` receives; at most
            ``max_eval_queries``, a random subset) falls below ``min_retention`` times its value
            before the apply. 1.0 (default): it may not fall (in aggregate: one older answer lost and
            another gained pass). 0 = off. Not ``sleep.min_retention`` (the consolidation's commit
            threshold on agreement with older replay, 0.25). SEAL agents keep no older queries, so it
            does nothing for them. Why: tau and its exact-match
            guard only see the day's questions, while the apply trains the newest expert with every
            older expert on. (A first version compared the model's own greedy answers before and after
            instead: on SmolLM2, facts, seeds 0 and 1, 6 Adam steps at lr 1e-3 changed the text of
            17-50% of them and all four later applies were rolled back; docs/dreaming.md.)
        apply_anchor: Weight of a KL anchor in the apply, finite and >= 0 (default 1.0; 0 = off, the
            behaviour before session 10). Each apply step minimises ``SFT(dream rows) + apply_anchor *
            KL(before || now)``, the KL (nats per answer token, forward, LwF-style) taken on
            ``batch_size`` of tau's and the older queries' answers against the model before the
            apply (:meth:`agents.dream_stages.DreamStages.anchor`). The dreams may add to what
            consolidation built but not reshape the experts-on model's answer distributions beyond
            them. Measured (default stream, SmolLM2; docs/dreaming.md, table 10): final ACC 1.00 / 0.97
            / 0.97 on seeds 0-2 with 1.0, against 0.94 / 0.94 / 0.94 with 0 and 1.00 / 0.94 / 0.94
            without Dreaming; over seeds 0-5, 0.954 with 1.0, 0.935 with 0, 0.963 without
            Dreaming. Not tuned: 1.0 is the only weight measured. Each anchor row keeps its first
            ``agents.dream_stages.ANCHOR_TOKENS`` answer tokens (memory: a (tokens, vocabulary)
            float32 reference per row).
        recall_guard: Opt-in (default False): with ``apply_guard="exact"``, the apply step is also
            rolled back when the greedy recall of the day's memory statements falls: the cloze items
            of :func:`agents.dream_parts.cloze_pairs` (a statement up to one of the day's answers, raw
            text, no chat template or question; at most ``max_eval_queries``) answered exactly before
            and after. Built for a measured failure it then did not catch: SmolLM2, 24 facts per
            experience, seed 0, second sleep: the apply raised tau from -1.15 to -0.65 nats/token,
            kept the day's exact answers and earlier sleeps' (retention 1.06) and lost 6 probes
            (``eval_dream_probes_lost``, the probes' reworded questions) — with this guard on, the
            recall of the statements stayed at 1.00 of its value and the apply was kept all the same.
            It vetoed no apply in the sleeps measured (default stream seed 0, all 3 sleeps: the same
            lifetime as without it; 24-facts seed 0, the first 2 sleeps).
        heldout_guard: Opt-in (default False): with ``apply_guard="exact"``, the apply step is also
            rolled back when fewer of a held-out set are answered exactly (greedy, closed-book) after
            it than before (:meth:`agents.dreaming.Dreaming.held_out`): the model's own rewordings of
            the day's and of earlier sleeps' answered questions, each kept with its answer stem
            (:meth:`agents.dream_stages.DreamStages.reword`: few-shot, greedy, with the experts off;
            at most ``max_eval_queries`` of each), plus the grounded ``qa`` dream rows that were not
            applied. Why: every other check uses the wording the apply trains on (tau's questions,
            the rewarded dreams), while the probes ask the same facts in other words. Cost: one
            batched greedy generation and two exact-match passes per apply (SmolLM2: the apply stage
            took 24-55 s instead of 17-31 s per sleep). Measured (SmolLM2, session 8,
            docs/dreaming.md "A held-out check on rewordings"): on 24 facts per experience, seed 0,
            it rolled back the second sleep's apply that had raised tau from -1.15 to -0.65 and lost
            6 of 72 probes (held-out exact match 0.88 of before), and the third's; it kept the first,
            which gained 2 probes; the lifetime still ended at 0.764 (0.750 without the guard,
            0.861 without Dreaming). On the default stream (seeds 0-2) it vetoed one apply of 9
            (seed 2's third, which had changed no probe); final accuracy 0.944 on each seed, as without it.
            The dream rows alone were no held-out set there: every dream not applied repeated an
            applied question.
        min_improvement: Reward needs ``tau' - tau > min_improvement`` (nats/token or accuracy), >= 0.
        max_eval_queries: Cap on tau's queries (a random subset), >= 1.
        max_rows: Cap on SFT rows parsed from one dream, >= 1.
        context_chars: The last this many characters of the memories condition the dreams, >= 1.
        random_expert: Ablation switch: one random extra expert active while sampling.
        dreams_per_expert: Dreams sampled in one batch under one random-expert draw, >= 1 (1 = a
            fresh random expert per dream, as slow as unbatched sampling; the paper does not say how
            often the random expert is redrawn).
        noise_std: Size of the random low-rank direction used instead when there is no other
            expert to pick (first sleep; SEAL-style agents), std of ``B`` in units of ``1/sqrt(rank)``,
            >= 0 (0 = no perturbation). Small so that the dreams stay readable; not tuned.
        gradient_selection: Ablation switch: False keeps ``top_k + random_extra`` dreams at random.
        rest_em: Ablation switch: False = one round, generator never trained.
        seed: Seed of every random choice of Dreaming.
    """

    dreams: int = 8
    top_k: int = 3
    random_extra: int = 1
    trial_steps: int = 3
    lr: float = 1e-3
    apply_steps: int = 6
    batch_size: int = 8
    rounds: int = 3
    generator_steps: int = 4
    generator_lr: float = 3e-3
    generator_rank: int = 8
    dream_tokens: int = 96
    temperature: float = 0.7
    template: str = "auto"
    answers: str = "dream"
    grounding: str = "lexical"
    evaluator: str = "logprob"
    apply_guard: str = "exact"
    min_improvement: float = 0.0
    min_retention: float = 1.0
    apply_anchor: float = 1.0
    recall_guard: bool = False
    heldout_guard: bool = False
    max_eval_queries: int = 32
    max_rows: int = 8
    context_chars: int = 2000
    random_expert: bool = True
    dreams_per_expert: int = 4
    noise_std: float = 0.1
    gradient_selection: bool = True
    rest_em: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lr", "generator_lr", "temperature", "noise_std", "min_improvement", "min_retention", "apply_anchor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{name} must be a number, got {v!r}")
        for name in ("dreams", "trial_steps", "apply_steps", "batch_size", "rounds", "generator_steps",
                     "generator_rank", "dream_tokens", "dreams_per_expert", "max_eval_queries", "max_rows", "context_chars"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        for name in ("random_expert", "gradient_selection", "rest_em", "recall_guard", "heldout_guard"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("top_k", "random_extra"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.top_k + self.random_extra < 1:
            raise ValueError(f"top_k + random_extra must be >= 1 (dreams kept per round), got {self.top_k} + {self.random_extra}")
        for name in ("lr", "generator_lr", "temperature"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not (math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, got {self.noise_std}")
        if not (math.isfinite(self.min_improvement) and self.min_improvement >= 0):
            raise ValueError(f"min_improvement must be a finite number >= 0, got {self.min_improvement}")
        if not (math.isfinite(self.apply_anchor) and self.apply_anchor >= 0):
            raise ValueError(f"apply_anchor must be a finite number >= 0 (weight of the apply's KL anchor; 0 = off), got {self.apply_anchor}")
        if not (0.0 <= self.min_retention <= 1.0):
            raise ValueError(f"min_retention must be in [0, 1] (exact match on older queries after / before an apply), got {self.min_retention}")
        if self.template != "auto" and self.template not in TEMPLATES:
            raise ValueError(f"template must be 'auto' or one of {sorted(TEMPLATES)}, got {self.template!r}")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        for name in ("recall_guard", "heldout_guard"):  # checks of the exact-match guard: nothing to add to with "tau"
            if getattr(self, name) and self.apply_guard != "exact":
                raise ValueError(f"{name} needs apply_guard='exact' (it adds to the exact-match guard), got apply_guard="
                                 f"{self.apply_guard!r}; set apply_guard: exact or {name}: false")


def _a(noun: str) -> str:
    """``noun`` with its indefinite article ("a list", "an int")."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def load_dreaming_config(path) -> DreamingConfig:
    """Read the ``dreaming:`` mapping of a YAML file (e.g. ``examples/configs/dreaming_squad.yaml``).

    Raises:
        ValueError: the file has no ``dreaming`` mapping, a key is not a :class:`DreamingConfig` field,
            or a value is out of range (the message names the file and the field).
    """
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a YAML mapping with a 'dreaming:' key, got {_a(type(doc).__name__)}; "
                         "write e.g. 'dreaming: {dreams: 4, top_k: 1}'")
    data = doc.get("dreaming")
    if "dreaming" not in doc:
        top = sorted(set(doc) & {f.name for f in dataclasses.fields(DreamingConfig)})
        hint = f" (found {top} at the top level: nest them under dreaming:)" if top else ""
        raise ValueError(f"{path}: no 'dreaming:' key{hint}; write e.g. 'dreaming: {{dreams: 4, top_k: 1}}'")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a 'dreaming:' mapping of DreamingConfig fields, got {data!r}")
    fields = {f.name: f.type for f in dataclasses.fields(DreamingConfig)}
    if bad := sorted(set(data) - set(fields)):
        raise ValueError(f"{path}: unknown dreaming key(s) {bad}; valid keys: {sorted(fields)}")
    for key, value in data.items():  # PyYAML reads 1e-3 as a string (YAML 1.1): numbers are numbers here
        if fields[key] in ("float", float) and isinstance(value, str):
            try:
                data[key] = float(value)
            except ValueError:
                raise ValueError(f"{path}: dreaming.{key} must be a number, got {value!r}; write e.g. {key}: 0.001") from None
    try:
        return DreamingConfig(**data)
    except ValueError as e:
        raise ValueError(f"{path}: dreaming: {e}") from None


# -- records ---------------------------------------------------------------------------------------------
@dataclass
class Dream:
    """One sampled dream.

    Attributes:
        prompt: The rendered prompt it continues (memories + template).
        text: Primer + sampled completion (characters).
        token_ids: The sampled completion's ids (EOS included when generated): what ReST-EM trains on.
        rows: Its SFT rows ``(rendered prompt, answer text)``; empty = unparseable (reward 0).
        score: Gradient score (nan before selection; -inf without rows).
        reward: 1 if its trial improved tau, 0 otherwise (-1 = not trialed).
        tau: Evaluator value after its trial (nan = not trialed).
        changed: Rows whose answer the teacher replaced (``DreamingConfig.answers == "teacher"``).
        ungrounded: Parsed rows dropped by the grounding check (``DreamingConfig.grounding``).
        learn_ids: What ReST-EM trains the generator on when rewarded: ``token_ids``, or the
            dream rewritten as its grounded rows when grounding dropped some (None = ``token_ids``).
    """

    prompt: str
    text: str
    token_ids: tuple[int, ...]
    rows: list[tuple[str, str]]
    score: float = float("nan")
    reward: int = -1
    tau: float = float("nan")
    changed: int = 0
    ungrounded: int = 0
    learn_ids: tuple[int, ...] | None = None


@dataclass
class DreamReport:
    """Outcome of one :meth:`Dreaming.run` (counts per sleep, summed over rounds).

    Attributes:
        sampled / parsed / trialed / rewarded: Dreams sampled, with at least one row (after
            grounding), selected and trialed (only dreams with rows are selected), with reward 1.
        rows_applied: SFT rows the consolidated level was trained on (0 = nothing applied).
        rows_changed: Dream rows whose answer the teacher replaced (the dreams' wrong or
            differently worded answers; 0 with ``answers="dream"``).
        rows_ungrounded: Dream rows dropped because no memory line states their claim (``grounding``).
        reward_rate: Per ReST-EM round, rewarded / trialed in [0, 1]; nan when no dream of the round
            had rows (nothing trialed). Among the *selected* dreams, so it is biased upward.
        yield_rate: Per round, the share of sampled dreams with at least one row after parsing and
            grounding, in [0, 1] (the rest get reward 0 without a trial).
        trial_gain: Per round, the mean of ``tau' - tau`` over the trialed dreams whose ``tau'`` is finite (nats per token
            with the logprob evaluator; nan when nothing was trialed): how far the trials miss or
            clear the reward threshold (``min_improvement``).
        expected_reward: Per round, ``yield_rate * reward_rate`` (0 when nothing was trialed): an
            estimate of the generator's expected reward ``E_{dream ~ LM(.|C)}[r]``, the objective
            ReST-EM raises (SEAL Eq. 1; an unparseable or ungrounded dream counts as reward 0, the
            trialed dreams' rate stands in for the untrialed ones with rows).
        tau_before / tau_after: Evaluator before and after apply (nats per token for ``logprob``).
        recall: Greedy recall of the day's memory statements (``recall_guard``) after the apply
            step (before any rollback) divided by its value before; nan when not checked or 0 before.
        retention: Greedy exact match on the older queries after the apply step (before any
            rollback) divided by its value before; nan when not checked (no older answered queries,
            nothing applied, ``min_retention`` 0, ``apply_guard="tau"``) or when it was 0 before.
        heldout: Greedy exact match on the held-out set (``heldout_guard``: rewordings of the day's
            and older questions, unapplied dream rows) after the apply step (before any rollback)
            divided by its value before; nan when not checked or 0 before.
        heldout_rows: Size of that held-out set (0 when not checked or nothing was applied).
        anchor_kl: ``KL(before || after)`` of the apply on all of its anchor rows (tau's and the
            older queries' answers; nats per answer token, :func:`agents.dream_ops.anchor_kl`), after
            the apply step (before any rollback): how much the apply reshaped the experts-on
            model's answers; nan when ``apply_anchor`` is 0 or nothing was applied.
        committed: The apply step was kept (False: rolled back, or nothing to apply).
        seconds: Wall clock of the whole run, and per stage in ``stage_seconds``.
        skipped: Why nothing ran ("" when it ran), e.g. "no evaluator".
    """

    sampled: int = 0
    parsed: int = 0
    trialed: int = 0
    rewarded: int = 0
    rows_applied: int = 0
    rows_changed: int = 0
    rows_ungrounded: int = 0
    reward_rate: list[float] = field(default_factory=list)
    yield_rate: list[float] = field(default_factory=list)
    expected_reward: list[float] = field(default_factory=list)
    trial_gain: list[float] = field(default_factory=list)
    tau_before: float = float("nan")
    tau_after: float = float("nan")
    retention: float = float("nan")
    recall: float = float("nan")
    heldout: float = float("nan")
    heldout_rows: int = 0
    anchor_kl: float = float("nan")
    committed: bool = False
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    sft_steps: int = 0
    skipped: str = ""

    def to_metrics(self, prefix: str = "dream_") -> dict[str, float]:
        """Flat float metrics for ``SleepReport.metrics`` (``reward_rate_r<i>``, ``yield_rate_r<i>``, ``expected_reward_r<i>``, ``trial_gain_r<i>`` per round)."""
        out = {f"{prefix}{k}": float(getattr(self, k)) for k in
               ("sampled", "parsed", "trialed", "rewarded", "rows_applied", "rows_changed", "rows_ungrounded", "tau_before", "tau_after", "retention", "recall", "heldout", "heldout_rows", "anchor_kl", "seconds", "sft_steps")}
        out[f"{prefix}committed"] = float(self.committed)
        for name in ("reward_rate", "yield_rate", "expected_reward", "trial_gain"):
            out.update({f"{prefix}{name}_r{i}": float(r) for i, r in enumerate(getattr(self, name))})
        out.update({f"{prefix}seconds_{k}": float(v) for k, v in self.stage_seconds.items()})
        return out
