"""One user cannot take the server down: hostile inputs refused fast, an out-of-memory job ending alone.

Prints, on this machine:
1. a hostile upload (a 47 MB CSV of 47,000 rows x 499 one-letter text columns, and a
   1.8 MB Parquet file of 200,000 rows of one 10 KiB string) read and refused, with the
   seconds to refuse once the file is read and this process's peak memory;
2. oversized experiments (64 models at width 1,024, depth 8, batch 4,096, 8 tasks with
   MMoE; 64 models for 100,000 steps) refused, with the seconds to estimate and refuse;
3. two sessions training at once through the dashboard's job registry: one job runs
   out of memory in its worker (its memory budget is set below what it needs, and a
   second one's worker is killed with SIGKILL as the kernel's out-of-memory killer
   would), while the other session's run trains on to the end; the server process's
   memory before and after.

    python benchmarks/server_limits.py
"""

from __future__ import annotations

import io
import os
import resource
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mtlviz.budget import Limits, check_run, estimate_run
from mtlviz.config import (
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    TrainConfig,
)
from mtlviz.data.reader import read_table
from mtlviz.data.table import build_table_taskset
from mtlviz.errors import BudgetError, MtlvizError
from mtlviz.jobs import JobRegistry, JobSlots


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hostile_csv() -> bytes:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    columns = {f"c{i}": letters[rng.integers(0, 26, 47_000)] for i in range(499)}
    columns["y"] = rng.normal(size=47_000).round(4)
    buffer = io.StringIO()
    pd.DataFrame(columns).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def hostile_parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Built as a dictionary column directly: the 2 GB of decoded strings never exist in this process.
    strings = pa.DictionaryArray.from_arrays(pa.array(np.zeros(200_000, dtype=np.int32)), pa.array(["x" * 10 * 1024]))
    table = pa.table({"s": strings, "y": np.arange(200_000, dtype=float)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, use_dictionary=True, compression="zstd")
    return buffer.getvalue()


def refuse_table(name: str, data: bytes, features: list[str] | None) -> None:
    """Read the file and prepare it as the dashboard does; a refusal may come from either step."""
    spec = TableTasks(path=name, targets=(TaskSpec("y", "regression"),), features=tuple(features or ()))
    start = time.perf_counter()
    read = refuse = None
    try:
        table = read_table(data, name)
        read = time.perf_counter() - start
        start = time.perf_counter()
        build_table_taskset(table, spec, 0)
        outcome = "ACCEPTED"
    except BudgetError as exc:
        outcome = f"refused: {exc}"
    except MtlvizError as exc:
        outcome = f"refused (other error): {exc}"
    refuse = time.perf_counter() - start
    when = (
        f"read in {read:.2f} s; refused {refuse:.3f} s after reading"
        if read is not None
        else (f"refused while reading, after {refuse:.3f} s")
    )
    print(f"  {name}: {len(data) / 1e6:.1f} MB, {when}")
    print(f"    peak memory of this process so far: {peak_mb():,.0f} MB")
    print(f"    {outcome[:400]}")


def refuse_config(what: str, config: ExperimentConfig) -> None:
    start = time.perf_counter()
    try:
        check_run(config, estimate_run(config), Limits.for_server())
        outcome = "ACCEPTED"
    except BudgetError as exc:
        outcome = f"refused: {exc}"
    seconds = time.perf_counter() - start
    print(f"  {what}: estimated and decided in {seconds:.3f} s")
    print(f"    {outcome[:500]}")


def oversized() -> list[tuple[str, ExperimentConfig]]:
    wide = ExperimentConfig(
        tasks=SyntheticTasks(input_dim=256, targets=tuple(TaskSpec(f"t{i}") for i in range(8))),
        model=ModelConfig(sharing="mmoe", hidden=1024, depth=8),
        optimizers=tuple(OptimizerConfig("adam", 0.001, label=f"Adam {i}") for i in range(8)),
        train=TrainConfig(steps=1000, batch_size=4096, seeds=8),
    )
    long = ExperimentConfig(
        optimizers=tuple(OptimizerConfig("sgd", 0.01, label=f"SGD {i}") for i in range(8)),
        train=TrainConfig(steps=100_000, seeds=8, eval_every=10),
    )
    return [("64 MMoE models, width 1,024, depth 8, batch 4,096, 8 tasks", wide), ("64 models, 100,000 steps", long)]


def isolation() -> None:
    greedy_config = ExperimentConfig(
        tasks=SyntheticTasks(input_dim=256),
        model=ModelConfig(hidden=1024, depth=8),
        optimizers=tuple(OptimizerConfig("adam", 0.001, label=f"Adam {i}") for i in range(8)),
        train=TrainConfig(steps=10, batch_size=2048, eval_every=5),
    )
    steady_config = ExperimentConfig(train=TrainConfig(steps=2000, eval_every=50))
    slots = JobSlots(3)
    before = rss_mb()
    steady = JobRegistry().submit(steady_config, slots, client="10.0.0.2")
    # The estimate would refuse this run; a budget below its need shows what happens when an estimate is wrong.
    greedy = JobRegistry().submit(greedy_config, slots, client="10.0.0.1", limits=Limits(300 * 2**20, None))
    killed = JobRegistry().submit(ExperimentConfig(train=TrainConfig(steps=100_000)), slots, client="10.0.0.3")
    while killed.progress().step < 50:
        time.sleep(0.05)
    os.kill(killed.worker_pid, signal.SIGKILL)
    for job in (greedy, killed, steady):
        job.join(600)
    after = rss_mb()
    print(f"  a job over its memory budget: {greedy.status}: {greedy.error}")
    print(f"  a job whose worker was killed: {killed.status} at step {killed.progress().step}: {killed.error}")
    progress = steady.progress()
    print(
        f"  the other session's run: {steady.status}, {progress.step:,} of {progress.total:,} steps, "
        f"{progress.steps_per_second:,.0f} steps/s"
    )
    print(f"  server process memory: {before:,.0f} MB before, {after:,.0f} MB after (its workers are other processes)")


def main() -> None:
    print("Hostile uploads")
    refuse_table("wide.csv", hostile_csv(), None)
    refuse_table("long-strings.parquet", hostile_parquet(), ["s"])
    print("Oversized experiments (server budget: MTLVIZ_JOB_MEMORY_MB / MTLVIZ_JOB_SECONDS or their defaults)")
    start = time.perf_counter()
    estimate_run(ExperimentConfig())  # the server pays this first-estimate cost at start-up (its warm-up)
    print(f"  first estimate in this process (torch's tracing set-up): {time.perf_counter() - start:.2f} s")
    for what, config in oversized():
        refuse_config(what, config)
    print("Isolation")
    isolation()


if __name__ == "__main__":
    main()
