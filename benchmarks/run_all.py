"""Benchmarks (`make bench`): ratios, not absolute targets; results go to BENCHMARKS.md by hand.

    python benchmarks/run_all.py [--model tiny|smollm2-135m]

Measures the batched TransformersEngine against a naive one-prompt-at-a-time loop over
``model.generate`` (greedy, 32 prompts x 16 new tokens), and one SleepAgent training step.
"""

import argparse
import time

import torch

from agents import SamplingParams, TransformersEngine, load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    args = ap.parse_args()
    model, tok = load_model(args.model)
    eng = TransformersEngine(model, tok, batch_size=32)
    prompts = [f"Question {i}: where does person number {i} live?" for i in range(32)]
    params = SamplingParams(max_new_tokens=16)
    eng.generate(prompts[:2], params)  # warm-up
    t = time.perf_counter()
    rolls = eng.generate(prompts, params)
    batched = time.perf_counter() - t
    n_tok = sum(len(r.token_ids) for r in rolls)
    t = time.perf_counter()
    n_naive = 0
    with torch.no_grad():
        for p in prompts:
            ids = tok(p, return_tensors="pt", add_special_tokens=eng.add_special_tokens)
            out = model.generate(**ids, max_new_tokens=16, do_sample=False, pad_token_id=eng.pad_id)
            n_naive += out.shape[1] - ids["input_ids"].shape[1]
    naive = time.perf_counter() - t
    print(f"model={args.model} threads={torch.get_num_threads()}")
    print(f"batched engine: {n_tok / batched:,.0f} tok/s ({n_tok} tokens in {batched:.2f} s)")
    print(f"naive loop:     {n_naive / naive:,.0f} tok/s ({n_naive} tokens in {naive:.2f} s)")
    print(f"speed-up:       {(n_tok / batched) / (n_naive / naive):.1f}x")


if __name__ == "__main__":
    main()
