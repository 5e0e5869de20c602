"""Headless command line: run an experiment from a JSON config, same engine as the dashboard.

python -m mtlviz run CONFIG.json [--out DIR]    (default DIR: a new directory in the runs folder)
python -m mtlviz rerun RUN_DIR [--out DIR]     (RUN_DIR/config.json again, into a new directory)
python -m mtlviz runs [--dir RUNS]             (the saved runs, newest first)
python -m mtlviz example-config > CONFIG.json

The runs folder is $MTLVIZ_RUNS_DIR, or ./runs. Ctrl-C stops training, saves what
was recorded with status "stopped" and exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from mtlviz.config import ExperimentConfig
from mtlviz.errors import MtlvizError
from mtlviz.records import RunMetadata
from mtlviz.run import STOPPED, run_experiment
from mtlviz.store import CONFIG_FILE, list_runs, new_run_dir, run_title, runs_dir
from mtlviz.summary import format_summary

INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlviz", description="Compare optimizers on multi-task learning.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="train every configuration of CONFIG and write DIR/config.json, metrics.parquet, summary.json"
    )
    run.add_argument("config", type=Path, help="experiment config (JSON)")
    rerun = commands.add_parser("rerun", help="run a saved run's config.json again, into a new run directory")
    rerun.add_argument("run_dir", type=Path, help="a saved run directory")
    for command in (run, rerun):
        command.add_argument(
            "--out", type=Path, default=None, help="output directory (default: a new directory in the runs folder)"
        )
        command.add_argument("--quiet", action="store_true", help="no progress bar")
    runs = commands.add_parser("runs", help="list the saved runs, newest first")
    runs.add_argument("--dir", type=Path, default=None, help="runs folder (default: $MTLVIZ_RUNS_DIR or ./runs)")
    runs.add_argument("--limit", type=int, default=200, help="show at most this many runs (default 200)")
    commands.add_parser("example-config", help="print a valid default config")
    args = parser.parse_args(argv)

    if args.command == "example-config":
        print(ExperimentConfig().to_json())
        return 0
    try:
        if args.command == "runs":
            return _list(args.dir, args.limit)
        if args.command == "rerun":
            config_path = args.run_dir / CONFIG_FILE
            if not config_path.is_file():
                found = f"no {CONFIG_FILE} in it" if args.run_dir.is_dir() else "no such directory"
                print(f"error: {args.run_dir}: expected a saved run directory, found {found}", file=sys.stderr)
                return 2
            return _run(config_path, args.out, quiet=args.quiet)
        return _run(args.config, args.out, quiet=args.quiet)
    except MtlvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(config_path: Path, out: Path | None, quiet: bool) -> int:
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read config {config_path}: {exc}", file=sys.stderr)
        return 2
    config = ExperimentConfig.from_json(text)
    start = time.perf_counter()

    def progress(chunk: pd.DataFrame, metadata: RunMetadata, step: int) -> None:
        if not quiet:
            _progress(step, config.train.steps, time.perf_counter() - start)

    # The directory is made only when there is a run to save, so a config that fails
    # to build leaves nothing behind.
    result = run_experiment(
        config,
        on_chunk=progress,
        save_to=lambda: out if out is not None else new_run_dir(runs_dir(), run_title(config)),
    )
    stopped = result.status == STOPPED
    if not quiet or stopped:
        print(file=sys.stderr)
    if result.records.empty:
        print("interrupted before the first evaluation; nothing saved", file=sys.stderr)
        return INTERRUPTED
    print(format_summary(result.summary))
    for event in result.metadata.divergences:
        seed = f" (seed {event.seed})" if config.train.seeds > 1 else ""
        print(f"{event.run}{seed} diverged at step {event.step} ({event.task} loss = {event.describe_loss()})")
    if stopped:
        print(f"stopped at step {result.steps} of {config.train.steps}", file=sys.stderr)
    if result.save_error:
        print(f"error: {result.save_error}", file=sys.stderr)
        return 2
    print(f"wrote {result.saved}: {CONFIG_FILE}, metrics.parquet, summary.json")
    return INTERRUPTED if stopped else 0


def _list(root: Path | None, limit: int) -> int:
    root = runs_dir() if root is None else root
    runs, notes = list_runs(root, limit=limit)
    if not runs:
        print(f"no saved runs in {root}")
    else:
        print(f"{len(runs)} saved run{'s' if len(runs) != 1 else ''} in {root}, newest first")
        rows = [("name", "status", "steps", "configurations")]
        rows += [(r.name, r.status, str(r.steps), ", ".join(r.runs)) for r in runs]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for name, status, steps, labels in rows:
            print(f"{name:<{widths[0]}}  {status:<{widths[1]}}  {steps:>{widths[2]}}  {labels}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _progress(step: int, total: int, elapsed: float) -> None:
    width = 30
    filled = int(width * step / total)
    rate = step / elapsed if elapsed > 0 else 0.0
    eta = f"{(total - step) / rate:.0f}s" if rate > 0 else "?"
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r[{bar}] {step}/{total} steps  {rate:,.0f} steps/s  ETA {eta}   ")
    sys.stderr.flush()
