"""Budget: what a run will need, estimated before anything is built, and the refusal above a budget.

An experiment within the config's limits can still be far too big for the
machine: 64 models of width 1,024 and depth 8 with mixture-of-experts sharing
hold 7.85 B parameters, and a tiny model trained for 100,000 steps writes
gigabytes of records. `estimate_run` says what a run will need (memory for
weights, gradients, optimizer state, activations, data and records; FLOPs per
step) without allocating it: it builds the model the engine would build on
torch's meta device (shapes only, no memory) and runs one training step there,
counting the tensors autograd keeps for the backward pass and the FLOPs of
every matmul. `check_run` compares the estimate with a budget (`Limits`) and
raises one BudgetError that names every problem, the estimate, the budget and
what to change.

Torch-free at import: torch is loaded only by the functions that need it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mtlviz.config import CLIP, WARMUP, ExperimentConfig, TableTasks, TaskSpec, TrainConfig
from mtlviz.errors import BudgetError
from mtlviz.methods import METHODS
from mtlviz.models.registry import SHARING
from mtlviz.optim import OPTIMIZERS
from mtlviz.records import CHUNK_STEPS, LAYER_METRICS, PAIR_SEPARATOR, RecordSchema

MB = 1 << 20  # the unit of MTLVIZ_JOB_MEMORY_MB
SERVER_MEMORY_CAP = 4096 * MB  # the per-job default never exceeds this, however large the server
SERVER_SECONDS = 900.0  # MTLVIZ_JOB_SECONDS' default: 15 minutes per job
SERVER_ROWS = 256  # MTLVIZ_MAX_ROWS' default: models side by side in one dashboard job
MACHINE_SHARE = 0.8  # the CLI may use this share of the machine's memory; the OS and other programs keep the rest

# Parameter-sized state tensors each optimizer keeps per parameter, from its options (defaults filled in).
# This is knowledge of the optimizer and belongs on its spec, as
# `OptimizerSpec.state_slots: Callable[[dict[str, Any]], int]`; until it moves there it lives here.
UNKNOWN_SLOTS = 3  # an optimizer missing from the table: assume the most any of them keeps
# Non-fused (foreach) optimizers allocate temporaries of one row's parameters while they step.
FOREACH_TEMPORARIES = 2

# The records live twice at the end of a run: its chunks and their concatenation (mtlviz/run.py).
RECORD_COPIES = 2
# Records may take at most this share of a job's memory budget: besides the copies above, a server
# keeps every job's records in its own process (the job's MetricLog), outside the job's budget.
RECORD_SHARE = 0.25
# Each row records either the closed-form step-size metrics or the measured ones, never both
# (mtlviz/engine/statistics.py): so a row has this many finite statistics per layer.
STATISTICS_PER_LAYER = len(LAYER_METRICS) - 3

# A layer-statistics step holds the parameters before the step, the change, the per-element step
# sizes and their stacked copy: about this many extra copies of all parameters.
STATISTICS_COPIES = 4
# Memory freed and allocated again every step (activations, per-task gradients, statistics) comes
# back in blocks of other sizes, and the allocator keeps what it cannot reuse (glibc keeps blocks
# under 32 MB in its heap). With this slack the estimate was 0.86-1.59x the peak memory real CPU
# runs added to their process (benchmarks/budget.py); without it, down to 0.75x.
ALLOCATOR_SLACK = 0.5
# Element-wise work per parameter element and step (gradient copy, optimizer update, zeroing),
# counted as FLOPs so one speed covers it; a statistics step reads every parameter a few times more.
ELEMENTWISE_FLOPS = 20
STATISTICS_FLOPS = 40
# Validation runs without autograd, in chunks of rows (mtlviz/engine/trainer.py EVAL_ELEMENTS): a
# chunk's forward holds about this many of its largest activations at once (a layer's input and output).
EVAL_LIVE = 3


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """What one run may use: memory in bytes and wall-clock seconds (None: no limit)."""

    memory_bytes: int | None  # per job; None: no limit
    seconds: float | None  # per job wall-clock; None: no limit
    rows: int | None = None  # models side by side per job, an operator's cap; None: memory and time decide

    @classmethod
    def for_server(cls) -> Limits:
        """The dashboard's per-job budget: MTLVIZ_JOB_MEMORY_MB (default a quarter of the machine's
        memory, at most 4,096 MB), MTLVIZ_JOB_SECONDS (default 900) and MTLVIZ_MAX_ROWS (models side
        by side, default 256); 0 turns a limit off."""
        default_memory = min(physical_memory() // 4, SERVER_MEMORY_CAP)
        memory = _env_number("MTLVIZ_JOB_MEMORY_MB", default_memory / MB)
        seconds = _env_number("MTLVIZ_JOB_SECONDS", SERVER_SECONDS)
        rows = _env_number("MTLVIZ_MAX_ROWS", SERVER_ROWS)
        return cls(None if memory is None else int(memory * MB), seconds, None if rows is None else int(rows))

    @classmethod
    def for_machine(cls, device: str = "cpu") -> Limits:
        """The CLI's budget: 80% of this machine's memory (of the GPU's when `device` resolves to
        CUDA), no time limit."""
        memory = physical_memory()
        if device != "cpu":
            memory = _gpu_memory(device) or memory
        return cls(int(memory * MACHINE_SHARE), None)


def _env_number(name: str, default: float) -> float | None:
    """A positive number from the environment; 0 means no limit (None)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a positive number (0: no limit), found {raw!r}")
    return None if value == 0 else value


