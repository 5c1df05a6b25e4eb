"""Tabulate finished run directories over seeds: one Markdown row per agent, mean [min, max] over runs.

    # the protocol table of README.md: 3 seeds of the default run, four agents
    for s in 0 1 2; do
      printf "seed: $s\\nagents: [in-context, sleep, sft, sft-replay]\\n" > q3_s$s.yaml
      sleep-env run q3_s$s.yaml --out runs/q3_s$s
    done
    python examples/protocol_table.py runs/q3_s0 runs/q3_s1 runs/q3_s2

Columns: closed-book ACC, ACC on the facts asked by day (``acc_queried``) and never asked
(``acc_unqueried``), BWT, the largest drop of in-context accuracy on fresh facts after any sleep
below its value before the first sleep (``in-context drop``, 0 = kept), seconds asleep and wall-clock
seconds per lifetime. Each cell is ``mean [min, max]`` over the run directories (their seeds).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COLUMNS = ("acc", "acc_queried", "acc_unqueried", "bwt", "in_context_drop", "seconds_asleep", "seconds")


def _drop(entry: dict) -> float:
    ic = [x for x in entry.get("in_context_acc_per_sleep") or [] if x is not None]
    return max(ic[0] - x for x in ic[1:]) if len(ic) > 1 else 0.0


def _cell(values: list[float], digits: int) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "-"
    mean = sum(vals) / len(vals)
    return f"{mean:.{digits}f} [{min(vals):.{digits}f}, {max(vals):.{digits}f}]" if len(vals) > 1 else f"{mean:.{digits}f}"


def table(run_dirs: list[Path]) -> str:
    """The Markdown table of the finished agents of ``run_dirs`` (agents in first-seen order).

    Raises:
        SystemExit: A directory has no readable summary.json.
    """
    rows: dict[str, dict[str, list]] = {}
    seeds = []
    for d in run_dirs:
        try:
            summary = json.loads((d / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{d}: no readable summary.json ({exc}); pass directories written by `sleep-env run`")
        seeds.append(summary.get("seed"))
        for name, entry in summary["agents"].items():
            row = rows.setdefault(name, {c: [] for c in COLUMNS})
            for c in COLUMNS:
                row[c].append(_drop(entry) if c == "in_context_drop" else entry.get(c))
    head = "| agent | runs | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 2) + "|"]
    for name, row in rows.items():
        cells = [_cell(row[c], 0 if c.startswith("seconds") else 2) for c in COLUMNS]
        lines.append(f"| `{name}` | {len(row['acc'])} | " + " | ".join(cells) + " |")
    lines.append(f"\nseeds {seeds}; cells: mean [min, max] over runs")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dirs", nargs="+", type=Path, help="run directories written by `sleep-env run`")
    print(table(ap.parse_args().run_dirs))


if __name__ == "__main__":
    main()
