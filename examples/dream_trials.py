"""What one Dreaming trial does to the model: tau, probe accuracy and the gradient score, per dream.

    python examples/dream_trials.py [--seed 0] [--dreams 10] [--lrs 1e-2,1e-3] [--tiny]

Runs the first experience of the default facts stream with a ``SleepAgent`` (one consolidation, no
Dreaming), then samples ``--dreams`` dreams about the sleep window with :class:`agents.dreaming.Dreaming`
and, for every parsed dream and every learning rate, fine-tunes the consolidated expert on it for
``trial_steps`` Adam steps (a trial), measures tau (nats/token, the day's questions closed-book) and
the closed-book accuracy on experience 0's *probes* (reworded questions the trial never sees), then
restores the expert. It does so on the same dreams with their own answers (``grounding: none``),
with only their grounded rows (``grounding: lexical``, the default) and with the teacher's answers
(``answers: teacher``). This is how ``DreamingConfig.lr`` and ``answers`` were chosen
(docs/dreaming.md, "Trial step size").

Prints one line per (answers, lr) and, last, one JSON object with every number. SmolLM2-135M with
``threads: 1``: about 5 minutes for 10 dreams and two learning rates.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from agents.dream_ops import adam_sft, flat_grad, sft_loss, tau_loss
from agents.dream_parts import gradient_alignment, grounded, parse_dream, relabel
from agents.dreaming import expert_target
from evaluation.config import load_config
from evaluation.experiment import _make_agent, build_env_config
from sleep_env import SleepEnv
from sleep_env.probes import score_probes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dreams", type=int, default=10, help="dreams sampled (one set, trialed under every setting)")
    ap.add_argument("--lrs", default="1e-2,1e-3", help="comma-separated trial learning rates")
    ap.add_argument("--tiny", action="store_true", help="tiny random model (mechanics only, seconds)")
    args = ap.parse_args()
    try:
        lrs = [float(x) for x in args.lrs.split(",")]
    except ValueError:
        lrs = []
    if args.dreams < 1 or args.seed < 0 or not lrs or not all(lr > 0 for lr in lrs):
        ap.error(f"--seed must be >= 0, --dreams >= 1 and --lrs comma-separated numbers > 0 (e.g. 1e-2,1e-3), "
                 f"got --seed {args.seed} --dreams {args.dreams} --lrs {args.lrs}")
    raw = {"seed": args.seed, "agents": ["sleep"], "dreaming": {"template": "qa"}, "experiences": 1, "threads": 1}
    if args.tiny:
        raw.update(model="tiny", facts_per_experience=4, queries_per_experience=4,
                   sleep={"steps": 2, "batch_size": 4, "replay_per_batch": 1, "support": "none"}, dreaming={"template": "qa", "dream_tokens": 24})
    cfg = load_config(raw)
    agent = _make_agent("sleep", cfg)
    dreaming, agent.dreaming = agent.dreaming, None  # consolidate without Dreaming, then dream by hand below
    engine = agent.engine
    env = SleepEnv(build_env_config(cfg))
    obs, info = env.reset(seed=cfg.seed)
    while int(obs["kind"]) != 2:  # wake until the first sleep
        obs, _, _, _, info = env.step(agent.act(obs))
    window = info["sleep_window"]
    t0 = time.perf_counter()
    agent.sleep(window)
    seconds_sleep = time.perf_counter() - t0
    probes = env.unwrapped.probe_prompts()  # one experience: its probes, closed-book

    def probe_acc() -> float:
        answers = agent.answer(list(probes.prompts), list(probes.contexts))
        return float(score_probes(env.unwrapped._ep.stream, answers)[0])

    slot = int(torch.nonzero(agent.memory.blocks[0].active).flatten()[-1])
    target = expert_target(agent.memory, slot)
    tau_rows = dreaming.evaluator(window.memories, window.queries)
    tau0, acc0 = dreaming.tau(tau_rows, target), probe_acc()
    dreams = dreaming.generate(window.memories, "qa", target, n=args.dreams)
    own = [parse_dream(d.text, "qa", max_rows=dreaming.config.max_rows) for d in dreams]
    teacher, _ = relabel(own, agent.context_teacher(window.memories))
    checked = [[(q, a) for q, a in rows if grounded(q, a, window.memories)] for rows in own]
    snap = [p.detach().clone() for p in target.params]
    with target.student():
        ref = flat_grad(lambda rows: tau_loss(engine, rows), tau_rows, target.params)  # the selection's reference gradient
    out = {"seed": cfg.seed, "model": cfg.model, "tau0": tau0, "probe_acc0": acc0, "dreams": len(dreams),
           "parsed": sum(bool(r) for r in own), "seconds_first_sleep": seconds_sleep, "runs": []}
    print(f"seed {cfg.seed}: after one sleep tau {tau0:.3f} nats/token, probe accuracy {acc0:.3f}; "
          f"{out['parsed']}/{len(dreams)} dreams parsed" + ("; nothing to trial (the tiny model writes no parseable dream)"
                                                            if not out["parsed"] else ""))
    for answers, parsed in (("dream", own), ("grounded", checked), ("teacher", teacher)):
        for lr in lrs:
            trials = []
            for i, rows in enumerate(parsed):
                if not rows:
                    continue
                sft = dreaming._rows([(dreaming.fmt.render(q), a) for q, a in rows])
                if not sft:
                    continue
                with target.student():
                    align = gradient_alignment(flat_grad(lambda rows: sft_loss(engine, rows), sft, target.params), ref)
                adam_sft(engine, target.params, [sft] * dreaming.config.trial_steps, lr, target.student)
                trials.append({"dream": i, "rows": len(rows), "score": align,
                               "dtau": dreaming.tau(tau_rows, target) - tau0, "probe_acc": probe_acc()})
                with torch.no_grad():
                    for p, s in zip(target.params, snap):
                        p.copy_(s)
            rewarded = sum(t["dtau"] > 0 for t in trials)
            agree = sum((t["score"] > 0) == (t["dtau"] > 0) for t in trials)
            accs = [t["probe_acc"] for t in trials]
            print(f"answers={answers:7s} lr={lr:g}: {rewarded}/{len(trials)} trials raise tau; probe accuracy after a "
                  f"trial {min(accs, default=float('nan')):.2f}-{max(accs, default=float('nan')):.2f} (before {acc0:.2f}); "
                  f"score sign = tau change sign in {agree}/{len(trials)}")
            out["runs"].append({"answers": answers, "lr": lr, "trials": trials})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