def physical_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as file:
                text = file.read().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) means no limit; v1 writes a huge number instead
            total = min(total, int(text))
    return total


def _gpu_memory(device: str) -> int | None:
    """Total memory of the GPU that train.device `device` ("auto" or "cuda") resolves to; None when
    there is none ("cuda" without one is the engine's to refuse, with its own message)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory


# --------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class Estimate:
    """What a run will need. Byte counts are peaks of what is alive at once, by what holds them."""

    parameters: int  # total over all rows (counted on torch's meta device: exact, no memory)
    shared_parameters: int  # per row: parameters that several tasks train
    parameter_bytes: int  # weights, the gradient buffer, and the backward's gradients copied into it
    optimizer_state_bytes: int  # every row's optimizer state, plus a non-fused optimizer's temporaries
    activation_bytes: int  # what autograd keeps for the backward (all rows), and the backward's working set
    record_bytes: int  # the records the run produces, in pandas memory
    table_bytes: int = 0  # the data: train and validation tensors of every seed
    flops_per_step: float = 0.0  # forward and backward of all rows, with evaluation and updates averaged in
    # Beyond the above on the heaviest step: per-task gradients (conflict steps, per-task methods)
    # and the parameter copies of a statistics step.
    workspace_bytes: int = 0
    rows: int = 0  # models trained side by side
    records: int = 0  # record rows
    record_layout: RecordLayout | None = None  # what the records are made of, for other settings

    @property
    def total_bytes(self) -> int:
        """The peak the process grows by: everything above held at once, with the allocator's slack."""
        transient = self.activation_bytes + self.workspace_bytes
        return (
            self.parameter_bytes
            + self.optimizer_state_bytes
            + math.ceil(transient * (1 + ALLOCATOR_SLACK))
            + self.table_bytes
            + RECORD_COPIES * self.record_bytes
        )

    @property
    def model_bytes(self) -> int:
        """Weights, gradients and optimizer state."""
        return self.parameter_bytes + self.optimizer_state_bytes

    def describe(self) -> str:
        """One line, e.g. "7.85 B parameters, 94 GB for weights, gradients and optimizer state, ..."."""
        parts = [
            f"{format_count(self.parameters)} parameters",
            f"{format_bytes(self.model_bytes)} for weights, gradients and optimizer state",
            f"{format_bytes(self.activation_bytes)} of activations",
        ]
        if self.workspace_bytes:
            parts.append(f"{format_bytes(self.workspace_bytes)} for per-task gradients and statistics")
        if self.table_bytes:
            parts.append(f"{format_bytes(self.table_bytes)} of data")
        parts.append(f"{format_bytes(self.record_bytes)} of records")
        return ", ".join(parts)


