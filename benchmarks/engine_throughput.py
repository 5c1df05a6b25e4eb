"""Rollout-engine throughput: our batched engine vs a naive loop vs raw batched ``model.generate``.

    python benchmarks/engine_throughput.py --model tiny
    python benchmarks/engine_throughput.py --model smollm2-135m --dtype bfloat16

Workload: ``--batch`` prompts of mixed lengths (an open question after 0-7 fact lines, rendered with
the chat template when the model has one), greedy decoding, ``--new-tokens`` new tokens each. Three ways, same model, same prompts:

- ``engine``: ``TransformersEngine.generate`` (length buckets, left padding, per-token logprobs,
  per-row EOS/stop cutting and decoding);
- ``naive``: one ``model.generate`` call per prompt (no padding, no logprobs);
- ``raw_generate``: one left-padded batched ``model.generate`` call (no logprobs, no decoding).

All three include tokenization and decoding (text in, text out). Tokens/s counts the completion tokens each way produced (up to and including EOS), per second of
wall time, median of ``--repeats`` interleaved timed runs after a warm-up. The last output line is JSON:
``engine_tok_s``, ``naive_tok_s``, ``raw_generate_tok_s``, ``speedup_vs_naive`` (engine / naive;
target >= 6 at batch 32 on the tiny preset), ``ratio_vs_raw`` (engine / raw; target >= 0.85) and
``overhead_vs_raw`` (1 - ratio_vs_raw; target <= 0.15).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from agents.engine import SamplingParams, TransformersEngine
from agents.models import load_model
from agents.prompting import PromptFormat

NAMES = ["Zorvak", "Quillby", "Mera", "Tolan", "Ysolde", "Brannoc", "Ilse", "Korrin"]
CITIES = ["Vell", "Ashmoor", "Tarn", "Oskar Bay", "Pellin", "Dunmere"]


def make_prompts(tokenizer, n: int, max_facts: int = 7) -> list[str]:
    """``n`` prompts rendered as the agents render them (chat template when the tokenizer has one).

    Prompt i has ``i % (max_facts + 1)`` fact lines in its context and asks an open question, so that
    an instruct model answers at length (early EOS would leave the batch mostly idle).
    """
    fmt = PromptFormat(tokenizer)
    prompts = []
    for i in range(n):
        facts = "\n".join(
            f"{NAMES[(i + j) % 8]} lives in {CITIES[(i * 3 + j) % 6]} and works as a baker."
            for j in range(i % (max_facts + 1))
        )
        prompts.append(fmt.render(f"Write a short story about {NAMES[i % 8]}, their home and their work.", facts))
    return prompts


def _interleaved_medians(fns: dict, repeats: int) -> dict[str, tuple[float, int]]:
    """Median seconds and token count of each function; runs interleave (a, b, c, a, b, c, ...) so that
    load from other processes on a shared CPU hits every method alike. One warm-up run each."""
    for fn in fns.values():
        fn()
    runs: dict[str, list[float]] = {name: [] for name in fns}
    counts: dict[str, int] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            counts[name] = fn()
            runs[name].append(time.perf_counter() - t)
    return {name: (statistics.median(runs[name]), counts[name]) for name in fns}


def _count_new(new: torch.Tensor, eos_id: int | None) -> int:
    """Completion tokens per row up to and including the first EOS (B, T) -> total."""
    total = 0
    for row in new.tolist():
        total += row.index(eos_id) + 1 if eos_id is not None and eos_id in row else len(row)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny | smollm2-135m | a local HF model directory")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="auto = bfloat16 for smollm2-135m (2.7x faster on AVX-512 bf16 CPUs), float32 otherwise")
    ap.add_argument("--batch", type=int, default=32, help="prompts (and the engine's batch size)")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-facts", type=int, default=7,
                    help="fact lines before a question: 7 = mixed lengths (~10x), 0 = short questions only")
    args = ap.parse_args()
    dtype_name = args.dtype if args.dtype != "auto" else ("bfloat16" if "smollm2" in args.model else "float32")
    model, tok = load_model(args.model, dtype=getattr(torch, dtype_name))
    eng = TransformersEngine(model, tok, batch_size=args.batch)
    prompts = make_prompts(tok, args.batch, args.max_facts)
    lengths = [len(ids) for ids in eng.encode(prompts)]
    params = SamplingParams(max_new_tokens=args.new_tokens)
    gen_kw = dict(max_new_tokens=args.new_tokens, do_sample=False, pad_token_id=eng.pad_id, eos_token_id=eng.eos_id)

    def engine_run() -> int:
        return sum(len(r.token_ids) for r in eng.generate(prompts, params))

    @torch.no_grad()
    def naive_run() -> int:  # text in, text out, like the engine
        n = 0
        for p in prompts:
            x = tok(p, return_tensors="pt", add_special_tokens=eng.add_special_tokens)
            out = model.generate(**x, **gen_kw)[:, x["input_ids"].shape[1] :]
            tok.batch_decode(out, skip_special_tokens=True)
            n += _count_new(out, eng.eos_id)
        return n

    @torch.no_grad()
    def raw_run() -> int:  # text in, text out, one padded batch
        batch = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=eng.add_special_tokens)
        out = model.generate(**batch, **gen_kw)[:, batch["input_ids"].shape[1] :]
        tok.batch_decode(out, skip_special_tokens=True)
        return _count_new(out, eng.eos_id)

    results = {}
    timed = _interleaved_medians({"engine": engine_run, "naive": naive_run, "raw_generate": raw_run}, args.repeats)
    for name, (seconds, n_tok) in timed.items():
        results[name] = n_tok / seconds
        print(f"{name:13s} {n_tok / seconds:10,.0f} tok/s  ({n_tok} tokens in {seconds:.3f} s)", flush=True)
    print(f"model={args.model} dtype={dtype_name} batch={args.batch} new_tokens={args.new_tokens} "
          f"prompt_tokens={min(lengths)}-{max(lengths)} threads={torch.get_num_threads()}")
    ratio = results["engine"] / results["raw_generate"]
    print(json.dumps({
        "model": args.model,
        "dtype": dtype_name,
        "batch": args.batch,
        "max_facts": args.max_facts,
        "engine_tok_s": round(results["engine"], 1),
        "naive_tok_s": round(results["naive"], 1),
        "raw_generate_tok_s": round(results["raw_generate"], 1),
        "speedup_vs_naive": round(results["engine"] / results["naive"], 2),
        "ratio_vs_raw": round(ratio, 3),
        "overhead_vs_raw": round(1 - ratio, 3),
    }))


if __name__ == "__main__":
    main()
