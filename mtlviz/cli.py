"""Headless command line: run an experiment from a JSON config, same engine as the dashboard.

python -m mtlviz run CONFIG.json --out DIR
python -m mtlviz example-config > CONFIG.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from mtlviz.config import ExperimentConfig
from mtlviz.engine import Engine
from mtlviz.engine.threads import use_threads_for
from mtlviz.errors import MtlvizError
from mtlviz.store import save_run
from mtlviz.summary import best_per_task, format_summary, summary_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlviz", description="Compare optimizers on multi-task learning.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="train every configuration of CONFIG and write DIR/config.json, metrics.parquet"
    )
    run.add_argument("config", type=Path, help="experiment config (JSON)")
    run.add_argument("--out", type=Path, required=True, help="output directory")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("example-config", help="print a valid default config")
    args = parser.parse_args(argv)

    if args.command == "example-config":
        print(ExperimentConfig().to_json())
        return 0
    try:
        return _run(args.config, args.out, quiet=args.quiet)
    except MtlvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(config_path: Path, out: Path, quiet: bool) -> int:
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read config {config_path}: {exc}", file=sys.stderr)
        return 2
    config = ExperimentConfig.from_json(text)
    engine = Engine(config)
    use_threads_for(engine)
    chunks = []
    start = time.perf_counter()
    for chunk in engine.run():
        chunks.append(chunk)
        if not quiet:
            _progress(engine.step, config.train.steps, time.perf_counter() - start)
    if not quiet:
        print(file=sys.stderr)
    records = pd.concat(chunks, ignore_index=True)
    summary = summary_table(records, engine.diverged)
    save_run(
        out,
        config,
        records,
        {
            "steps": engine.step,
            "device": str(engine.device),
            "seconds": round(time.perf_counter() - start, 3),
            "best": best_per_task(summary),
            "diverged": {
                label: {"step": step, "loss": engine.diverged_loss[label]} for label, step in engine.diverged.items()
            },
            "final": json.loads(summary.to_json(orient="records")),
        },
    )
    print(format_summary(summary))
    for label, step in engine.diverged.items():
        print(f"{label} diverged at step {step} (loss = {engine.diverged_loss[label]:.3g})")
    print(f"wrote {out / 'config.json'} and {out / 'metrics.parquet'}")
    return 0


def _progress(step: int, total: int, elapsed: float) -> None:
    width = 30
    filled = int(width * step / total)
    rate = step / elapsed if elapsed > 0 else 0.0
    eta = f"{(total - step) / rate:.0f}s" if rate > 0 else "?"
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r[{bar}] {step}/{total} steps  {rate:,.0f} steps/s  ETA {eta}   ")
    sys.stderr.flush()
