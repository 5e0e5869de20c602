"""The pins: exact versions, the same in requirements*.txt and pyproject.toml, and Streamlit above every advisory."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# First patched version of the newest published Streamlit advisory
# (GHSA-7p48-42j8-8846, CVE-2026-33682). Raise it when a newer advisory appears.
STREAMLIT_PATCHED = (1, 54, 0)


def pins(path: Path) -> dict[str, str]:
    """name -> version of each requirement line; options (-r other.txt, -e .) are not pins."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[name.strip().lower()] = version.strip()
    return found


def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def parse(requirements: list[str]) -> dict[str, str]:
    """name -> version of pyproject requirement strings ("torch==2.13.0")."""
    found = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        found[name.strip().lower()] = version.strip()
    return found


def test_every_runtime_dependency_is_pinned_exactly():
    found = pins(ROOT / "requirements.txt")
    assert found, "requirements.txt lists no packages"
    unpinned = [name for name, version in found.items() if not version]
    assert unpinned == [], f"expected name==version for every package, found unpinned {unpinned}"


def test_requirements_install_the_package_itself():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines, "requirements.txt should install the package (-e .) so `mtlviz` works from any folder"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_pyproject_dependencies_equal_the_requirements_pins():
    project = pyproject()["project"]
    assert parse(project["dependencies"]) == pins(ROOT / "requirements.txt")
    assert parse(project["optional-dependencies"]["dev"]) == pins(ROOT / "requirements-dev.txt")


def test_streamlit_pin_is_above_the_newest_advisory():
    version = pins(ROOT / "requirements.txt")["streamlit"]
    assert tuple(int(part) for part in version.split(".")[:3]) >= STREAMLIT_PATCHED


def test_installed_streamlit_matches_the_pin():
    import streamlit

    assert streamlit.__version__ == pins(ROOT / "requirements.txt")["streamlit"]
