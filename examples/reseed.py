"""Branch a finished run at one of its sleeps and finish the lifetime again under other random draws.

    python examples/reseed.py RUN_DIR --sleep 2 --seeds keep,0,1,2 [--agent sleep] [--dreaming off] [--out DIR] [--force]

How much of a lifetime's final accuracy is the agent's own randomness? A ``SleepAgent``'s
consolidation draws its training batches, line prefixes and sampling seeds from one generator, and a
consolidation is chaotic: two lifetimes that differ in anything (one Dreaming apply) soon hold very
different experts. This script takes the checkpoint that ``RUN_DIR`` kept after sleep ``--sleep``
(run it with ``keep_checkpoints: true``), and for each seed replaces the agent's random generators
(numpy ``default_rng([1000 + seed, 1])`` and torch's, seeded ``1000 + seed``; Dreaming's own generator
is left as it was) and resumes the lifetime from there in ``DIR/<agent>-<seed>/``, a complete run
directory (``DIR``, default ``RUN_DIR-reseed<sleep>``, is their parent folder: ``sleep-env summary
DIR/sleep-0``). ``keep`` resumes with the checkpoint's own generators: it repeats the original
lifetime. ``--dreaming off`` finishes the lifetime without Dreaming (``dreaming: null``). Branches are
written with ``keep_checkpoints: false``; existing branch folders are replaced only with ``--force``.
Agents: ``sleep``, ``sft`` and ``sdft`` (the SleepAgent family); ``seal`` keeps no consolidation generator.

Prints one line per seed (final closed-book accuracy, the final row of R, seconds) and, last, one
JSON object with every number. On SmolLM2 (``threads: 1``) each branch costs what the remaining
sleeps cost: about 140 s for the third sleep of the default stream without Dreaming.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from evaluation.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from evaluation.experiment import resume_experiment
from sleep_env.errors import SleepEnvError

#: Agents whose checkpoint holds the consolidation's generators (``SleepAgent`` and its subclasses).
RESEEDABLE = frozenset({"sleep", "sft", "sdft"})
#: Agents that read the run's ``dreaming:`` (the others run without it).
DREAMERS = frozenset({"sleep", "seal"})


def reseeded(state: dict, seed: int | None) -> dict:
    """The checkpoint ``state`` (:func:`evaluation.checkpoint.load_checkpoint`) with the agent's generators
    drawn from ``seed`` (None: unchanged).

    Raises:
        ValueError: the agent's state has no random generator to replace (``rng`` / ``torch_rng``).
    """
    if seed is None:
        return state
    agent = state.get("agent")
    if not isinstance(agent, dict) or "rng" not in agent or "torch_rng" not in agent:
        raise ValueError(f"this agent's checkpoint has no 'rng' / 'torch_rng' to reseed (keys: "
                         f"{sorted(agent) if isinstance(agent, dict) else agent!r}); reseed a sleep agent's run")
    agent["rng"] = np.random.default_rng([1000 + seed, 1]).bit_generator.state
    agent["torch_rng"] = torch.Generator().manual_seed(1000 + seed).get_state()
    return state


def kept_sleeps(run_dir: Path, agent: str) -> list[int]:
    """The sleeps after which ``run_dir`` kept ``agent``'s checkpoint, in order."""
    found = (re.fullmatch(r"checkpoint-sleep(\d+)\.pt", p.name) for p in (run_dir / agent).glob("checkpoint-sleep*.pt"))
    return sorted(int(m.group(1)) for m in found if m)