def estimate_run(
    config: ExperimentConfig,
    *,
    input_dim: int | None = None,
    output_dims: Sequence[int] | None = None,
    train_rows: int | None = None,
) -> Estimate:
    """What `config` will need, without building or training anything real.

    Synthetic and Toy 2D tasks take their sizes from the config. A table's are
    known only once it is prepared: pass its input width, each target's output
    width (1 for regression, the number of classes otherwise) and its number
    of training rows.
    """
    import torch

    tasks, input_dim, n_train, n_val = _shapes(config, input_dim, output_dims, train_rows)
    train = config.train
    rows = len(config.runs) * train.seeds  # all of them in one stacked model (mtlviz/rows.py expand_rows)
    batch = min(train.batch_size, max(1, n_train))  # BatchSampler's: a batch never exceeds the split
    with torch.device("meta"):
        step = _meta_step(config, tasks, input_dim, rows, batch)
    element = step.element_size
    per_row = step.parameters
    total = per_row * rows

    parameter_bytes = 3 * total * element
    # Every row's optimizer also trains the learned task weights when some method learns them.
    trained = per_row + (len(tasks) if any(METHODS[m.name].learns_weights for m in config.methods) else 0)
    trials = config.search.trials if config.search is not None else 0
    slots = sum(
        _state_slots(opt.name, _largest_options(opt)) * opt.trial_count(config.search_method, trials)
        for opt in config.optimizers
    )
    state = slots * len(config.methods) * train.seeds * trained * element
    if any(not OPTIMIZERS[opt.name].fused for opt in config.optimizers if opt.name in OPTIMIZERS):
        state += FOREACH_TEMPORARIES * trained * element

    per_task = any(METHODS[m.name].per_task_gradients for m in config.methods)
    conflict = bool(step.shared) and (train.conflict_every > 0 or per_task)
    workspace = 0
    if conflict:
        # task_gradients keeps every task's gradient on the shared parameters twice (a list and
        # their stack) and one task's full gradients while it adds them up.
        task_grads = len(tasks) * step.shared * rows * element
        workspace = 2 * task_grads + total * element + (task_grads if per_task else 0)
    if train.stats_every > 0:
        # The statistics come after the update, while the step's per-task gradients are still held.
        held = (len(tasks) * step.shared * rows * element) if conflict else 0
        workspace = max(workspace, held + STATISTICS_COPIES * total * element)

    eval_rows = min(n_val, _eval_chunk(config, input_dim, rows, len(tasks)))
    eval_bytes = EVAL_LIVE * step.largest_activation * eval_rows // max(1, batch)
    activation_bytes = max(step.activation_bytes + 2 * step.largest_activation, eval_bytes)

    table = _table_bytes(config, input_dim, len(tasks), n_train + n_val)
    layout = _record_layout(config, tasks, rows, step)

    # FLOPs of a step, averaged over the run: the backward runs once per task on conflict steps.
    conflict_share = 1.0 if per_task else (1.0 / train.conflict_every if conflict else 0.0)
    backward = step.backward_flops * (1 + (len(tasks) - 1) * conflict_share)
    evaluation = step.forward_flops * n_val / max(1, batch) / train.eval_every
    elementwise = ELEMENTWISE_FLOPS * total
    if train.stats_every > 0:
        elementwise += STATISTICS_FLOPS * total / train.stats_every
    flops = step.forward_flops + backward + evaluation + elementwise

    return Estimate(
        parameters=total,
        shared_parameters=step.shared,
        parameter_bytes=parameter_bytes,
        optimizer_state_bytes=state,
        activation_bytes=activation_bytes,
        record_bytes=layout.bytes(train),
        table_bytes=table,
        flops_per_step=float(flops),
        workspace_bytes=workspace,
        rows=rows,
        records=layout.count(train),
        record_layout=layout,
    )


def _largest_options(opt: Any) -> dict[str, Any]:
    """A configuration's options with each searched option at its largest value: momentum searched
    from 0 keeps a momentum buffer in the trials above 0 (an upper bound on state for every trial)."""
    options = dict(opt.options)
    for knob, space in opt.search:
        bounds = space.bounds
        if knob in OPTIMIZERS[opt.name].options and bounds is not None:
            options[knob] = bounds[1]
    return options


def _state_slots(name: str, options: dict[str, Any]) -> int:
    spec = OPTIMIZERS.get(name)
    if spec is None:
        return UNKNOWN_SLOTS
    return spec.state_slots(spec.resolved(options))


