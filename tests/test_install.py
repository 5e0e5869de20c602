"""The installed package: its command and `python -m mtlviz` work outside the checkout, and its data is there."""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtlviz"


def example_config(command: list[str], folder: Path) -> dict:
    """Run `<command> example-config` in `folder` and return the JSON it prints."""
    done = subprocess.run(
        [*command, "example-config"], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command} example-config exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def test_python_m_mtlviz_works_from_any_folder(tmp_path: Path) -> None:
    assert "tasks" in example_config([sys.executable, "-m", "mtlviz"], tmp_path)


def test_the_mtlviz_command_works_from_any_folder(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / ("mtlviz.exe" if sys.platform == "win32" else "mtlviz")
    if not script.is_file():
        pytest.fail(
            f"expected the mtlviz command at {script}, found none: install the package "
            "(pip install -r requirements-dev.txt installs it, editable)"
        )
    assert "tasks" in example_config([str(script)], tmp_path)


def test_bundled_data_is_reachable_from_the_installed_package() -> None:
    folder = importlib.resources.files("mtlviz.data") / "bundled"
    assert (folder / "penguins.csv").is_file()
    assert (folder / "wine.csv").is_file()
    assert (folder / "README.md").is_file()


def test_every_subpackage_has_an_init_so_the_install_finds_it() -> None:
    # pyproject.toml discovers packages by their __init__.py (namespaces = false), so a
    # folder of modules without one would be left out of a non-editable install.
    missing = [
        str(folder.relative_to(PACKAGE.parent))
        for folder in [PACKAGE, *PACKAGE.rglob("*")]
        if folder.is_dir() and any(folder.glob("*.py")) and not (folder / "__init__.py").is_file()
    ]
    assert missing == [], f"expected an __init__.py in every folder of modules, found none in {missing}"
