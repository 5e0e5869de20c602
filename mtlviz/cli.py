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
from mtlviz.engine import Engine
from mtlviz.engine.records import TRAIN_LOSS
from mtlviz.engine.threads import use_threads_for
from mtlviz.errors import MtlvizError
from mtlviz.store import (
    CONFIG_FILE,
    list_runs,
    new_run_dir,
    run_summary,
    run_title,
    runs_dir,
    save_run,
)
from mtlviz.summary import format_summary, summary_table

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
    engine = Engine(config)
    use_threads_for(engine)
    chunks = []
    status = "finished"
    start = time.perf_counter()
    try:
        for chunk in engine.run():
            chunks.append(chunk)
            if not quiet:
                _progress(engine.step, config.train.steps, time.perf_counter() - start)
    except KeyboardInterrupt:
        status = "stopped"
    seconds = time.perf_counter() - start
    if not quiet or status == "stopped":
        print(file=sys.stderr)
    if not chunks:
        print("interrupted before the first evaluation; nothing saved", file=sys.stderr)
        return INTERRUPTED
    records = pd.concat(chunks, ignore_index=True)
    # A stopped run's last chunk may not have come out of the engine: count what was saved.
    steps = engine.step if status == "finished" else _last_step(records)
    table = summary_table(records, engine.diverged_by_run(), config.val_targets)
    summary = run_summary(
        config,
        table,
        status=status,
        steps=steps,
        device=str(engine.device),
        seconds=seconds,
        diverged=engine.diverged,
        diverged_loss=engine.diverged_loss,
        diverged_runs=engine.diverged_by_run(),
    )
    # The directory is made only now, so a config that fails to build leaves nothing behind.
    out = out if out is not None else new_run_dir(runs_dir(), run_title(config))
    save_run(out, config, records, summary)
    print(format_summary(table))
    for label, step in engine.diverged.items():
        print(f"{label} diverged at step {step} (loss = {engine.diverged_loss[label]:.3g})")
    if status == "stopped":
        print(f"stopped at step {steps} of {config.train.steps}", file=sys.stderr)
    print(f"wrote {out}: {CONFIG_FILE}, metrics.parquet, summary.json")
    return INTERRUPTED if status == "stopped" else 0


def _last_step(records: pd.DataFrame) -> int:
    train = records.loc[records["metric"] == TRAIN_LOSS, "step"]
    return int(train.max()) if len(train) else 0


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
