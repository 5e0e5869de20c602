"""Headless command line: run an experiment from a JSON config, same engine as the dashboard.

python -m mtlviz run CONFIG.json [--out DIR [--replace]] [--confirm SEEDS]
                                               (default DIR: a new directory in the runs folder)
python -m mtlviz rerun RUN_DIR [--out DIR [--replace]] [--confirm SEEDS]
                                               (RUN_DIR/config.json again, into a new directory)
python -m mtlviz runs [--dir RUNS]             (the saved runs, newest first)
python -m mtlviz example-config > CONFIG.json

The runs folder is $MTLVIZ_RUNS_DIR, or ./runs. Ctrl-C stops training, saves what
was recorded with status "stopped" and exits 130. --out onto a folder that is not
empty exits 2 unless --replace (or --force) says to overwrite the run in it. A run
trained on a table file keeps a copy of it (RUN_DIR/data/<file>), which rerun uses.
A run with a test split prints each configuration's best trial, chosen on validation
and reported on test (mtlviz/protocol.py); --confirm SEEDS then trains those winners
again on SEEDS fresh seeds, saved as a second run (DIR-confirm with --out).
Before training, `run` and `rerun` estimate what the run will need (mtlviz/budget.py)
and refuse, in one line with status 2, a run that would not fit in 80% of this
machine's memory (of the GPU's when it trains on one); a table is prepared first,
since its sizes are known only then, and that preparation is what training uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mtlviz.budget import Limits, check_run, estimate_run
from mtlviz.config import ExperimentConfig, TableTasks
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import ConfigError, MtlvizError
from mtlviz.protocol import CONFIRM_SEEDS, check_confirm, confirm_config, format_report, protocol_report
from mtlviz.records import RunMetadata
from mtlviz.run import STOPPED, RunResult, run_experiment
from mtlviz.store import CONFIG_FILE, keep_table, list_runs, new_run_dir, run_title, runs_dir, table_for_rerun
from mtlviz.summary import clipping_notes, format_summary

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
        command.add_argument(
            "--replace",
            "--force",
            action="store_true",
            help="write into --out even when it is not empty (its run files are replaced)",
        )
        command.add_argument("--quiet", action="store_true", help="no progress bar")
        command.add_argument(
            "--confirm",
            type=int,
            default=None,
            metavar="SEEDS",
            help=f"then train each configuration's winning trial again on SEEDS fresh seeds (DeepOBS uses "
            f"{CONFIRM_SEEDS}); needs a test split (tasks.test_fraction)",
        )
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
            config = _read_config(config_path)
            if config is None:
                return 2
            config = table_for_rerun(args.run_dir, config)
        else:
            config = _read_config(args.config)
            if config is None:
                return 2
        if args.confirm is not None:
            check_confirm(config, args.confirm)  # refused before anything trains
            if getattr(config.tasks, "test_fraction", 0.0) <= 0:
                raise ConfigError(
                    "--confirm",
                    "winners are chosen on validation and confirmed on test; expected tasks.test_fraction > 0, found 0",
                )
        code, result = _run(config, args.out, args.replace, quiet=args.quiet)
        if code or args.confirm is None:
            return code
        return _confirm(config, result, args.confirm, args.out, args.replace, args.quiet)
    except MtlvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _read_config(config_path: Path) -> ExperimentConfig | None:
    """The config in the file (ConfigError when invalid); None, with the message printed, when unreadable."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read config {config_path}: {exc}", file=sys.stderr)
        return None
    return ExperimentConfig.from_json(text)


def _occupied(out: Path) -> str:
    """What is in the way at `out` ("" when it is free: missing, or an empty folder)."""
    if out.is_dir():
        entries = sum(1 for _ in out.iterdir())
        return f"a folder with {entries} entr{'ies' if entries != 1 else 'y'}" if entries else ""
    return "a file" if out.exists() else ""


def _confirm(
    config: ExperimentConfig, result: RunResult, seeds: int, out: Path | None, replace: bool, quiet: bool
) -> int:
    """Train the search's winners again on `seeds` fresh seeds, as a run of its own."""
    report = protocol_report(result.records, result.metadata, config)
    if report is None:
        print("error: --confirm: the run ended before its test report; nothing to confirm", file=sys.stderr)
        return 2
    confirm = confirm_config(config, report, seeds)
    print(f"\nconfirming {len(confirm.optimizers)} winners on seeds {', '.join(map(str, confirm.train.seed_values))}")
    code, _ = _run(confirm, None if out is None else out.with_name(f"{out.name}-confirm"), replace, quiet)
    return code


