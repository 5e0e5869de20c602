"""Training in a child process, so that one job's memory or device fault ends that job only.

The dashboard never trains in the server process. A job takes a warm worker (a
`python -m mtlviz.worker` process that has imported torch and trained a tiny run),
sends it one request, and reads its messages until it is done; the worker then
exits, and every byte the job allocated goes with it. A new spare is started
when a job ends (not while it trains, which would slow it), so the next Start
finds one ready.

    worker -> server: ("ready", calibration)  once warm
                      ("start", metadata)     the model is built
                      ("step", n)             progress, about 5 times a second
                      ("chunk", records, metadata, step)
                      ("done", status, step, seconds, metadata)
                      ("failed", message)
    server -> worker: a JobRequest, then "stop" when the job is asked to stop

A worker that ends without "done" (killed by the kernel for memory, a crash in a
device library) is reported by how it ended (WorkerEnded). Messages are pickled
over a pair of pipes; the worker is our own code, started by this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from mtlviz.config import ExperimentConfig

log = logging.getLogger(__name__)

# How often a training worker reports its step, in seconds.
STEP_EVERY = 0.2
# Shown when a worker ended by a signal; SIGKILL is what the kernel's out-of-memory killer sends.
SIGNAL_HINTS = {
    signal.SIGKILL: "was killed, most often by the system for lack of memory",
    signal.SIGSEGV: "crashed (a segmentation fault)",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "was terminated",
}


@dataclass(frozen=True)
class JobRequest:
    """What a worker trains: the config, and the table it reads when the tasks come from a
    table that is not a file on disk (an upload); every seed's split is prepared in the worker."""

    config: ExperimentConfig
    table: Any = None  # mtlviz.data.reader.Table, or None
    pace: float | None = None
    threads: int = 1
    memory_bytes: int | None = None  # what the job may allocate on top of the warm worker (CPU only)


class WorkerEnded(Exception):
    """The worker process ended without saying it was done."""

    def __init__(self, returncode: int | None):
        self.returncode = returncode
        super().__init__(describe_exit(returncode))


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the training process stopped answering"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the training process {SIGNAL_HINTS.get(number, 'ended')} ({name})"
    return f"the training process ended unexpectedly (exit status {returncode})"


class Worker:
    """The server's handle on one worker process."""

    def __init__(self) -> None:
        request_read, self._request_write = os.pipe()
        self._message_read, message_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mtlviz.worker", str(request_read), str(message_write)],
            pass_fds=(request_read, message_write),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the server is the server's to handle
        )
        os.close(request_read)
        os.close(message_write)
        self._outbox = Connection(self._request_write, readable=False)
        self._inbox = Connection(self._message_read, writable=False)
        self.calibration: Any = None
        self.ready = False
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the worker's "ready"; False if it did not come in time."""
        if self.ready:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is not None and message[0] == "ready":
                self.ready, self.calibration = True, message[1]
                return True
        return False

    def send(self, message: Any) -> None:
        with contextlib.suppress(OSError):  # the worker is gone: receive() says how it ended
            self._outbox.send(message)

    def receive(self, timeout: float) -> tuple | None:
        """The next message, or None when none came within `timeout`; WorkerEnded when the process is gone."""
        try:
            if not self._inbox.poll(timeout):
                return None
            return self._inbox.recv()
        except (EOFError, OSError):
            raise WorkerEnded(self._returncode()) from None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self._returncode()

    def close(self) -> None:
        self.kill()
        for connection in (self._outbox, self._inbox):
            connection.close()

    def _returncode(self) -> int | None:
        try:
            return self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return None


class WorkerPool:
    """Keeps one warm spare worker, so a job starts without paying for torch's import."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: Worker | None = None
        self.calibration: Any = None  # the latest worker's measured speed (mtlviz.budget.Calibration)

    def warm(self) -> None:
        """Start the spare now (at server start), if there is none."""
        with self._lock:
            if self._spare is None or not self._spare.alive():
                self._spare = Worker()

    def take(self) -> Worker:
        """The warm spare, or a fresh worker when there is none (the spare is replaced by `warm`
        once a job ends: warming one up costs seconds of CPU, which a training job would lose)."""
        with self._lock:
            worker = self._spare if self._spare is not None and self._spare.alive() else Worker()
            self._spare = None
        return worker

    def note_calibration(self, worker: Worker) -> None:
        if worker.calibration is not None:
            self.calibration = worker.calibration

    def shutdown(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()


# ---------------------------------------------------------------------------- the worker


class _Messages:
    """The worker's outbox; the trainer and the progress thread both send."""

    def __init__(self, connection: Connection):
        self._connection = connection
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        with self._lock:
            self._connection.send(message)