def _shapes(
    config: ExperimentConfig, input_dim: int | None, output_dims: Sequence[int] | None, train_rows: int | None
) -> tuple[tuple[TaskSpec, ...], int, int, int]:
    """(tasks with their output sizes, input width, training rows, validation rows)."""
    source = config.tasks
    if isinstance(source, TableTasks):
        if input_dim is None or output_dims is None or train_rows is None:
            raise ValueError(
                "a table's sizes are known only once it is prepared: expected input_dim, output_dims and "
                f"train_rows, found input_dim={input_dim}, output_dims={output_dims}, train_rows={train_rows}"
            )
        if len(output_dims) != len(source.targets):
            raise ValueError(
                f"expected one output size per target ({len(source.targets)}), found {len(output_dims)}: "
                f"{list(output_dims)}"
            )
        tasks = tuple(
            TaskSpec(t.name, "regression" if dim == 1 else "classification", max(2, dim), t.loss_scale, t.weight)
            for t, dim in zip(source.targets, output_dims)
        )
        n_val = math.ceil(train_rows * source.val_fraction / (1 - source.val_fraction))
        return tasks, input_dim, train_rows, n_val
    tasks = tuple(source.targets)
    samples = getattr(source, "num_samples", None)
    if samples is None:  # no data (Toy 2D): the engine's one placeholder row
        return tasks, input_dim or 1, 1, 1
    n_val = round(samples * source.val_fraction)
    return tasks, input_dim or source.input_dim, train_rows or samples - n_val, n_val


@dataclass(frozen=True)
class _MetaStep:
    """What one training step of the stacked model does, measured on the meta device."""

    parameters: int  # per row
    shared: int  # per row
    element_size: int
    layers: tuple[str, ...]  # parameter names, the layer column of statistics
    trajectory: tuple[str, ...]
    closed_form: bool  # losses are a formula of the parameters: no validation metric
    activation_bytes: int  # saved for the backward, all rows
    largest_activation: int
    forward_flops: float
    backward_flops: float


def _meta_step(config: ExperimentConfig, tasks: tuple[TaskSpec, ...], input_dim: int, rows: int, batch: int):
    """Build the engine's model for `rows` rows on the (current, meta) device and run one step."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mtlviz.data.sources import build_task_model
    from mtlviz.data.taskset import TaskSet
    from mtlviz.engine.losses import task_losses

    t = len(tasks)
    # Only the sizes matter: the tasks and the input width (mtlviz/data/sources.py build_task_model).
    shape = TaskSet(
        tasks, torch.empty(batch, input_dim), torch.empty(batch, t), torch.empty(1, input_dim), torch.empty(1, t)
    )
    model = build_task_model(config, shape, rows, config.train.seed)
    params = list(model.parameters())
    names = [name for name, _ in model.named_parameters()]
    shared_names = set(model.shared_parameter_names())
    weights = {p.untyped_storage()._cdata for p in params}
    saved: dict[int, tuple[int, Any]] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage._cdata] = (storage.nbytes(), tensor)  # holding it keeps its id unique
        return tensor

    # Several seeds give every row its own batch (Engine.next_batch).
    x = torch.empty(rows, batch, input_dim) if config.train.seeds > 1 else torch.empty(batch, input_dim)
    y = torch.zeros(*x.shape[:-1], t)
    with FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            losses = model.closed_form_losses()
            closed_form = losses is not None
            if losses is None:
                losses = task_losses(model(x), y, tasks)
            objective = losses.sum() + model.penalty().sum()
        forward = counter.get_total_flops()
        torch.autograd.grad(objective, params, allow_unused=True, materialize_grads=True)
        backward = counter.get_total_flops() - forward
    activations = [size for key, (size, _) in saved.items() if key not in weights]
    return _MetaStep(
        parameters=sum(p[0].numel() for p in params),
        shared=sum(p[0].numel() for name, p in zip(names, params) if name in shared_names),
        element_size=params[0].element_size(),
        layers=tuple(names),
        trajectory=tuple(model.trajectory_names),
        closed_form=closed_form,
        activation_bytes=sum(activations),
        largest_activation=max(activations, default=0),
        forward_flops=float(forward),
        backward_flops=float(backward),
    )


def _eval_chunk(config: ExperimentConfig, input_dim: int, rows: int, tasks: int) -> int:
    from mtlviz.engine.trainer import EVAL_ELEMENTS

    width = max(config.model.hidden, input_dim) * rows * max(1, tasks)
    return max(256, EVAL_ELEMENTS // width)


def _table_bytes(config: ExperimentConfig, input_dim: int, tasks: int, samples: int) -> int:
    """Each seed's split (float32 x and y); several seeds are also stacked into one copy (Engine._load_data),
    and a source draws or parses one seed's data in float64 first."""
    seeds = config.train.seeds
    one = samples * (input_dim + tasks) * 4
    return one * seeds * (2 if seeds > 1 else 1) + 2 * one


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordLayout:
    """How many record rows a run writes per row and event, and what a record row costs in pandas."""

    rows: int  # models side by side
    per_step: int  # every step: train losses (and a point's position and task weights)
    per_statistics: int  # every stats_every steps: layer statistics and task weights
    per_conflict: int  # every conflict_every steps: task gradient norms, cosines, conflict share
    per_evaluation: int  # at step 0, every eval_every steps and the last step: validation metrics, cost
    fixed_bytes: float  # an empty table of this run's schema (its categories)
    bytes_per_record: float
    per_chunk: int = 0  # at every host copy (CHUNK_STEPS steps, and evaluations): the share of steps clipped
    at_end: int = 0  # once, after training: the test split's metrics

    def count(self, train: TrainConfig) -> int:
        """Record rows for these training settings when no row diverges (an upper bound otherwise)."""
        return self.count_for(train.steps, *(getattr(train, name) for name in _INTERVALS))

    def bytes(self, train: TrainConfig) -> int:
        return self.bytes_for(train.steps, *(getattr(train, name) for name in _INTERVALS))

    def count_for(self, steps: int, stats_every: int, conflict_every: int, eval_every: int) -> int:
        statistics = steps // stats_every if stats_every else 0
        conflicts = steps // conflict_every if conflict_every else 0
        evaluations = 1 + steps // eval_every + (1 if steps % eval_every else 0)
        chunks = math.ceil(steps / CHUNK_STEPS) + evaluations  # at most: a chunk ends early at an evaluation
        per_row = (
            steps * self.per_step
            + statistics * self.per_statistics
            + conflicts * self.per_conflict
            + evaluations * self.per_evaluation
            + chunks * self.per_chunk
            + self.at_end
        )
        return self.rows * per_row

    def bytes_for(self, steps: int, stats_every: int, conflict_every: int, eval_every: int) -> int:
        count = self.count_for(steps, stats_every, conflict_every, eval_every)
        return math.ceil(self.fixed_bytes + self.bytes_per_record * count)