def _run(config: ExperimentConfig, out: Path | None, replace: bool, quiet: bool) -> tuple[int, RunResult | None]:
    """(exit status, the result when the run trained and was saved)."""
    if out is not None:
        found = _occupied(out)
        if found and not (replace and out.is_dir()):
            hint = "" if out.is_dir() else "; --replace only overwrites a run folder"
            print(
                f"error: --out {out}: expected a new or empty folder, found {found}. Pass --replace to overwrite the "
                f"run in it, or choose another folder{hint}",
                file=sys.stderr,
            )
            return 2, None
    problem = _unwritable(out if out is not None else runs_dir())
    if problem:  # said before training, so a long run is never lost to a folder it cannot be saved in
        print(f"error: {problem}", file=sys.stderr)
        return 2, None
    data = _check_budget(config)
    table = Path(config.tasks.path) if isinstance(config.tasks, TableTasks) and config.tasks.path else None
    start = time.perf_counter()

    def progress(chunk: pd.DataFrame, metadata: RunMetadata, step: int) -> None:
        if not quiet:
            _progress(step, config.train.steps, time.perf_counter() - start)

    def directory() -> Path:
        # Made only when there is a run to save, so a config that fails to build leaves nothing behind.
        path = out if out is not None else new_run_dir(runs_dir(), run_title(config))
        path.mkdir(parents=True, exist_ok=True)
        if table is not None:  # a copy of the table goes with the run, so `rerun` works from any folder
            keep_table(path, table.name, table)
        return path

    result = run_experiment(config, data, on_chunk=progress, save_to=directory)
    stopped = result.status == STOPPED
    if not quiet or stopped:
        print(file=sys.stderr)
    if result.records.empty:
        print("interrupted before the first evaluation; nothing saved", file=sys.stderr)
        return INTERRUPTED, None
    report = protocol_report(result.records, result.metadata, config)
    summary = result.summary
    if report is not None and any(c.hyperparameters for c in report.choices):
        # A search's trials are many: the table shows the chosen ones; summary.json keeps them all.
        summary = summary[summary["run"].isin([c.run for c in report.choices])]
        print(f"Validation results of the chosen trials ({len(report.trials)} trials in summary.json):")
    print(format_summary(summary))
    for event in result.metadata.divergences:
        seed = f" (seed {event.seed})" if config.train.seeds > 1 else ""
        print(f"{event.run}{seed} diverged at step {event.step} ({event.task} loss = {event.describe_loss()})")
    for note in clipping_notes(result.records):
        print(note)
    if report is not None:
        print(format_report(report))
    if stopped:
        print(f"stopped at step {result.steps} of {config.train.steps}", file=sys.stderr)
    if result.save_error:
        print(f"error: {result.save_error}", file=sys.stderr)
        return 2, None
    print(f"wrote {result.saved}: {CONFIG_FILE}, metrics.parquet, summary.json")
    return (INTERRUPTED, None) if stopped else (0, result)


def _check_budget(config: ExperimentConfig) -> Callable[[int], TaskSet] | None:
    """Refuse (BudgetError) a run this machine cannot hold, before its model is built or trained.

    A table's sizes are known only once it is prepared, so it is prepared here (its first seed) and
    returned as the data to train on (seed -> TaskSet); None: the engine builds the data itself."""
    if not isinstance(config.tasks, TableTasks):
        check_run(config, estimate_run(config), Limits.for_machine(config.train.device))
        return None
    from mtlviz.data.sources import build_taskset

    seed = config.train.seed
    first = build_taskset(config.tasks, seed)
    estimate = estimate_run(
        config,
        input_dim=first.input_dim,
        output_dims=[task.output_dim for task in first.tasks],
        train_rows=first.x_train.shape[0],
    )
    check_run(config, estimate, Limits.for_machine(config.train.device))
    return lambda s: first if s == seed else build_taskset(config.tasks, s)


def _unwritable(folder: Path) -> str:
    """Why a run could not be saved under `folder` ("" when it can): checked before anything trains."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing}: expected a folder to save runs in, found a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing}: expected a folder this user can write to, found one it cannot"
    return ""


def _list(root: Path | None, limit: int) -> int:
    root = runs_dir() if root is None else root
    runs, notes = list_runs(root, limit=limit)
    if not runs:
        print(f"no saved runs in {root}")
    else:
        print(f"{len(runs)} saved run{'s' if len(runs) != 1 else ''} in {root}, newest first")
        rows = [("name", "status", "steps", "configurations", "experiment")]
        rows += [(r.name, r.status, str(r.steps), ", ".join(r.runs), r.describe("subtitle")) for r in runs]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for name, status, steps, labels, experiment in rows:
            line = f"{name:<{widths[0]}}  {status:<{widths[1]}}  {steps:>{widths[2]}}  {labels:<{widths[3]}}"
            print(f"{line}  {experiment}".rstrip())
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
