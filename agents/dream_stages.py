"""Stages 2-6 of Dreaming (generate, select, trial, learn, apply) as methods of :class:`DreamStages`,
the base class of :class:`agents.dreaming.Dreaming`; the module docstring of :mod:`agents.dreaming`
describes them. A mixin: the methods use the ``Dreaming`` object's ``engine``, ``config``, ``rng``,
``fmt``, ``dream_fmt``, ``generator``, ``noise`` and its model operations (``_rows``, ``_train``,
``_grad``, ``tau``, ``exact_match``...).
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple, Sequence

import torch

from agents.dream_config import Dream
from agents.dream_ops import Anchor, Row, answer_logprobs, mean_anchor_kl
from agents.dream_parts import (
    REWORD_SHOTS,
    TEMPLATES,
    DreamTarget,
    Teacher,
    gradient_alignment,
    grounded,
    parse_dream,
    parse_rewording,
    qa_pairs,
    qa_text,
    relabel,
    select_dreams,
    split_question,
)
from agents.engine import PromptTooLong, SamplingParams

__all__ = ["ApplyResult", "DreamStages", "held_out_pairs", "ANCHOR_TOKENS"]

#: Answer tokens per anchor row (the first ones): the reference costs ``4 * V`` bytes per token
#: (V = 49,152 for SmolLM2: about 200 MB for 32 rows of 32 tokens). Facts answers are shorter.
ANCHOR_TOKENS = 32


class ApplyResult(NamedTuple):
    """What :meth:`Dreaming.apply` did (a tuple, in this order)."""

    committed: bool  #: the apply step was kept
    tau_after: float  #: tau after the apply (the restored value on rollback), nats/token or accuracy
    rows: int  #: SFT rows trained on (0 = nothing applied)
    retention: float  #: exact match on the older queries, after / before (nan: not checked or 0 before)
    recall: float  #: exact recall of the cloze items, after / before (nan: not checked or 0 before)
    heldout: float = float("nan")  #: exact match on the held-out set (rewordings, unapplied dream rows), after / before (nan: not checked or 0 before)
    anchor_kl: float = float("nan")  #: KL(before || after) on all the anchor's rows, nats per answer token (nan: no anchor)


def held_out_pairs(dreams: Sequence[Dream], applied: Sequence[Dream], exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The rows of the dreams that are not applied: the held-out set of the apply's rewording check.

    A pair is held out when its dream is not in ``applied`` (compared by identity), its answer is not
    blank, and its prompt is neither an applied row's prompt nor in ``exclude`` (e.g. tau's rendered
    queries, which the apply is checked on anyway). With ``grounding="lexical"`` these are the
    model's own rewordings of the day's facts with answers that a memory line states.

    Args:
        dreams: Every dream of the sleep (all rounds).
        applied: The dreams whose rows the apply trains on.
        exclude: Rendered prompts to leave out.

    Returns:
        ``(rendered prompt, answer)`` pairs, answers stripped, in the dreams' order, without repeats.

    Raises:
        TypeError: ``dreams`` or ``applied`` is not a sequence of :class:`Dream`.
    """
    for name, ds in (("dreams", dreams), ("applied", applied)):
        if isinstance(ds, (str, bytes)) or not isinstance(ds, Sequence) or not all(isinstance(d, Dream) for d in ds):
            raise TypeError(f"{name} must be a sequence of Dream, got {ds!r:.80}")
    ids = {id(d) for d in applied}
    skip = set(exclude) | {p for d in applied for p, _ in d.rows}
    pairs = ((p, a.strip()) for d in dreams if id(d) not in ids for p, a in d.rows if a and a.strip())
    return [pa for pa in dict.fromkeys(pairs) if pa[0] not in skip]


