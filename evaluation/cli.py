"""The ``sleep-env`` command line. It parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from pathlib import Path

from sleep_env.errors import SleepEnvError

__all__ = ["main"]


def _fmt(x, spec: str = ".2f") -> str:
    """A summary value as text: "-" when missing (None), "nan", a number with ``spec``, else ``str``."""
    if x is None:
        return "-"
    if not _number(x):
        return str(x)
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, int) and spec == ".2f":
        return str(x)
    return f"{x:+{spec}}" if x < 0 and spec == ".2f" else f"{x:{spec}}"


def _number(x) -> bool:
    """True for an int or float that is not a bool (nan included: an undefined metric is a number)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _item(x) -> str:
    """A list entry: JSON null inside a per-round / per-sleep list is an undefined value, "-" (as a nan)."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else _fmt(x)


def _seq(xs, sep: str = " / ") -> str:
    """A per-round / per-sleep list as "a / b / c" ("-" when missing or empty)."""
    if not isinstance(xs, (list, tuple)) or not xs:
        return "-" if xs in (None, [], ()) else _fmt(xs)
    return sep.join(_item(x) for x in xs)


#: Scalars of the Dreaming line and lists that print_summary shows (checked for "not a number").
_DREAM_KEYS = ("dream_sleeps", "dream_applies_committed", "dream_probes_gained", "dream_probes_lost",
               "seconds_consolidation", "seconds_dreaming")
_LIST_KEYS = ("in_context_acc_per_sleep", "dream_reward_rate_per_round", "dream_expected_reward_per_round")


def _number_list(xs) -> bool:
    """True for None or a list / tuple of numbers and nulls (null = an undefined value)."""
    return xs is None or (isinstance(xs, (list, tuple)) and all(x is None or _number(x) for x in xs))


def check_summary(summary, path) -> None:
    """Raise SleepEnvError naming what is wrong when ``summary`` is not a run summary's shape.

    A run summary is a JSON object with an ``agents`` object of per-agent objects.
    """
    where = f"{path} is not a summary written by `sleep-env run`"
    if isinstance(summary, dict) and "cells" in summary and not isinstance(summary.get("agents"), dict):
        raise SleepEnvError(f"{where}: it is a compare summary (compare.json); its table is compare.csv, and "
                            "`sleep-env report DIR` writes report.md for the compare directory")
    if not isinstance(summary, dict) or not isinstance(summary.get("agents"), dict):
        if not isinstance(summary, dict):
            got = type(summary).__name__
        elif "agents" in summary:
            got = f"'agents' = {summary['agents']!r}"[:120]
        else:
            got = f"keys {sorted(summary)[:6]}"
        raise SleepEnvError(f"{where}: expected a JSON object with an 'agents' object, got {got}")
    for name, m in summary["agents"].items():
        if not isinstance(m, dict):
            raise SleepEnvError(f"{where}: agents.{name} should be an object of metrics, got {m!r}")


def print_summary(summary: dict) -> None:
    """Print the per-agent table of a run summary ("-" for a key the summary does not have)."""
    cols = ["closed-book acc", "asked", "never asked", "BWT", "FWT", "forgetting", "wake query acc", "sleeps", "s asleep",
            "in-context acc per sleep"]
    keys = ["acc", "acc_queried", "acc_unqueried", "bwt", "fwt", "forgetting", "wake_query_acc", "sleeps", "seconds_asleep"]
    rows, odd = [], []
    for name, m in summary["agents"].items():
        m = dict(m)
        m.setdefault("acc", m.get("closed_book_final_acc"))  # the same number under its older name
        if isinstance(m.get("sleeps"), float) and m["sleeps"].is_integer():
            m["sleeps"] = int(m["sleeps"])  # a count written as 3.0 prints as 3
        ic = _seq(m.get("in_context_acc_per_sleep"), " ")
        vals = [_fmt(m.get(k), ".0f" if k == "seconds_asleep" else ".2f") for k in keys]
        rows.append([name] + vals + [ic])
        odd += [f"agents.{name}.{k} = {m[k]!r}" for k in (*keys, *_DREAM_KEYS) if m.get(k) is not None and not _number(m[k])]
        odd += [f"agents.{name}.{k} = {m[k]!r}" for k in _LIST_KEYS if k in m and not _number_list(m[k])]
    head = ["agent"] + cols
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    if not summary["agents"]:
        print("note: the summary lists no agents (was the run given `agents: []`, or the file edited?)")
    if odd:
        print(f"note: not a number (shown as written; was the summary edited?): {', '.join(odd)}")
    for name, m in summary["agents"].items():  # agents with Dreaming: its learning signal and cost
        if "dream_reward_rate_per_round" in m:
            expected = m.get("dream_expected_reward_per_round")
            print(f"{name}: Dreaming in {_fmt(m.get('dream_sleeps'))} sleeps, reward rate per ReST-EM round "
                  f"{_seq(m['dream_reward_rate_per_round'])}" + (f" (expected reward {_seq(expected)})" if expected is not None else "")
                  + f", applies kept {_fmt(m.get('dream_applies_committed'))}"
                  + (f", probes gained / lost by Dreaming {_fmt(m['dream_probes_gained'], 'g')} / {_fmt(m.get('dream_probes_lost'), 'g')}"
                     if "dream_probes_gained" in m else "")
                  + ", seconds consolidation / Dreaming "
                  f"{_fmt(m.get('seconds_consolidation'), '.0f')} / {_fmt(m.get('seconds_dreaming'), '.0f')}")


def _is_compare_config(path: Path) -> bool:
    """A YAML file with top-level ``seeds:`` or ``schedules:`` keys (a ``sleep-env compare`` config)."""
    try:
        return bool(re.search(r"^(seeds|schedules)\s*:", path.read_text(errors="replace"), re.M))
    except OSError:
        return False


def _default_notice(path: Path | None, doing: str) -> None:
    """Say so when no config (or an empty file) means the built-in defaults, which load SmolLM2."""
    from evaluation.config import RunConfig, config_file_is_empty, describe_config

    if path is None:
        print(f"no config given: {doing} the default config ({describe_config(RunConfig())}); "
              "pass a YAML config to change it, e.g. examples/configs/facts.yaml", flush=True)
    elif config_file_is_empty(path):
        print(f"note: {path} is empty; {doing} the default config ({describe_config(RunConfig())})", flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from evaluation.config import load_config
    from evaluation.experiment import resume_experiment, run_experiment
    from evaluation.rundir import json_safe

    if args.resume:
        if args.config or args.out or args.force:
            raise SleepEnvError("--resume RUN_DIR takes no CONFIG, --out or --force (the run directory holds its config)")
        out = Path(args.resume)
        summary = resume_experiment(out, quiet=args.quiet, tensorboard=not args.no_tensorboard)
    else:
        path = Path(args.config) if args.config else None
        if path is not None and path.is_file() and _is_compare_config(path):
            raise SleepEnvError(f"{path} is a compare config (it has seeds:/schedules:); run it with "
                                f"`sleep-env compare {path}`, or give `sleep-env run` a config with one seed and schedule")
        cfg = load_config(path)  # the argument is always a file path
        _default_notice(path, "running")
        out = Path(_out_dir(args.out) or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
        summary = run_experiment(cfg, out, quiet=args.quiet, force=args.force, tensorboard=not args.no_tensorboard)
    print_summary(json_safe(summary))  # as `sleep-env summary` prints the written summary.json (nan -> "-")
    print(f"\nrun directory: {out}  (summary.json, config.json, <agent>/steps.jsonl, <agent>/R.npy)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from evaluation.compare import compare, format_table, load_compare_config

    if args.workers < 0:
        raise SleepEnvError(f"--workers must be >= 0 (0 = one per CPU core), got {args.workers}; pass e.g. --workers 2")
    ccfg = load_compare_config(Path(args.config))
    out = Path(_out_dir(args.out) or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}")
    result = compare(ccfg, out, executor=args.executor, address=args.address, workers=args.workers,
                     quiet=args.quiet, force=args.force)
    print(format_table(result))
    print(f"\ncompare directory: {out}  (compare.csv, compare.json, report.md, runs/<schedule>/<agent>/seed_<k>/)")
    failed = [c for c in result["cells"] if c["status"] != "ok"]
    for c in failed:
        print(f"sleep-env: cell {c['schedule']}/{c['agent']}/seed {c['seed']} failed twice: {c['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from evaluation.report import write_report

    path = write_report(Path(args.run_dir))
    print(f"report: {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from evaluation.config import load_config
    from evaluation.experiment import build_env_config
    from sleep_env import SleepEnv, check_sleep_env

    path = Path(args.config) if args.config else None  # the argument is always a file path
    if path is not None and path.is_file() and _is_compare_config(path):
        from evaluation.compare import load_compare_config

        ccfg = load_compare_config(path)  # a compare config: check the env of every schedule
        for spec, label in zip(ccfg.schedules, ccfg.labels):
            check_sleep_env(SleepEnv(build_env_config(dataclasses.replace(ccfg.base, schedule=spec, sleep_period=0))))
            print(f"ok: {label}")
        print(f"ok: the env passes gymnasium's check_env and the sleep contract under all {len(ccfg.schedules)} schedules")
        return 0
    cfg = load_config(path)
    _default_notice(path, "checking")
    check_sleep_env(SleepEnv(build_env_config(cfg)))
    print("ok: the env passes gymnasium's check_env and the sleep contract")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    given = Path(args.run_dir)
    is_file = given.is_file() or (given.suffix == ".json" and not given.is_dir())
    path = given if is_file else given / "summary.json"  # the run directory or its summary.json
    if not path.is_file():
        if (Path(args.run_dir) / "compare.json").is_file():
            raise SleepEnvError(f"{args.run_dir} is a compare directory: its table is compare.csv; "
                                f"`sleep-env report {args.run_dir}` writes report.md with the plots")
        if not is_file and (given / "config.json").is_file():
            raise SleepEnvError(f"{given} has no summary.json yet: its run has not finished; continue it with "
                                f"`sleep-env run --resume {given}`")
        if given.exists() and not given.is_dir() and not given.is_file():
            raise SleepEnvError(f"{given} is not a file or a directory; pass a run directory written by "
                                "`sleep-env run` (or its summary.json)")
        if path.is_dir():
            given = path
        if given.is_dir() and given.suffix == ".json":
            raise SleepEnvError(f"{given} is a directory, not a summary file; pass a run directory written by "
                                "`sleep-env run` (or its summary.json)")
        if not given.exists():
            raise SleepEnvError(f"{given} does not exist; pass a run directory written by `sleep-env run` (or its summary.json)")
        raise SleepEnvError(f"{given} has no summary.json; pass a run directory written by `sleep-env run` (or its summary.json)")
    text = path.read_text(errors="replace")
    if not text.strip():
        raise SleepEnvError(f"{path} is empty; a run writes summary.json when it finishes (an interrupted run "
                            "continues with `sleep-env run --resume DIR`)")
    try:
        summary = json.loads(text)
    except ValueError as exc:
        raise SleepEnvError(f"{path} is not JSON ({exc}); pass a summary.json written by `sleep-env run`") from None
    check_summary(summary, path)
    print_summary(summary)
    from evaluation.rundir import pending_agents

    missing = pending_agents(summary, path.parent)
    if missing:
        print(f"INCOMPLETE: agent(s) {', '.join(missing)} of this run have not finished; the table shows only the "
              f"finished ones. Continue the run with `sleep-env run --resume {path.parent}`")
        return 1
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sleep-env")
    except PackageNotFoundError:  # run from a checkout that was not pip-installed
        return "unknown (not installed)"


def _out_dir(out: str | None) -> str | None:
    """``--out`` as given (None when absent); a blank one is an error, not the default directory."""
    if out is not None and not out.strip():
        raise SleepEnvError(f"--out must name a directory, got {out!r}; leave --out out for runs/<timestamp>")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sleep-env`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="sleep-env", description="Continual learning of language models with sleep.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run agents through a seeded stream and write a run directory")
    p.add_argument("config", nargs="?", help="YAML config (default: built-in defaults)")
    p.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or lines")
    p.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run directory from its checkpoints")
    p.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard events")
    p.set_defaults(func=_cmd_run)
    m = sub.add_parser("compare", help="run a grid of schedules x agents x seeds and tabulate means with 95%% CIs")
    m.add_argument("config", help="YAML compare config (run keys plus schedules: and seeds:)")
    m.add_argument("--out", help="compare directory (default: runs/compare-<timestamp>)")
    m.add_argument("--executor", choices=("local", "ray"), default="local", help="local processes (default) or Ray")
    m.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    m.add_argument("--workers", type=int, default=0, help="parallel cells for the local executor (0 = CPU cores)")
    m.add_argument("--quiet", action="store_true", help="no progress bars")
    m.add_argument("--force", action="store_true", help="overwrite an existing compare directory")
    m.set_defaults(func=_cmd_compare)
    r = sub.add_parser("report", help="write plots and a Markdown report for a run or compare directory")
    r.add_argument("run_dir")
    r.set_defaults(func=_cmd_report)
    c = sub.add_parser("check", help="check the configured env against gymnasium's checker and the sleep contract")
    c.add_argument("config", nargs="?")
    c.set_defaults(func=_cmd_check)
    s = sub.add_parser("summary", help="print the table of a finished run directory (or of its summary.json)")
    s.add_argument("run_dir", help="a run directory, or the summary.json in it")
    s.set_defaults(func=_cmd_summary)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (SleepEnvError, ValueError, OSError) as exc:
        print(f"sleep-env: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sleep-env: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
