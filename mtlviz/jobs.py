"""Background training jobs: a thread per job, a stop event, a metric buffer, a status.

The worker thread runs the engine and appends record chunks to the job's
MetricLog; readers (the dashboard's fragment, the CLI) take snapshots. The
worker never touches the UI. A process-wide JobSlots caps how many jobs train
at once; the rest wait in a first-come queue and report their position.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mtlviz.config import ExperimentConfig
from mtlviz.data.taskset import TaskSet
from mtlviz.engine import Engine
from mtlviz.errors import MtlvizError
from mtlviz.records import MetricLog, RunMetadata
from mtlviz.run import run_experiment
from mtlviz.store import keep_table, new_run_dir, run_title

log = logging.getLogger(__name__)


QUEUED, RUNNING, FINISHED, STOPPED, FAILED = "queued", "running", "finished", "stopped", "failed"
ENDED = (FINISHED, STOPPED, FAILED)


class JobSlots:
    """A counting limit with a FIFO queue, so waiting jobs can say where they are."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._cond = threading.Condition()
        self._running: set[str] = set()
        self._waiting: deque[str] = deque()

    def acquire(self, job_id: str, cancelled: threading.Event) -> bool:
        """Wait for a slot; False if cancelled while waiting."""
        with self._cond:
            self._waiting.append(job_id)
            try:
                while not (self._waiting[0] == job_id and len(self._running) < self.capacity):
                    if cancelled.is_set():
                        return False
                    self._cond.wait(timeout=0.2)
                self._running.add(job_id)
                return True
            finally:
                self._waiting.remove(job_id)
                self._cond.notify_all()

    def release(self, job_id: str) -> None:
        with self._cond:
            self._running.discard(job_id)
            self._cond.notify_all()

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, or None when not waiting."""
        with self._cond:
            return self._waiting.index(job_id) + 1 if job_id in self._waiting else None

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)


def _capacity() -> int:
    """Concurrent training jobs per server: MTLVIZ_MAX_JOBS, default 4."""
    raw = os.environ.get("MTLVIZ_MAX_JOBS", "4")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"MTLVIZ_MAX_JOBS must be a positive integer, found {raw!r}") from None
    if value < 1:
        raise ValueError(f"MTLVIZ_MAX_JOBS must be a positive integer, found {raw!r}")
    return value


# Shared by every session of the server: the cap is on the machine, not on a user.
SLOTS = JobSlots(capacity=_capacity())


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    elapsed: float
    steps_per_second: float
    eta_seconds: float | None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


class TrainingJob:
    """One experiment trained in a background thread."""

    def __init__(
        self,
        config: ExperimentConfig,
        slots: JobSlots = SLOTS,
        taskset: TaskSet | Callable[[int], TaskSet] | None = None,
        save_to: Path | None = None,
        pace: float | None = None,
        table_file: tuple[str, bytes] | None = None,
    ):
        """`taskset`, when given, is the already prepared data (e.g. an uploaded table),
        or a function seed -> TaskSet. `save_to`: a runs directory to keep the run in
        once it finished or was stopped (None: not saved). `pace`: at most this many
        steps per second (None or 0: full speed); the records are the same at any pace."""
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.pace = pace or None
        self._taskset = taskset
        self._save_to = save_to
        # An uploaded table's (file name, bytes): kept with the saved run, so `rerun` trains it again.
        self._table_file = table_file
        self.saved: Path | None = None  # the run's directory once saved
        self.save_error = ""
        self.log = MetricLog()
        self.status = QUEUED
        self.error = ""
        # The engine's facts about the run (rows, divergences, shared parameters, device):
        # None until the model is built, then replaced by a fresh snapshot with every chunk.
        self.metadata: RunMetadata | None = None
        self._slots = slots
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"mtlviz-job-{self.id}", daemon=True)
        self._engine: Engine | None = None
        self._started_at: float | None = None
        self._ended_at: float | None = None

    # ----------------------------------------------------------------- control

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop; harmless when it already ended or was asked before."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def runs(self) -> tuple[str, ...]:
        return self.config.runs

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """A snapshot of the records so far (only `metrics`, when given)."""
        return self.log.frame(metrics)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def queue_position(self) -> int | None:
        return self._slots.position(self.id) if self.status == QUEUED else None

    def progress(self) -> Progress:
        total = self.config.train.steps
        if self._started_at is None:
            return Progress(0, total, 0.0, 0.0, None)
        step = self._engine.step if self._engine is not None else 0  # an int read: no lock needed
        elapsed = (self._ended_at or time.perf_counter()) - self._started_at
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (total - step) / rate if rate > 0 and not self.ended else None
        return Progress(step, total, elapsed, rate, eta)

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        if not self._slots.acquire(self.id, self._stop):
            self.status = STOPPED
            return
        try:
            self.status = RUNNING
            self._started_at = time.perf_counter()
            result = run_experiment(
                self.config,
                self._taskset,
                stop=self._stop,
                on_start=self._on_start,
                on_chunk=self._on_chunk,
                # One intra-op thread per job (the setting is process-wide): the server's
                # parallelism comes from concurrent jobs, a core each, and small steps gain
                # little from more (see mtlviz/engine/threads.py). Measured on a 2-core CPU,
                # 3 configurations, hidden 64: a worker thread ran 385 steps/s with 1 thread
                # and 124 steps/s with 2, whose OpenMP pool contended with the main thread's.
                threads=1,
                pace=self.pace,
                save_to=self._run_dir if self._save_to is not None else None,
            )
            self.metadata = result.metadata
            self.saved, self.save_error = result.saved, result.save_error
            if result.save_error:
                log.error("job %s: %s", self.id, result.save_error)
            self._ended_at = time.perf_counter()
            self.status = result.status
        except MtlvizError as exc:
            self.error = str(exc)
            self.status = FAILED
        except Exception as exc:  # the job fails alone; the server keeps serving
            log.exception("training job %s failed", self.id)
            self.error = f"{type(exc).__name__}: {exc}"
            self.status = FAILED
        finally:
            self._ended_at = self._ended_at or time.perf_counter()
            self._slots.release(self.id)

    def _on_start(self, engine: Engine) -> None:
        self._engine = engine
        self.metadata = engine.metadata()

    def _on_chunk(self, chunk: pd.DataFrame, metadata: RunMetadata, step: int) -> None:
        self.log.append(chunk)
        self.metadata = metadata

    def _run_dir(self) -> Path:
        assert self._save_to is not None
        path = new_run_dir(self._save_to, run_title(self.config))
        if self._table_file is not None:
            keep_table(path, *self._table_file)
        return path


class JobRegistry:
    """The jobs of one browser session. The dashboard keeps one per session and
    stores only job ids in session state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}

    def submit(
        self,
        config: ExperimentConfig,
        slots: JobSlots = SLOTS,
        taskset: TaskSet | Callable[[int], TaskSet] | None = None,
        save_to: Path | None = None,
        pace: float | None = None,
        table_file: tuple[str, bytes] | None = None,
    ) -> TrainingJob:
        job = TrainingJob(config, slots, taskset, save_to, pace, table_file)
        with self._lock:
            self._jobs[job.id] = job
        return job.start()

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def active(self) -> list[TrainingJob]:
        with self._lock:
            return [job for job in self._jobs.values() if not job.ended]

    def stop_all(self) -> None:
        """Stop every job (the session went away): frees their slots, leaves no thread behind."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()