class DreamStages:
    """Stages 2-6 of :class:`agents.dreaming.Dreaming` (see :mod:`agents.dreaming`)."""

    @torch.no_grad()
    def generate(self, memories: Sequence[str], template: str, target: DreamTarget, n: int | None = None,
                 teacher: Teacher | None = None) -> list[Dream]:
        """Sample ``n`` (default ``config.dreams``) dreams conditioned on the memories (stage 2).

        With a ``teacher`` and ``config.answers == "teacher"``, each ``qa`` row's answer is the
        teacher's answer to the dreamed question (a row the teacher cannot answer from the memories is
        dropped; ``Dream.changed`` counts the rows whose answer it replaced). With
        ``config.grounding == "lexical"`` a ``qa`` row that claims what no memory line states is
        dropped (:func:`grounded`; ``Dream.ungrounded`` counts them).
        """
        cfg = self.config
        n = cfg.dreams if n is None else n
        t = TEMPLATES[template]
        context = "\n".join(memories)[-cfg.context_chars :]
        prompt = self.dream_fmt.render(f"{t.instruction}\nAnswer: {t.primer}", context)
        self.engine.model.eval()
        rolls = []
        for start in range(0, n, cfg.dreams_per_expert):  # one random expert per batch of dreams
            params = SamplingParams(temperature=cfg.temperature, max_new_tokens=cfg.dream_tokens,
                                    n=min(cfg.dreams_per_expert, n - start), seed=int(self.rng.integers(2**31)))
            with contextlib.ExitStack() as stack:
                stack.enter_context(target.reader())
                stack.enter_context(self.generator.on())
                if cfg.random_expert:
                    stack.enter_context(self._random_expert(target))
                rolls += self.engine.generate([prompt], params)
        texts = [t.primer.strip() + r.text for r in rolls]
        parsed = [parse_dream(text, template, max_rows=cfg.max_rows) for text in texts]
        changed = [0] * len(parsed)
        if teacher is not None and cfg.answers == "teacher" and template == "qa":
            parsed, changed = relabel(parsed, teacher)
        dropped = [0] * len(parsed)
        learn_ids: list[tuple[int, ...]] = [tuple(r.token_ids) for r in rolls]
        if cfg.grounding == "lexical" and template == "qa":
            kept = [[(q, a) for q, a in rows if grounded(q, a, memories)] for rows in parsed]
            dropped = [len(a) - len(b) for a, b in zip(parsed, kept)]
            parsed = kept
            learn_ids = [self._clean_ids(rows) if k else ids for rows, k, ids in zip(kept, dropped, learn_ids)]
        return [Dream(prompt, text, tuple(r.token_ids), [(self.fmt.render(q), a) for q, a in rows], changed=c, ungrounded=u,
                      learn_ids=li)
                for text, r, rows, c, u, li in zip(texts, rolls, parsed, changed, dropped, learn_ids)]

    def _clean_ids(self, rows: list[tuple[str, str]]) -> tuple[int, ...]:
        """The dream rewritten as its grounded rows only (:func:`qa_text`; what ReST-EM then imitates), as token ids + EOS."""
        if not rows:
            return ()
        ids = list(self.engine.tokenizer(qa_text(rows), add_special_tokens=False)["input_ids"])
        return tuple(ids + ([self.engine.eos_id] if self.engine.eos_id is not None else []))

    def _random_expert(self, target: DreamTarget):
        ctx = target.random_expert(self.rng) if target.random_expert is not None else None
        if ctx is not None:
            return ctx
        self.noise.randomize(self.rng, self.config.noise_std)  # no other consolidated expert: a random low-rank direction
        return self.noise.on()

    def select(self, dreams: list[Dream], tau_rows: list[Row], target: DreamTarget) -> list[int]:
        """Keep top-k by gradient alignment + b random among the dreams with rows (stage 3).

        Sets ``Dream.score`` (``-inf`` without rows) and ``Dream.reward = 0`` for a dream without rows:
        it is never trialed, so it does not count in the reward rate. Returns indices into ``dreams``
        (at most ``top_k + random_extra``; fewer when fewer dreams parsed).
        """
        cfg = self.config
        encoded = {i: self._rows(d.rows) if d.rows else [] for i, d in enumerate(dreams)}
        for i, d in enumerate(dreams):
            d.score = float("-inf")
            if not encoded[i]:
                d.reward = 0
        live = [i for i, rows in encoded.items() if rows]
        if not live:
            return []
        if cfg.gradient_selection:
            self.engine.model.eval()
            with target.student():
                ref = self._grad(self._tau_loss, tau_rows, target.params)
                for i in live:
                    dreams[i].score = gradient_alignment(self._grad(self._sft_loss, encoded[i], target.params), ref)
            picked = select_dreams([dreams[i].score for i in live], cfg.top_k, cfg.random_extra, self.rng)
        else:
            picked = select_dreams([0.0] * len(live), 0, cfg.top_k + cfg.random_extra, self.rng)
        return [live[j] for j in picked]

    def trial(self, dream: Dream, tau_rows: list[Row], tau0: float, target: DreamTarget) -> int:
        """Fine-tune an isolated copy of the trainable tensors on ``dream``; reward 1 if tau improves (stage 4).

        The tensors are restored in place afterwards, so the model is bit-identical before and after.
        Sets ``dream.reward`` and ``dream.tau``; an unparseable dream gets reward 0 without a trial.
        """
        rows = self._rows(dream.rows)
        if not rows or not math.isfinite(tau0):
            dream.reward = 0
            return 0
        snap = [p.detach().clone() for p in target.params]
        try:
            self.engine.model.eval()
            self._train(target.params, [rows] * self.config.trial_steps, self.config.lr, target.student)
            dream.tau = self.tau(tau_rows, target)
        finally:
            with torch.no_grad():
                for p, s in zip(target.params, snap):
                    p.copy_(s)
        dream.reward = int(math.isfinite(dream.tau) and dream.tau - tau0 > self.config.min_improvement)
        return dream.reward

    def learn(self, dreams: list[Dream], target: DreamTarget) -> list[float]:
        """ReST-EM M-step: SFT of the generator's adapter on the dreams' own tokens (stage 5).

        A ``qa`` dream from which grounding dropped rows is imitated as its grounded rows only
        (``Dream.learn_ids``): the generator learns the rewarded pairs, not the dreamt ones beside them.
        Only :attr:`generator`'s tensors change. Returns the losses (nats/token); [] without dreams.
        """
        rows = [(self.engine.encode([d.prompt])[0], list(d.learn_ids if d.learn_ids is not None else d.token_ids))
                for d in dreams]
        rows = [r for r in rows if r[1]]
        if not rows:
            return []
        bs = self.config.batch_size
        batches = [[rows[i] for i in self.rng.choice(len(rows), min(bs, len(rows)), replace=False)]
                   for _ in range(self.config.generator_steps)]

        @contextlib.contextmanager
        def mode():
            with target.reader(), self.generator.on():
                yield

        self.engine.model.eval()
        return self._train(self.generator.parameters(), batches, self.config.generator_lr, mode)

    @torch.no_grad()
    def reword(self, pairs: Sequence[tuple[str, str | None]], target: DreamTarget) -> list[tuple[str, str]]:
        """The model's own rewordings of one-line questions, each with its answer stem and answer.

        For every ``(prompt, answer)`` with an answer whose prompt is one question line (and an
        optional ``Answer:`` stem line, :func:`agents.dream_parts.split_question`), the model reading
        with its experts off (``target.reader``) completes the few-shot prompt
        :data:`agents.dream_parts.REWORD_SHOTS` greedily (at most 32 tokens);
        :func:`agents.dream_parts.parse_rewording` keeps a rewording that differs from the question
        and keeps its names. It replaces the question line; the stem stays, as in the env's probes.
        Greedy decoding in a forked RNG: the lifetime's random streams are not touched.

        Args:
            pairs: ``(question prompt, answer | None)`` pairs (unanswered ones are skipped).
            target: The consolidated level (its ``reader`` mode writes the rewordings).

        Raises:
            TypeError: ``pairs`` is not a collection of (str, str | None) pairs.

        Returns:
            ``(rendered prompt, answer)`` pairs (rendered with :attr:`fmt`), without repeats; [] when
            nothing could be reworded.
        """
        pairs = qa_pairs("pairs", pairs)
        items = [(split_question(q), a.strip()) for q, a in pairs if a and a.strip()]
        items = [(parts, a) for parts, a in items if parts is not None]
        if not items:
            return []
        self.engine.model.eval()
        prompts = [REWORD_SHOTS.format(question=q) for (_, q, _), _ in items]
        params = SamplingParams(temperature=0.0, max_new_tokens=32, stop=("\n",), seed=0)
        with target.reader():
            try:
                outs = self.engine.generate(prompts, params)
            except PromptTooLong:  # a question too long to reword (the examples add ~300 tokens) is left out
                outs = []
                for p in prompts:
                    try:
                        outs += self.engine.generate([p], params)
                    except PromptTooLong:
                        outs.append(None)
        out = []
        for ((label, q, stem), a), o in zip(items, outs):
            r = parse_rewording(o.text, q) if o is not None else None
            if r is not None:
                out.append((self.fmt.render(f"{label}{r}" + (f"\nAnswer: {stem}" if stem else "")), a))
        return list(dict.fromkeys(out))

    @torch.no_grad()
    def anchor(self, tau_rows: list[Row], old_rows: list[Row], target: DreamTarget) -> Anchor | None:
        """The apply's KL anchor (``config.apply_anchor`` > 0), else None.

        Its rows are tau's queries and the older queries, with their answers (teacher-forced on
        those stored answers; each cut to its first :data:`ANCHOR_TOKENS` tokens, so that the stored
        reference stays small for long answers such as ARC grids); its reference is the
        model before the apply (``target.student`` mode): each apply step then also pays
        ``apply_anchor * KL(before || now)`` (nats per answer token, :func:`agents.dream_ops.anchor_kl`)
        on ``batch_size`` of them, so that the dreams add to what consolidation built instead of
        reshaping the experts-on model's answer distributions.
        """
        cfg = self.config
        rows = list(tau_rows) + [r for r in old_rows if r not in tau_rows]
        rows = [(p, c[:ANCHOR_TOKENS]) for p, c in rows]  # the reference is (tokens, V) float32 per row: bounded
        if cfg.apply_anchor <= 0 or not rows:
            return None
        self.engine.model.eval()
        with target.student():
            ref = [t.detach() for t in answer_logprobs(self.engine, rows)]
        return Anchor(rows, ref, cfg.apply_anchor, cfg.batch_size, self.rng)

    def apply(self, dreams: list[Dream], tau_rows: list[Row], tau0: float, target: DreamTarget,
              older: Sequence[tuple[str, str]] = (), cloze: Sequence[tuple[str, str]] = (),
              heldout: Sequence[tuple[str, str]] = ()) -> ApplyResult:
        """Train the consolidated level on the dreams' rows; roll back if tau gets worse or NaN (stage 6).

        With ``config.apply_guard == "exact"`` it is also rolled back when fewer of tau's queries are
        answered exactly (greedy) than before (logprob evaluator: a likelihood can rise while an answer
        flips), when the greedy exact match on the ``older`` queries (earlier sleeps' questions with
        their feedback answers; at most ``max_eval_queries``) falls below ``config.min_retention``
        times its value before the apply, or (``config.recall_guard``) when fewer of the ``cloze``
        items (``(statement prefix, answer)`` text pairs, :func:`agents.dream_parts.cloze_pairs`; raw
        text, at most ``max_eval_queries``) are completed exactly than before, or
        (``config.heldout_guard``) when fewer of the ``heldout`` pairs (``(rendered prompt, answer)``:
        :meth:`reword` rewordings, :func:`held_out_pairs` dream rows; all of them, the caller caps)
        are answered exactly than before.

        Returns:
            An :class:`ApplyResult` (a tuple: committed, tau after (the restored value on rollback),
            rows used, retention, recall, heldout (after / before ratios, nan when not checked or 0
            before), and the anchor's KL after the step (nan without an anchor)).
        """
        cfg = self.config
        rows = self._rows([r for d in dreams for r in d.rows])
        if not rows:
            return ApplyResult(False, tau0, 0, float("nan"), float("nan"))
        guard = cfg.apply_guard == "exact"
        exact0 = self.exact_match(tau_rows, target) if guard and cfg.evaluator == "logprob" else float("nan")
        old_rows = self.evaluator((), older) if guard and cfg.min_retention > 0 and older else []
        old0 = self.exact_match(old_rows, target) if old_rows else float("nan")
        cloze_rows = self._rows(list(cloze)[: cfg.max_eval_queries], eos=False) if guard and cfg.recall_guard else []
        cloze0 = self.exact_match(cloze_rows, target) if cloze_rows else float("nan")
        held_rows = self._rows(list(heldout), eos=False) if guard and cfg.heldout_guard else []
        held0 = self.exact_match(held_rows, target) if held_rows else float("nan")
        snap = [p.detach().clone() for p in target.params]
        bs = min(cfg.batch_size, len(rows))
        batches = [[rows[i] for i in self.rng.choice(len(rows), bs, replace=False)] for _ in range(cfg.apply_steps)]
        self.engine.model.eval()
        anchor = None
        if cfg.apply_anchor > 0:  # older rows drawn only for the anchor: apply_anchor 0 draws nothing more than before it existed
            anchor = self.anchor(tau_rows, old_rows if old_rows or not older else self.evaluator((), older), target)
        # an override of _train without the anchor argument still works when there is no anchor
        losses = self._train(target.params, batches, cfg.lr, target.student, **({"anchor": anchor} if anchor else {}))
        kl = float("nan")
        if anchor is not None:
            with target.student():
                kl = mean_anchor_kl(self.engine, anchor.rows, anchor.ref)
        after = self.tau(tau_rows, target)
        retention = self.exact_match(old_rows, target) / old0 if old_rows and old0 > 0 else float("nan")
        cloze1 = self.exact_match(cloze_rows, target) if cloze_rows else float("nan")
        recall = cloze1 / cloze0 if cloze_rows and cloze0 > 0 else float("nan")
        held1 = self.exact_match(held_rows, target) if held_rows else float("nan")
        held = held1 / held0 if held_rows and held0 > 0 else float("nan")
        finite = all(math.isfinite(x) for x in losses) and all(bool(torch.isfinite(p).all()) for p in target.params)
        ok = finite and math.isfinite(after) and after >= tau0
        ok = ok and (math.isnan(retention) or retention >= cfg.min_retention)
        ok = ok and (math.isnan(cloze0) or cloze1 >= cloze0)
        ok = ok and (math.isnan(held0) or held1 >= held0)
        ok = ok and (math.isnan(exact0) or self.exact_match(tau_rows, target) >= exact0)
        if ok:
            return ApplyResult(True, after, len(rows), retention, recall, held, kl)
        with torch.no_grad():
            for p, s in zip(target.params, snap):
                p.copy_(s)
        return ApplyResult(False, tau0, len(rows), retention, recall, held, kl)
