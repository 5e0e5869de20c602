"""Task sources: each turns a task config into a TaskSet of tensors and splits."""

from mtlviz.data.taskset import TaskSet, build_taskset

__all__ = ["TaskSet", "build_taskset"]