# The TrainConfig fields that say how often records are written (besides every step).
_INTERVALS = ("stats_every", "conflict_every", "eval_every")


def _record_layout(config: ExperimentConfig, tasks: tuple[TaskSpec, ...], rows: int, step: _MetaStep) -> RecordLayout:
    """What the engine (mtlviz/engine/trainer.py) records, per event; the bytes measured on record
    frames of this run's own schema (mtlviz/records.py RecordSchema)."""
    t = len(tasks)
    pairs = t * (t - 1) // 2
    layers = len(step.layers) + any(METHODS[m.name].learns_weights for m in config.methods)
    path = len(step.trajectory)
    regression = sum(task.type == "regression" for task in tasks)
    fixed, per_record = _record_size(config, tasks, rows, step)
    scheduled = any(o.schedule is not None or WARMUP in dict(o.search) for o in config.optimizers)
    clipping = any(o.clip_norm is not None or CLIP in dict(o.search) for o in config.optimizers)
    metrics = t if step.closed_form else 2 * t + regression  # val_loss, val metric, val_rmse
    test = getattr(config.tasks, "test_fraction", 0.0) > 0 and not step.closed_form
    return RecordLayout(
        rows=rows,
        # train_loss; a model that moves a point records it, and its task weights, every step; with a
        # schedule every row's lr, with clipping the norm before clipping (counted for every row: a bound)
        per_step=t + (path + t if path else 0) + scheduled + clipping,
        per_statistics=layers * STATISTICS_PER_LAYER + (0 if path else t),  # layer statistics, task_weight
        per_conflict=(t + (pairs + 1 if pairs else 0)) if step.shared else 0,
        per_evaluation=metrics + 1,  # and the cost charged so far
        fixed_bytes=fixed,
        bytes_per_record=per_record,
        per_chunk=int(clipping),
        at_end=metrics if test else 0,
    )


