"""Compare sleep schedules across seeds: mean and 95% bootstrap CI per schedule, plots and a report.

    python examples/compare_schedules.py --tiny   # random tiny model: mechanics only, ~20 s
    python examples/compare_schedules.py          # SmolLM2-135M-Instruct: ~40 min on 2 CPU cores

The same grid from the command line: sleep-env compare examples/configs/compare_smollm2.yaml
"""

import sys
import tempfile

from evaluation.compare import compare, format_table, load_compare_config

if __name__ == "__main__":  # the local executor starts worker processes (spawn)
    tiny = "--tiny" in sys.argv
    config = load_compare_config({
        # every `sleep-env run` key describes the base run ...
        "model": "tiny" if tiny else "smollm2-135m",
        "agents": ["sleep"],
        "experiences": 2 if tiny else 3,
        "facts_per_experience": 3 if tiny else 12,
        "queries_per_experience": 3,
        "context_chars": 120 if tiny else 2000,
        "threads": 1,
        "sleep": {"steps": 2, "batch_size": 4, "replay_per_batch": 1, "support": "none"} if tiny else {},
        # ... and the grid: every cell with the same seed sees the identical stream
        "seeds": [0, 1] if tiny else [0, 1, 2],
        "schedules": [
            "never",
            {"name": "fixed-interval", "period": 6 if tiny else 24},
            {"name": "multi-level", "periods": [3, 6] if tiny else [12, 24]},
            {"name": "memory-pressure", "threshold": 0.8},
        ],
    })
    out = tempfile.mkdtemp(prefix="compare-")
    result = compare(config, out, executor="local", quiet=tiny)  # executor="ray" for a Ray cluster
    print(format_table(result))
    print(f"\nplots, report.md, compare.csv and one run directory per cell: {out}")
