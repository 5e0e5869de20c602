"""Background training jobs: a thread per job, a stop event, a metric buffer, a status.

A job's thread trains in a worker process of its own (mtlviz/worker.py), so an
out-of-memory kill or a device fault ends that job only and the server never
holds a job's tensors; it appends the worker's record chunks to the job's
MetricLog, which readers (the dashboard's fragment) take snapshots of, and
saves the run when it ends. `isolated=False` trains in the thread itself (tests
that patch the engine). The thread never touches the UI.

Limits, each with a message that says what was hit:
- JobSlots caps how many jobs train at once (MTLVIZ_MAX_JOBS); the rest wait in a
  first-come queue and report their position.
- ClientJobs caps the jobs one person (one address) has training or waiting
  (MTLVIZ_JOBS_PER_CLIENT), so one person cannot hold every slot.
- A job that runs past its time budget (mtlviz.budget.Limits.seconds) is stopped
  and saved; Stop ends a job within STOP_GRACE seconds, killing its worker if need be.
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

from mtlviz.budget import Limits, format_duration
from mtlviz.config import ExperimentConfig
from mtlviz.data.taskset import TaskSet
from mtlviz.engine import Engine
from mtlviz.errors import BudgetError, MtlvizError
from mtlviz.records import MetricLog, RunMetadata
from mtlviz.run import RunResult, finish_run, run_experiment
from mtlviz.store import keep_table, new_run_dir, run_title
from mtlviz.worker import JobRequest, WorkerEnded, WorkerPool

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


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{name} must be {kind}, found {raw!r}")
    return value


def _capacity() -> int:
    """Concurrent training jobs per server: MTLVIZ_MAX_JOBS, default 4."""
    return _env_int("MTLVIZ_MAX_JOBS", 4, 1)


def _per_client(capacity: int) -> int:
    """Jobs one person may have training or waiting: MTLVIZ_JOBS_PER_CLIENT, default half the slots
    (at least 1); 0 turns the cap off (a class behind one shared address)."""
    return _env_int("MTLVIZ_JOBS_PER_CLIENT", max(1, capacity // 2), 0)


class ClientJobs:
    """How many jobs each person (a client address) has training or waiting, with a cap."""

    def __init__(self, cap: int):
        self.cap = cap
        self._lock = threading.Lock()
        self._jobs: dict[str, set[str]] = {}

    def claim(self, client: str | None, job_id: str) -> None:
        """Count `job_id` for `client`, or raise BudgetError when they are at the cap."""
        if client is None or self.cap == 0:
            return
        with self._lock:
            held = self._jobs.setdefault(client, set())
            if len(held) >= self.cap:
                raise BudgetError(
                    f"you already have {len(held)} run{'s' if len(held) != 1 else ''} training or waiting "
                    f"(at most {self.cap} per person on this server): stop one, or wait for one to end"
                )
            held.add(job_id)

    def release(self, client: str | None, job_id: str) -> None:
        if client is None:
            return
        with self._lock:
            held = self._jobs.get(client, set())
            held.discard(job_id)
            if not held:
                self._jobs.pop(client, None)


# Shared by every session of the server: the cap is on the machine, not on a user.
SLOTS = JobSlots(capacity=_capacity())
CLIENTS = ClientJobs(cap=_per_client(SLOTS.capacity))
WORKERS = WorkerPool()
# After Stop, how long a worker has to end by itself before it is killed (its records so far are kept).
STOP_GRACE = 1.5
# How long a job waits for a fresh worker to import torch and warm up.
WORKER_START_TIMEOUT = 120.0


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
    """One experiment trained in the background: in a worker process of its own, watched by a thread."""

    def __init__(
        self,
        config: ExperimentConfig,
        slots: JobSlots = SLOTS,
        taskset: TaskSet | Callable[[int], TaskSet] | None = None,
        save_to: Path | None = None,
        pace: float | None = None,
        table_file: tuple[str, bytes] | None = None,
        *,
        table: object | None = None,
        isolated: bool = True,
        limits: Limits | None = None,
        pool: WorkerPool | None = None,
        on_end: Callable[[TrainingJob], None] | None = None,
    ):
        """`taskset`, when given, is the already prepared data (e.g. an uploaded table),
        or a function seed -> TaskSet: it trains in this process (`isolated` is ignored).
        `table`: an uploaded table (mtlviz.data.reader.Table) a worker prepares for every seed.
        `save_to`: a runs directory to keep the run in once it finished or was stopped
        (None: not saved). `pace`: at most this many steps per second (None or 0: full
        speed); the records are the same at any pace. `limits`: the job's memory and time
        budget (None: none). `on_end` is called once the job ended and was saved."""
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.pace = pace or None
        self._taskset = taskset
        self._table = table
        self._save_to = save_to
        # An uploaded table's (file name, bytes): kept with the saved run, so `rerun` trains it again.
        self._table_file = table_file
        self.isolated = isolated and taskset is None
        self.limits = limits or Limits(memory_bytes=None, seconds=None)
        self._pool = pool or WORKERS
        self._on_end = on_end
        self.saved: Path | None = None  # the run's directory once saved
        self.save_error = ""
        self.log = MetricLog()
        self.status = QUEUED
        self.error = ""
        # Why the server (not the person) stopped the job, e.g. its time budget ran out.
        self.stop_reason = ""
        # The engine's facts about the run (rows, divergences, shared parameters, device):
        # None until the model is built, then replaced by a fresh snapshot with every chunk.
        self.metadata: RunMetadata | None = None
        self._slots = slots
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"mtlviz-job-{self.id}", daemon=True)
        self._engine: Engine | None = None
        self._step = 0  # the worker's last reported step
        self._recorded = threading.Event()  # set by the first record chunk
        self.worker_pid: int | None = None  # the process training it, once it has one
        self._started_at: float | None = None
        self._ended_at: float | None = None

    # ----------------------------------------------------------------- control

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self, reason: str = "") -> None:
        """Ask the job to stop; harmless when it already ended or was asked before.
        `reason`: why the server stopped it, shown to the person (empty: they pressed Stop)."""
        if reason and not self._stop.is_set() and not self.ended:
            self.stop_reason = reason
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
        step = self._engine.step if self._engine is not None else self._step  # an int read: no lock needed
        elapsed = (self._ended_at or time.perf_counter()) - self._started_at
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (total - step) / rate if rate > 0 and not self.ended else None
        return Progress(step, total, elapsed, rate, eta)

    @property
    def saved_to(self) -> Path | None:
        """The runs folder the run is saved into (None: not saved)."""
        return self._save_to

    def release_records(self) -> None:
        """Drop the records from memory (the run is on disk, or nobody will look at it again)."""
        self.log = MetricLog()

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        if not self._slots.acquire(self.id, self._stop):
            self.status = STOPPED
            self._ended()
            return
        try:
            self.status = RUNNING
            self._started_at = time.perf_counter()
            result = self._train_in_worker() if self.isolated else self._train_here()
            if result is not None:
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
            self._ended()

    def _ended(self) -> None:
        if self._on_end is not None:
            try:
                self._on_end(self)
            except Exception:
                log.exception("job %s: end hook failed", self.id)

    def _train_here(self) -> RunResult:
        timer = None
        if self.limits.seconds is not None:
            timer = threading.Timer(self.limits.seconds, lambda: self.stop(self._time_budget_reason()))
            timer.daemon = True
            timer.start()
        try:
            return run_experiment(
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
        finally:
            if timer is not None:
                timer.cancel()

    def _time_budget_reason(self) -> str:
        return f"it reached this server's time budget of {format_duration(self.limits.seconds or 0)} per run"

    def _train_in_worker(self) -> RunResult | None:
        """Train in a worker process; the result, or None when the job failed (self.error says why)."""
        worker = self._pool.take()
        self.worker_pid = worker.pid
        try:
            if not worker.wait_ready(WORKER_START_TIMEOUT):
                raise WorkerEnded(None if worker.alive() else worker.process.returncode)
            self._pool.note_calibration(worker)
            worker.send(
                JobRequest(self.config, self._table, self.pace, threads=1, memory_bytes=self.limits.memory_bytes)
            )
            self._started_at = time.perf_counter()  # training time, not the wait for a worker
            return self._follow(worker)
        except WorkerEnded as ended:
            if self._stop.is_set():
                return self._finish(STOPPED, self._step, None)
            self.error = f"{ended}. The run so far is shown but was not saved."
            self.status = FAILED
            return None
        finally:
            worker.close()
            self._pool.warm()  # for the next job, now that this one no longer needs the CPU

    def _follow(self, worker) -> RunResult | None:
        """Read the worker's messages until it is done; stop it (and if need be kill it) when asked."""
        asked_at: float | None = None
        deadline = None if self.limits.seconds is None else self._started_at + self.limits.seconds
        while True:
            now = time.perf_counter()
            if deadline is not None and now > deadline and not self._stop.is_set():
                self.stop(self._time_budget_reason())
            if self._stop.is_set():
                if asked_at is None:
                    worker.send("stop")
                    asked_at = now
                elif now - asked_at > STOP_GRACE:  # a long step: end it here, keep what was recorded
                    worker.kill()
                    return self._finish(STOPPED, self._step, None)
            message = worker.receive(0.1)
            if message is None:
                continue
            kind = message[0]
            if kind == "start":
                self.metadata = message[1]
            elif kind == "step":
                self._step = message[1]
            elif kind == "chunk":
                _, chunk, metadata, step = message
                self._on_chunk(chunk, metadata, step)
                self._step = max(self._step, step)
            elif kind == "done":
                _, status, step, seconds, metadata = message
                self.metadata = metadata
                self._step = step
                return self._finish(status, step, seconds)
            elif kind == "failed":
                self.error = message[1]
                self.status = FAILED
                return None

    def _finish(self, status: str, step: int, seconds: float | None) -> RunResult | None:
        """Summarise and save the records that came from the worker (None: stopped before the model was built)."""
        if self.metadata is None:
            self.status = STOPPED
            return None
        if seconds is None:
            seconds = time.perf_counter() - (self._started_at or time.perf_counter())
        save_to = self._run_dir if self._save_to is not None else None
        return finish_run(self.config, status, step, seconds, self.log.frame(), self.metadata, save_to)

    def _on_start(self, engine: Engine) -> None:
        self._engine = engine
        self.metadata = engine.metadata()

    def _on_chunk(self, chunk: pd.DataFrame, metadata: RunMetadata, step: int) -> None:
        self.log.append(chunk)
        self.metadata = metadata
        self._recorded.set()

    def wait_for_records(self, timeout: float) -> bool:
        """Wait until the job has its first records (or ended); False if it had none within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._recorded.wait(0.02):
            if self.ended or time.monotonic() > deadline:
                return False
        return True

    def _run_dir(self) -> Path:
        assert self._save_to is not None
        path = new_run_dir(self._save_to, run_title(self.config))
        if self._table_file is not None:
            keep_table(path, *self._table_file)
        return path


class JobRegistry:
    """The jobs of one browser session. The dashboard keeps one per session and
    stores only job ids in session state."""

    def __init__(self, clients: ClientJobs = CLIENTS) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._clients = clients

    def submit(
        self,
        config: ExperimentConfig,
        slots: JobSlots = SLOTS,
        taskset: TaskSet | Callable[[int], TaskSet] | None = None,
        save_to: Path | None = None,
        pace: float | None = None,
        table_file: tuple[str, bytes] | None = None,
        client: str | None = None,
        **options,
    ) -> TrainingJob:
        """Start a job; BudgetError when its person (`client`, an address; None: unknown, no cap)
        is at their cap. (The page starts one job at a time.)

        Ended jobs are forgotten (their records leave memory): a session shows its latest run,
        and every ended run that could be saved is on disk."""
        clients = self._clients
        job = TrainingJob(
            config, slots, taskset, save_to, pace, table_file, on_end=lambda j: clients.release(client, j.id), **options
        )
        clients.claim(client, job.id)
        with self._lock:
            for old in [old for old in self._jobs.values() if old.ended]:
                old.release_records()
                del self._jobs[old.id]
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