def _record_size(
    config: ExperimentConfig, tasks: tuple[TaskSpec, ...], rows: int, step: _MetaStep
) -> tuple[float, float]:
    """(bytes of an empty table of this run's schema, bytes per record row), from real record frames."""
    import numpy as np

    from mtlviz.engine.methods import LEARNED
    from mtlviz.engine.trainer import display_name

    names = tuple(task.name for task in tasks)
    pairs = tuple(f"{a}{PAIR_SEPARATOR}{b}" for i, a in enumerate(names) for b in names[i + 1 :])
    runs = tuple(run for run in config.runs for _ in range(config.train.seeds))
    layers = [display_name(name, names) for name in step.layers]
    if any(METHODS[m.name].learns_weights for m in config.methods):
        layers.append(LEARNED)
    schema = RecordSchema(runs, names + pairs, (*layers, *step.trajectory), tuple(range(len(runs))))

    def size(n: int) -> int:
        frame = schema.grid("train_loss", np.zeros((n, len(runs), len(names))), np.arange(n), np.zeros(n), names)
        return int(frame.memory_usage(deep=True).sum())

    block = len(runs) * len(names)  # record rows per step of the sample
    small, large = size(1), size(101)
    per_record = (large - small) / (100 * block)
    return small - per_record * block, per_record


def _raised(train: TrainConfig, every: int) -> list[int]:
    """`train`'s record intervals, each that is on and below `every` raised to it."""
    return [every if 0 < value < every else value for value in (getattr(train, n) for n in _INTERVALS)]


def _smallest_every(layout: RecordLayout, train: TrainConfig, share: int) -> int | None:
    """The smallest interval that, given to every record interval below it, fits the records in
    `share`; None when even the losses recorded every step do not fit."""
    steps = train.steps
    if layout.bytes_for(steps, *_raised(train, steps + 1)) > share:
        return None
    low, high = 1, steps + 1
    while low < high:
        middle = (low + high) // 2
        if layout.bytes_for(steps, *_raised(train, middle)) <= share:
            high = middle
        else:
            low = middle + 1
    return low


def _most_steps(layout: RecordLayout, train: TrainConfig, share: int) -> int:
    """The most steps whose records fit in `share` (0: not even one)."""
    intervals = [getattr(train, n) for n in _INTERVALS]
    low, high = 0, train.steps
    while low < high:
        middle = (low + high + 1) // 2
        if layout.bytes_for(middle, *intervals) <= share:
            low = middle
        else:
            high = middle - 1
    return low


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class Calibration:
    """How fast this machine trains: matmul speed and the per-step overheads of dispatch."""

    flops_per_second: float
    seconds_per_step: float  # fixed per-step overhead (dispatch, batching, records), whatever the rows
    seconds_per_row: float = 0.0  # per row and step: its own optimizer's update, its statistics

    def step_seconds(self, estimate: Estimate) -> float:
        return (
            estimate.flops_per_step / self.flops_per_second
            + self.seconds_per_step
            + (self.seconds_per_row * estimate.rows)
        )

    def project_seconds(self, config: ExperimentConfig, estimate: Estimate) -> float:
        """Wall-clock seconds `config` will train for (estimate: estimate_run(config))."""
        return config.train.steps * self.step_seconds(estimate)


# Conservative constants for before a measurement exists: about half the speed measured on a
# shared 2-core VM (22-180 GFLOP/s, 1.2-2.4 ms per step and 0.05-0.35 ms per row, benchmarks/budget.py).
DEFAULT_CALIBRATION = Calibration(flops_per_second=5e9, seconds_per_step=4e-3, seconds_per_row=4e-4)
# measure_calibration's runs: a tiny model, whose step is all overhead, at two row counts.
_CALIBRATION_ROWS = (1, 16)
_CALIBRATION_STEPS = 30


