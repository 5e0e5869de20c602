"""The one run pipeline: config + data -> records, metadata and summary -> a saved run.

The CLI, the dashboard's jobs, the benchmarks and the tests all train through
`run_experiment`, so a run means the same everywhere: the same engine, the same
divergence facts (from the engine's metadata, never re-derived), the same
summary and the same files on disk.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from mtlviz.config import ExperimentConfig
from mtlviz.data.taskset import TaskSet
from mtlviz.engine import Engine
from mtlviz.engine.threads import use_threads_for
from mtlviz.errors import TrainingError
from mtlviz.records import TRAIN_LOSS, RunMetadata, empty_records
from mtlviz.store import run_summary, save_run
from mtlviz.summary import summary_table

FINISHED, STOPPED = "finished", "stopped"

# (records of the chunk, metadata so far, last step trained)
ChunkCallback = Callable[[pd.DataFrame, RunMetadata, int], None]


@dataclass
class RunResult:
    config: ExperimentConfig
    status: str  # "finished", or "stopped" (stop event set, or Ctrl-C)
    steps: int  # the last step whose records were kept
    seconds: float  # wall-clock training time
    records: pd.DataFrame
    metadata: RunMetadata
    summary: pd.DataFrame  # mtlviz.summary.summary_table of the records
    saved: Path | None = None  # the run's directory, once saved
    save_error: str = ""  # why it could not be saved (the run itself is intact)


def run_experiment(
    config: ExperimentConfig,
    taskset: TaskSet | Callable[[int], TaskSet] | None = None,
    *,
    stop: threading.Event | None = None,
    on_chunk: ChunkCallback | None = None,
    on_start: Callable[[Engine], None] | None = None,
    save_to: Callable[[], Path] | None = None,
    threads: int | None = None,
    pace: float | None = None,
) -> RunResult:
    """Train every run of `config` and return its records, metadata and summary; save it when asked.

    taskset: prepared data (an uploaded table), or seed -> data; by default built
    from config.tasks. stop: set it to end training early (status "stopped").
    on_chunk is called with every record chunk as it is ready; on_start with the
    engine once the model is built. save_to makes the run's directory (called
    only when there is something to save, so a config that fails to build
    leaves nothing behind). threads: torch's intra-op threads (None: chosen from
    the model's size, see mtlviz/engine/threads.py). pace: at most this many steps
    per second (None: full speed), so a classroom can watch the curves form; a
    dashboard setting, not part of the experiment: the records are the same at any
    pace but for their seconds column.
    """
    with _device_errors():
        engine = Engine(config, taskset)
    if threads is None:
        use_threads_for(engine)
    elif torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if on_start is not None:
        on_start(engine)
    chunks = []
    status = FINISHED
    start = time.perf_counter()
    try:
        with _device_errors():
            for chunk in engine.run(stop, pace=pace):
                chunks.append(chunk)
                if on_chunk is not None:
                    on_chunk(chunk, engine.metadata(), engine.step)
    except KeyboardInterrupt:  # Ctrl-C in the CLI: keep what was recorded, as a stopped run
        status = STOPPED
    if stop is not None and stop.is_set():
        status = STOPPED
    seconds = time.perf_counter() - start
    records = pd.concat(chunks, ignore_index=True) if chunks else empty_records()
    return finish_run(config, status, engine.step, seconds, records, engine.metadata(), save_to)


def finish_run(
    config: ExperimentConfig,
    status: str,
    step: int,
    seconds: float,
    records: pd.DataFrame,
    metadata: RunMetadata,
    save_to: Callable[[], Path] | None = None,
) -> RunResult:
    """The records of a run that ended (trained here or in a worker process) -> its summary, saved when asked.

    step: the engine's last step; a stopped run counts only the steps whose records were kept."""
    steps = step if status == FINISHED else _last_step(records)
    table = summary_table(records, metadata.diverged_runs(), config.val_targets)
    result = RunResult(config, status, steps, seconds, records, metadata, table)
    if save_to is not None and not records.empty:
        save_result(result, save_to)
    return result


def save_result(result: RunResult, directory: Callable[[], Path]) -> None:
    """Keep the run on disk; a failure is reported in result.save_error, never raised."""
    try:
        summary = run_summary(
            result.config,
            result.summary,
            status=result.status,
            steps=result.steps,
            seconds=result.seconds,
            metadata=result.metadata,
        )
        result.saved = save_run(directory(), result.config, result.records, summary)
    except Exception as exc:  # the run stays in memory: its downloads still work
        result.save_error = f"the run could not be saved: {exc}"


@contextlib.contextmanager
def _device_errors() -> Iterator[None]:
    """Out of memory and device faults become a TrainingError that says what to try: they fail
    this run only, never the server or another user's run."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise TrainingError("out of memory: try a smaller batch size, width or number of configurations") from None
    except torch.AcceleratorError as exc:
        raise TrainingError(f"GPU error: {exc}. Try device 'cpu', or a smaller batch or model.") from None


def _last_step(records: pd.DataFrame) -> int:
    train = records.loc[records["metric"] == TRAIN_LOSS, "step"]
    return int(train.max()) if len(train) else 0
