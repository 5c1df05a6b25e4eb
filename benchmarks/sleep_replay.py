"""What replay from the memory costs: one sleep with the default replay vs a sleep on the day's questions.

    python benchmarks/sleep_replay.py [--model smollm2-135m|tiny] [--seed 0]

Both sleeps consolidate the first experience of the default stream (12 facts) into a fresh agent:

- ``memory``: the default: 3 questions asked by day, replay written from the memory (cloze
  completions of every fact + the 3 questions), with the support check;
- ``quiz``: every fact asked by day (12 questions) and the replay made of those questions only
  (``replay: [queries]``), the cheapest replay that still covers every fact.

Reported per sleep: wall-clock seconds, replay rows kept, and the closed-book probe accuracy after
it (12 probes; with ``tiny`` accuracy is meaningless, only the mechanics run). Target:
``ratio = seconds(memory) / seconds(quiz) <= 2``. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from evaluation.config import load_config
from evaluation.experiment import _make_agent, build_env_config
from sleep_env import SleepEnv


def one_sleep(model: str, seed: int, queries: int, sleep: dict) -> dict:
    """Run the first experience awake, time its sleep, probe closed-book; returns the numbers."""
    cfg = load_config({"model": model, "agents": ["sleep"], "seed": seed, "experiences": 1,
                       "queries_per_experience": queries, "sleep": sleep})
    agent = _make_agent("sleep", cfg)
    env = SleepEnv(build_env_config(cfg))
    obs, info = env.reset(seed=seed)
    while int(obs["kind"]) != 2:
        obs, _, _, _, info = env.step(agent.act(obs))
    t0 = time.perf_counter()
    report = agent.sleep(info["sleep_window"])
    seconds = time.perf_counter() - t0
    probes = env.probe_prompts()
    scores = env.evaluate_probes(agent.answer(list(probes.prompts), list(probes.contexts)))
    return {"seconds": round(seconds, 1), "rows": report.metrics.get("examples", 0.0),
            "probe_acc": float(scores.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tiny = {"support": "none"} if args.model == "tiny" else {}
    memory = one_sleep(args.model, args.seed, 3, dict(tiny))
    quiz = one_sleep(args.model, args.seed, 12, {"replay": ["queries"], **tiny})
    for name, r in (("memory", memory), ("quiz", quiz)):
        print(f"{name:7s} {r['seconds']:7.1f} s  rows {r['rows']:4.0f}  probe acc {r['probe_acc']:.2f}")
    print(json.dumps({"model": args.model, "seed": args.seed, "memory": memory, "quiz": quiz,
                      "ratio": round(memory["seconds"] / quiz["seconds"], 2)}))


if __name__ == "__main__":
    main()