def measure_calibration(device: str = "auto", threads: int | None = None) -> Calibration:
    """Measure this machine on the device `device` resolves to: batched matmuls for FLOPs per second,
    and a tiny engine run at two row counts for the per-step overheads.

    threads: torch's intra-op threads for both (a server's worker that trains with 1 passes 1); None:
    what run_experiment would pick (mtlviz/engine/threads.py): all cores for the matmuls, whose speed
    matters for large models, and 1 for the tiny engine. Torch's setting is restored afterwards.
    About 0.3-1 s once torch is set up; the first call in a process also pays for torch's lazy set-up
    (its first optimizer step imports the compiler stack), outside the timing."""
    import torch

    from mtlviz.engine.threads import PARALLEL_MACS, intra_op_threads
    from mtlviz.engine.trainer import resolve_device

    target = resolve_device(device)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads or intra_op_threads(1, PARALLEL_MACS))
        flops = _matmul_speed(target)
        torch.set_num_threads(threads or 1)
        seconds, compute = _overheads(target, flops)
    finally:
        torch.set_num_threads(before)
    (r1, r2), (s1, s2), (c1, c2) = _CALIBRATION_ROWS, seconds, compute
    per_row = max(0.0, ((s2 - c2) - (s1 - c1)) / (r2 - r1))
    fixed = max(0.0, s1 - c1 - per_row * r1)
    return Calibration(flops_per_second=flops, seconds_per_step=fixed, seconds_per_row=per_row)


def _overheads(target: Any, flops: float) -> tuple[list[float], list[float]]:
    """Seconds per step of the tiny engine at each of _CALIBRATION_ROWS, and the part of it that is FLOPs."""
    from mtlviz.config import ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
    from mtlviz.engine import Engine

    seconds, compute = [], []
    for rows in _CALIBRATION_ROWS:
        # Up to 8 learning rates per configuration (a config takes at most 10).
        groups = [tuple(1e-3 * (i + 1) for i in range(start, min(rows, start + 8))) for start in range(0, rows, 8)]
        config = ExperimentConfig(
            tasks=SyntheticTasks(num_samples=400),
            model=ModelConfig(hidden=16),  # the default depth: a row's per-step work grows with its layers
            optimizers=tuple(
                OptimizerConfig("adam", lrs if len(lrs) > 1 else lrs[0], f"Adam {i}") for i, lrs in enumerate(groups)
            ),
            train=TrainConfig(steps=_CALIBRATION_STEPS, batch_size=32, eval_every=20, device=str(target)),
        )
        engine = Engine(config)
        for _ in range(_WARM_UP_STEPS):  # first steps allocate state and load kernels
            engine.train_step(*engine.next_batch())
        best = math.inf
        for _ in range(_CALIBRATION_REPEATS):  # the quickest: a busy moment on a shared machine is not its speed
            engine.step = 0
            chunks = engine.run()
            next(chunks)  # step 0's evaluation
            start = time.perf_counter()
            for _ in chunks:
                pass
            _synchronize(target)
            best = min(best, (time.perf_counter() - start) / _CALIBRATION_STEPS)
        seconds.append(best)
        compute.append(estimate_run(config).flops_per_step / flops)
    return seconds, compute


_WARM_UP_STEPS = 5
_CALIBRATION_REPEATS = 3


def _synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _matmul_speed(device: Any) -> float:
    """FLOPs per second of batched matmuls the size of a mid-sized model's layers: the best of a few
    short blocks, so a thread pool still spinning up or a busy moment does not count."""
    import torch

    a = torch.randn(8, 256, 256, device=device)
    b = torch.randn(8, 256, 256, device=device)
    flops = 2 * 8 * 256**3
    torch.bmm(a, b)  # warm-up
    best = 0.0
    for _ in range(5):
        repeats, start = 0, time.perf_counter()
        while True:
            torch.bmm(a, b)
            repeats += 1
            _synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed > 0.02:
                break
        best = max(best, flops * repeats / elapsed)
    return best


# --------------------------------------------------------------------------- check


def check_run(
    config: ExperimentConfig, estimate: Estimate, limits: Limits, calibration: Calibration | None = None
) -> None:
    """Refuse `config` when its estimate is over `limits`: one BudgetError that names every problem,
    with the estimate, the budget and what to change.

    Records have a share of the memory budget of their own (RECORD_SHARE), so a run whose records
    are too many is told how to record less, and the rest of the run is held to the rest of the budget.
    """
    problems = []
    if limits.rows is not None and estimate.rows > limits.rows:
        problems.append(
            f"models side by side: {estimate.rows:,} (configurations x trials x methods x seeds), over this "
            f"server's cap of {limits.rows:,}; search fewer trials, or use fewer configurations, methods or seeds"
        )
    budget = limits.memory_bytes
    if budget is not None:
        share = int(budget * RECORD_SHARE)
        # Records over their share are a problem of their own (below): here they count at most their share.
        records = RECORD_COPIES * min(estimate.record_bytes, share)
        needed = estimate.total_bytes - RECORD_COPIES * estimate.record_bytes + records
        if needed > budget:
            problems.append(_memory_problem(config, estimate, needed, budget, records))
        if estimate.record_bytes > share:
            problems.append(_record_problem(config, estimate, budget, share))
    if limits.seconds is not None:
        calibration = calibration or DEFAULT_CALIBRATION
        projected = calibration.project_seconds(config, estimate)
        if projected > limits.seconds:
            problems.append(_time_problem(config, estimate, calibration, projected, limits.seconds))
    if problems:
        raise BudgetError("this run is too big for this machine: " + "; ".join(problems))


