"""Layers point one way: the contract, config, charts and readers of records need no torch;
the engine and its parts need no UI libraries; the UI never imports torch itself and no
layer chooses behaviour by comparing a registry name."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mtlviz"


def modules(*folders: str) -> list[str]:
    """Every module under the given subpackages (or the single modules named), as dotted names."""
    found = []
    for folder in folders:
        path = PACKAGE / folder
        if path.with_suffix(".py").is_file():
            found.append(f"mtlviz.{folder}")
            continue
        for file in sorted(path.rglob("*.py")):
            parts = file.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def import_with_blocked(blocked: tuple[str, ...], names: list[str]) -> subprocess.CompletedProcess:
    """Import `names` in a fresh interpreter in which importing any of `blocked` fails."""
    script = textwrap.dedent(
        f"""
        import importlib, sys
        BLOCKED = {blocked!r}

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this layer")
                return None

        sys.meta_path.insert(0, Block())
        for name in {names!r}:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                sys.exit(f"{{name}}: {{exc}}")
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)


TORCH_FREE = modules("records", "rows", "config", "options", "optim", "charts", "summary", "store", "share", "export")
# The registries are read by the torch-free config: their packages import without torch too.
TORCH_FREE += ["mtlviz.methods", "mtlviz.models", "mtlviz.models.registry", "mtlviz.data", "mtlviz.data.toy2d"]
TORCH_FREE += ["mtlviz.data.bundled", "mtlviz.data.reader", "mtlviz.budget"]
UI_FREE = modules("engine", "models", "methods", "data", "optim", "run")


def test_contract_config_charts_and_readers_import_without_torch():
    result = import_with_blocked(("torch",), TORCH_FREE)
    assert result.returncode == 0, result.stderr


def test_engine_models_methods_and_data_import_without_streamlit_or_plotly():
    result = import_with_blocked(("streamlit", "plotly"), UI_FREE)
    assert result.returncode == 0, result.stderr


def test_the_blocker_really_blocks():
    """The two tests above would pass vacuously if blocking did nothing."""
    result = import_with_blocked(("torch",), ["mtlviz.engine"])
    assert result.returncode != 0 and "torch is blocked" in result.stderr


def imports_of(file: Path) -> set[str]:
    tree = ast.parse(file.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("file", sorted((PACKAGE / "ui").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_ui_never_imports_torch(file: Path):
    assert "torch" not in imports_of(file)


def test_the_import_check_finds_an_import(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import torch.nn as nn\n\nfrom numpy import array\nfrom . import torch\n")
    assert imports_of(sample) == {"torch", "numpy"}  # a relative import is the package's own module


def registry_names() -> set[str]:
    from mtlviz.config import TASK_SOURCES
    from mtlviz.methods import METHODS
    from mtlviz.models import SHARING
    from mtlviz.optim import OPTIMIZERS

    return set(OPTIMIZERS) | set(METHODS) | set(SHARING) | set(TASK_SOURCES)


def compared_names(file: Path, names: set[str]) -> list[str]:
    """Registry names that appear as a side of a comparison (==, !=, in, not in) in `file`."""
    hits = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            constants = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
            for constant in constants:
                if isinstance(constant, ast.Constant) and constant.value in names:
                    hits.append(f"line {node.lineno}: {constant.value!r}")
    return hits


@pytest.mark.parametrize(
    "file",
    sorted([*(PACKAGE / "engine").rglob("*.py"), *(PACKAGE / "ui").rglob("*.py")]),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_engine_and_ui_compare_no_registry_names(file: Path):
    assert compared_names(file, registry_names()) == []


def quoted_names(file: Path, names: set[str]) -> list[str]:
    """Registry names written as string literals anywhere in `file` ("sgd" or 'sgd')."""
    text = file.read_text(encoding="utf-8")
    return sorted(name for name in names if f'"{name}"' in text or f"'{name}'" in text)


@pytest.mark.parametrize("file", sorted((PACKAGE / "ui").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_ui_quotes_no_registry_name(file: Path):
    """Stricter than the comparison check: the UI reads names, defaults and choices from the specs."""
    assert quoted_names(file, registry_names()) == []


def test_the_name_check_finds_a_comparison(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text('if spec.name == "sgd" or name in ("adam", "other"):\n    pass\n')
    assert compared_names(sample, registry_names()) == ["line 1: 'sgd'", "line 1: 'adam'"]
    assert quoted_names(sample, registry_names()) == ["adam", "sgd"]