def branch(run_dir: Path, agent: str, checkpoint: dict, seed: int | None, out: Path, *, dreaming: bool = True) -> dict:
    """Resume ``run_dir``'s ``agent`` from a kept ``checkpoint`` (:func:`load_checkpoint` output,
    not modified) in the new run directory ``out``.

    ``out`` must not exist. The branch's config is the run's with ``agents: [agent]``, without Dreaming
    when ``dreaming`` is False or the agent does not dream, and ``keep_checkpoints: false``.
    """
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["agents"] = [agent]
    if not dreaming or agent not in DREAMERS:
        cfg["dreaming"] = None
    cfg["keep_checkpoints"] = False
    state = reseeded(copy.deepcopy(checkpoint), seed)
    if cfg["dreaming"] is None and isinstance(state.get("agent"), dict):
        state["agent"].pop("dreaming", None)
    (out / agent).mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    save_checkpoint(out / agent / CHECKPOINT_NAME, **state)
    t0 = time.perf_counter()
    resume_experiment(out, quiet=True, tensorboard=False)
    R = np.load(out / agent / "R.npy")
    return {"seed": "keep" if seed is None else seed, "acc": float(np.mean(R[-1])), "last_row": R[-1].round(4).tolist(),
            "seconds": round(time.perf_counter() - t0, 1), "dir": str(out)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run directory written with keep_checkpoints: true")
    ap.add_argument("--sleep", type=int, required=True, help="branch after this many sleeps (a kept checkpoint), >= 1")
    ap.add_argument("--seeds", default="keep,0,1,2", help="comma-separated ints >= 0; 'keep' = the checkpoint's own generators")
    ap.add_argument("--agent", default="sleep", help="the agent of the run to branch: sleep, sft or sdft (default sleep)")
    ap.add_argument("--dreaming", choices=("on", "off"), default="on", help="off: finish without Dreaming")
    ap.add_argument("--out", type=Path, default=None, help="a new folder for the branches (default RUN_DIR-reseed<sleep>)")
    ap.add_argument("--force", action="store_true", help="replace branch folders that exist already")
    args = ap.parse_args(argv)
    run_dir = args.run_dir.resolve()
    try:
        seeds = [None if s.strip() == "keep" else int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds must be comma-separated ints or 'keep', got {args.seeds!r}; e.g. --seeds keep,0,1,2")
    if not seeds or any(s is not None and not 0 <= s < 2**32 for s in seeds) or len(set(seeds)) < len(seeds):
        ap.error(f"--seeds must name distinct seeds, each 'keep' or an int in [0, 2**32), got {args.seeds!r}; "
                 "e.g. --seeds keep,0,1,2")
    if args.sleep < 1:
        ap.error(f"--sleep must be >= 1 (branch after that many sleeps), got {args.sleep}")
    if not (run_dir / "config.json").is_file():
        ap.error(f"{args.run_dir} is not a run directory (no config.json); pass a directory written by `sleep-env run`")
    agents = json.loads((run_dir / "config.json").read_text()).get("agents", [])
    if args.agent not in agents:
        ap.error(f"agent {args.agent!r} is not in this run (agents: {agents}); pass --agent with one of them")
    if args.agent not in RESEEDABLE:
        ap.error(f"agent {args.agent!r} has no consolidation generator to redraw; reseed one of {sorted(RESEEDABLE)}")
    kept = kept_sleeps(run_dir, args.agent)
    if args.sleep not in kept:
        hint = (f"pick one of the kept sleeps {kept}" if kept else
                "run with `keep_checkpoints: true` in the config (this run kept none)")
        ap.error(f"{run_dir / args.agent / f'checkpoint-sleep{args.sleep}.pt'} does not exist; {hint}")
    try:  # read and checked once, before any folder is touched
        state = load_checkpoint(run_dir / args.agent / f"checkpoint-sleep{args.sleep}.pt")
    except SleepEnvError as exc:
        others = [k for k in kept if k != args.sleep]
        ap.error(f"{str(exc).split('; ')[0]}; branch from another kept sleep ({others or 'none'}) or rerun the lifetime")
    out = (args.out or run_dir.with_name(f"{run_dir.name}-reseed{args.sleep}")).resolve()
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out} is a file; pass a folder for the branches")
    if out == run_dir or run_dir in out.parents:
        ap.error(f"--out {out} is inside the run being branched; pass a folder outside {run_dir}")
    dirs = {s: out / f"{args.agent}-{'keep' if s is None else s}" for s in seeds}
    if (taken := [str(d) for d in dirs.values() if d.exists()]) and not args.force:
        ap.error(f"branch folder(s) exist already: {', '.join(taken)}; pass --force to replace them, or another --out")
    rows = []
    for s, d in dirs.items():
        if d.exists():
            shutil.rmtree(d)  # --force
        r = branch(run_dir, args.agent, state, s, d, dreaming=args.dreaming == "on")
        rows.append(r)
        print(f"seed {r['seed']}: ACC {r['acc']:.3f}, final row of R {r['last_row']}, {r['seconds']:.0f} s", flush=True)
    accs = [r["acc"] for r in rows]
    print(json.dumps({"run_dir": str(run_dir), "agent": args.agent, "sleep": args.sleep, "dreaming": args.dreaming,
                      "mean_acc": float(np.mean(accs)), "branches": rows}))


if __name__ == "__main__":
    sys.exit(main())