def _memory_problem(config: ExperimentConfig, estimate: Estimate, needed: int, budget: int, records: int) -> str:
    """`needed`: the run's memory, with `records` bytes of records."""
    model, train = config.model, config.train
    sizes = [f"width ({model.hidden:,})", f"depth ({model.depth})", f"batch ({train.batch_size:,})"]
    # The strategy's own sizes too (mmoe's experts), not its other settings (soft sharing's coupling).
    sizes += [f"{n} ({getattr(model, n)})" for n in SHARING[model.sharing].uses if isinstance(getattr(model, n), int)]
    smaller = f"a smaller {', '.join(sizes[:-1])} or {sizes[-1]}"
    fixed = estimate.table_bytes + records
    per_row = (needed - fixed) / max(1, estimate.rows)
    most = int((budget - fixed) // per_row) if per_row > 0 else estimate.rows
    if most < 1:
        fix = f"even one model needs about {format_bytes(per_row + fixed)}: use {smaller}"
    else:
        fix = (
            f"at most {most} of its {estimate.rows} models side by side would fit: use fewer configurations, "
            f"learning rates, methods or seeds, or {smaller}"
        )
    return (
        f"memory: it needs about {format_bytes(needed)} ({estimate.describe()}), over the budget of "
        f"{format_bytes(budget)} per run; {fix}"
    )


def _record_problem(config: ExperimentConfig, estimate: Estimate, budget: int, share: int) -> str:
    train = config.train
    fixes = []
    layout = estimate.record_layout
    if layout is not None:
        every = _smallest_every(layout, train, share)
        if every is not None:
            names = [f"train.{n}" for n in _INTERVALS if 0 < getattr(train, n) < every]
            fixes.append(f"raise {_join_names(names)} to {every:,}")
        steps = _most_steps(layout, train, share)
        if steps >= 1:
            fixes.append(f"lower train.steps to {steps:,}")
    fixes.append("use fewer configurations, learning rates, methods or seeds")
    return (
        f"records: {format_count(estimate.records)} record rows for {train.steps:,} steps would take about "
        f"{format_bytes(estimate.record_bytes)}, over their share of the budget ({format_bytes(share)} of "
        f"{format_bytes(budget)} per run); {', or '.join(fixes)}"
    )


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _time_problem(
    config: ExperimentConfig, estimate: Estimate, calibration: Calibration, projected: float, seconds: float
) -> str:
    step = calibration.step_seconds(estimate)
    steps = int(seconds / step)
    speed = f"{format_rate(1 / step)} steps/s" if step <= 10 else f"{format_duration(step)} per step"
    fix = f"at most {steps:,} steps fit" if steps >= 1 else "not one step fits"
    return (
        f"time: projected {format_duration(projected)} for {config.train.steps:,} steps at {speed}; the budget "
        f"per run is {format_duration(seconds)}: {fix}; use fewer steps, fewer configurations or a smaller model"
    )


# --------------------------------------------------------------------------- formats


def format_bytes(n: float) -> str:
    """Decimal units, 3 significant digits: 640 MB, 1.5 GB, 157 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def format_count(n: float) -> str:
    """7.85 B, 12.3 M, 5,634."""
    for unit, size in (("B", 1e9), ("M", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n):,}"


def format_duration(seconds: float) -> str:
    """45 s, 15 min, 3.2 h, 29 days, 2.3 years (days from two days on, years from two years on)."""
    for unit, size, start in (
        ("years", 365 * 86400.0, 2 * 365 * 86400.0),
        ("days", 86400.0, 2 * 86400.0),
        ("h", 3600.0, 3600.0),
        ("min", 60.0, 60.0),
    ):
        if seconds >= start:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}"
