"""Print the replay a SleepAgent writes from its memory at the first sleep: every row, the teacher's
answer, and whether the support check keeps it.

    python examples/inspect_replay.py                 # SmolLM2-135M-Instruct, default stream, seed 0 (~1 min)
    python examples/inspect_replay.py --seed 1 --queries 0
    python examples/inspect_replay.py --tiny          # random tiny model: mechanics only, seconds

The last line is a JSON summary: rows, rows per source, dropped rows and the dropped rows by cloze
prefix length in words (``-1`` = a day question).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from agents.replay import RECALL_INSTRUCTION, supported
from evaluation.config import load_config
from evaluation.experiment import _make_agent, build_env_config
from sleep_env import SleepEnv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="stream seed (>= 0)")
    ap.add_argument("--queries", type=int, default=3, help="questions asked by day (>= 0)")
    ap.add_argument("--tiny", action="store_true", help="random tiny model (mechanics only)")
    args = ap.parse_args()
    if args.seed < 0 or args.queries < 0:
        ap.error(f"--seed and --queries must be >= 0, got {args.seed} and {args.queries}")
    raw = {"agents": ["sleep"], "seed": args.seed, "experiences": 1, "queries_per_experience": args.queries}
    if args.tiny:
        raw.update(model="tiny", facts_per_experience=4)
    cfg = load_config(raw)
    agent = _make_agent("sleep", cfg)
    env = SleepEnv(build_env_config(cfg))
    obs, info = env.reset(seed=cfg.seed)
    while int(obs["kind"]) != 2:  # wake until the first sleep
        obs, _, _, _, info = env.step(agent.act(obs))
    rows = agent.replay_prompts(info["sleep_window"])
    answers = agent.replay_answers(rows)  # the sleep's teacher: the base model reading each row's memory text
    dropped: Counter[int] = Counter()
    for r, a in zip(rows, answers):
        stem = r.prompt.removeprefix(f"{RECALL_INSTRUCTION}\nAnswer: ") if r.source == "cloze" else r.prompt.split("\n")[-1]
        keep = supported(a, r.context)
        if not keep:
            dropped[len(stem.split()) if r.source == "cloze" else -1] += 1
        print(f"{'keep' if keep else 'DROP'}  {r.source:7s}  {stem!r} -> {a!r}")
    print(json.dumps({"rows": len(rows), "sources": dict(Counter(r.source for r in rows)),
                      "dropped": sum(dropped.values()), "dropped_by_prefix_words": dict(sorted(dropped.items()))}))


if __name__ == "__main__":
    main()
