"""Consolidation cost benchmark (issue 6): scaling with the number of memories, and our step vs TRL's SDFT step.

    python benchmarks/consolidation.py [--model tiny|smollm2-135m] [--base 6] [--batch 8] [--steps 28]

1. Seconds per consolidation (one ``SleepAgent.sleep`` of level 1, default settings except the model)
   for ``base``, 2x and 4x memories (facts in the window, one question each). Target: cost grows at
   most linearly (``ratio_x4 <= 4``).
2. Seconds per on-policy distillation step: ours (``KnowledgeSeeding`` with lambda = 1: student
   samples, teacher scoring, generalized JSD, Adam on the new expert) vs
   ``trl.experimental.sdft.SDFTTrainer`` (``SDFTSleepAgent``) on the same model, questions, batch size
   and completion budget (12 tokens). Each is timed as (t(S2) - t(S1)) / (S2 - S1) steps, which
   cancels set-up costs (for SDFT, t is TRL's ``train_runtime``). Target: ours <= 1.2x SDFT's.

The last line of output is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from agents import SDFTSleepAgent, SleepAgent, SleepAgentConfig, TransformersEngine, load_model  # noqa: E402
from sleep_env import SleepWindow  # noqa: E402
from tasks import make_task  # noqa: E402


def _window(n: int, seed: int = 0) -> SleepWindow:
    task = make_task("facts")
    problems = [task.problem(seed, i) for i in range(n)]
    return SleepWindow(level=1, memories=tuple(p.context for p in problems),
                       queries=tuple((p.prompt, p.answer) for p in problems), step_budget=0, model_version=0, experience=0)


def _agent(cls, model_name: str, cfg: SleepAgentConfig):
    model, tok = load_model(model_name)
    return cls(TransformersEngine(model, tok), cfg)


def _sleep_seconds(cls, model_name: str, cfg: SleepAgentConfig, window: SleepWindow) -> tuple[float, dict]:
    agent = _agent(cls, model_name, cfg)
    t = time.perf_counter()
    report = agent.sleep(window)
    return time.perf_counter() - t, dict(report.metrics)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--base", type=int, default=6, help="memories (facts) in the x1 window")
    ap.add_argument("--batch", type=int, default=8, help="sequences per distillation step")
    ap.add_argument("--steps", type=int, default=SleepAgentConfig().steps, help="steps per consolidation in part 1")
    args = ap.parse_args()
    torch.manual_seed(0)
    out: dict = {"model": args.model, "threads": torch.get_num_threads()}

    # 1. scaling with the number of memories (default consolidation)
    cfg = SleepAgentConfig(steps=args.steps)
    scale = {}
    for mult in (1, 2, 4):
        secs, _ = _sleep_seconds(SleepAgent, args.model, cfg, _window(args.base * mult))
        scale[mult] = secs
        print(f"consolidation of {args.base * mult:3d} memories: {secs:7.2f} s")
    out["seconds_per_consolidation"] = {f"x{m}": round(s, 3) for m, s in scale.items()}
    out["ratio_x2"], out["ratio_x4"] = round(scale[2] / scale[1], 3), round(scale[4] / scale[1], 3)

    # 2. on-policy distillation step: ours vs TRL's SDFTTrainer, same batch
    window = _window(args.batch)
    s1, s2 = 2, 6
    step = dataclasses.replace(cfg, batch_size=args.batch, replay_per_batch=0, on_policy_fraction=1.0, min_retention=0.0)
    ours = [_sleep_seconds(SleepAgent, args.model, dataclasses.replace(step, steps=s), window)[0] for s in (s1, s2)]
    ours_step = (ours[1] - ours[0]) / (s2 - s1)
    sdft = []  # TRL's own train_runtime: the training loop without trainer construction
    for s in (s1, s2):
        sdft.append(_sleep_seconds(SDFTSleepAgent, args.model, dataclasses.replace(step, steps=s), window)[1]["train_runtime"])
    sdft_step = (sdft[1] - sdft[0]) / (s2 - s1)
    print(f"on-policy distillation step, batch {args.batch}: ours {ours_step:.3f} s, SDFTTrainer {sdft_step:.3f} s "
          f"(ratio {ours_step / sdft_step:.2f})")
    out.update(ours_step_s=round(ours_step, 4), sdft_step_s=round(sdft_step, 4),
               step_ratio_ours_over_sdft=round(ours_step / sdft_step, 3), batch=args.batch)

    # 3. Learning to Imitate's cost per step
    lti = {}
    for alpha in (1.0, 0.5):
        off = dataclasses.replace(step, on_policy_fraction=0.0, alpha=alpha)
        t = [_sleep_seconds(SleepAgent, args.model, dataclasses.replace(off, steps=s), window)[0] for s in (s1, s2)]
        lti[alpha] = (t[1] - t[0]) / (s2 - s1)
    print(f"off-policy step: {lti[1.0]:.3f} s without LTI, {lti[0.5]:.3f} s with LTI (alpha 0.5)")
    out.update(step_s_no_lti=round(lti[1.0], 4), step_s_lti=round(lti[0.5], 4), lti_step_ratio=round(lti[0.5] / lti[1.0], 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
