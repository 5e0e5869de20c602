"""Task sources and their data. Torch-free at import: the bundled datasets' list
(`mtlviz.data.bundled`) and the toy problem's geometry (`mtlviz.data.toy2d`) are read
by the config and the charts; `TaskSet` and `build_taskset` load torch on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "TaskSet":
        from mtlviz.data.taskset import TaskSet

        return TaskSet
    if name == "build_taskset":
        from mtlviz.data.sources import build_taskset

        return build_taskset
    raise AttributeError(f"module 'mtlviz.data' has no attribute {name!r}")


__all__ = ["TaskSet", "build_taskset"]