def _warm_up() -> Any:
    """Pay for torch's lazy set-up before a job arrives, and measure this machine's speed."""
    try:
        from mtlviz.budget import measure_calibration
        from mtlviz.presets import warm_up_config
        from mtlviz.run import run_experiment

        run_experiment(warm_up_config(), threads=1)
        return measure_calibration(threads=1)  # as jobs train
    except Exception:  # only a speed-up: the job itself reports its own errors
        log.exception("worker warm-up failed")
        return None


def _limit_memory(request: JobRequest) -> None:
    """On the CPU, cap the address space at what the process has now plus the job's budget, so an
    allocation past it fails as an out-of-memory error in this process instead of drawing on the server."""
    import resource

    import torch

    device = request.config.train.device
    if not request.memory_bytes or device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return  # CUDA reserves address space far beyond what it uses

    used = _address_space()
    if used is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = used + request.memory_bytes
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _taskset(request: JobRequest):
    if request.table is None:
        return None
    from mtlviz.data.table import build_table_taskset

    table, spec = request.table, request.config.tasks
    return lambda seed: build_table_taskset(table, spec, seed)[0]


def _train(request: JobRequest, inbox: Connection, messages: _Messages) -> None:
    from mtlviz.errors import MtlvizError
    from mtlviz.run import run_experiment

    stop = threading.Event()
    engine_holder: list[Any] = []

    def listen() -> None:  # "stop", or the server went away: either way, stop
        try:
            while inbox.recv() != "stop":
                pass
        except (EOFError, OSError):
            pass
        stop.set()

    def report() -> None:
        while not stop.wait(STEP_EVERY):
            if engine_holder:
                try:
                    messages.send("step", engine_holder[0].step)
                except (BrokenPipeError, ConnectionResetError):  # the server went away: the inbox thread stops it
                    return

    def started(engine: Any) -> None:
        engine_holder.append(engine)
        messages.send("start", engine.metadata())

    threading.Thread(target=listen, daemon=True, name="mtlviz-worker-inbox").start()
    threading.Thread(target=report, daemon=True, name="mtlviz-worker-progress").start()
    try:
        _limit_memory(request)
        result = run_experiment(
            request.config,
            _taskset(request),
            stop=stop,
            on_start=started,
            on_chunk=lambda chunk, metadata, step: messages.send("chunk", chunk, metadata, step),
            threads=request.threads,
            pace=request.pace,
        )
        messages.send("done", result.status, result.steps, result.seconds, result.metadata)
    except (BrokenPipeError, ConnectionResetError):  # the server went away mid-job: nobody to tell
        raise
    except MtlvizError as exc:
        messages.send("failed", str(exc))
    except MemoryError:
        messages.send("failed", _OUT_OF_MEMORY)
    except RuntimeError as exc:
        text = str(exc)
        out_of_memory = "can't allocate memory" in text or "not enough memory" in text
        messages.send("failed", _OUT_OF_MEMORY if out_of_memory else f"{type(exc).__name__}: {text}")
    except Exception as exc:
        log.exception("training failed")
        messages.send("failed", f"{type(exc).__name__}: {exc}")


_OUT_OF_MEMORY = (
    "out of memory: the run needed more than its share of this server's memory; "
    "try a smaller batch size, width or number of configurations"
)


def main(argv: list[str]) -> int:
    """`python -m mtlviz.worker REQUEST_FD MESSAGE_FD`: warm up, train one request, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when a job ends
    inbox = Connection(int(argv[0]), writable=False)
    messages = _Messages(Connection(int(argv[1]), readable=False))
    calibration = _warm_up()
    try:
        messages.send("ready", calibration)
        request = inbox.recv()
    except (EOFError, OSError):
        return 0  # the server shut down (or dropped this spare) before it had a job
    try:
        _train(request, inbox, messages)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the server went away mid-job
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="mtlviz worker %(process)d: %(levelname)s %(message)s")
    sys.exit(main(sys.argv[1:]))
