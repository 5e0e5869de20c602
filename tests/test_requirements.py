"""The runtime pins: exact versions, and Streamlit above every published advisory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# First patched version of the newest published Streamlit advisory
# (GHSA-7p48-42j8-8846, CVE-2026-33682). Raise it when a newer advisory appears.
STREAMLIT_PATCHED = (1, 54, 0)


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            found[name.strip().lower()] = version.strip()
    return found


def test_every_runtime_dependency_is_pinned_exactly():
    found = pins(ROOT / "requirements.txt")
    assert found, "requirements.txt lists no packages"
    unpinned = [name for name, version in found.items() if not version]
    assert unpinned == [], f"expected name==version for every package, found unpinned {unpinned}"


def test_streamlit_pin_is_above_the_newest_advisory():
    version = pins(ROOT / "requirements.txt")["streamlit"]
    assert tuple(int(part) for part in version.split(".")[:3]) >= STREAMLIT_PATCHED


def test_installed_streamlit_matches_the_pin():
    import streamlit

    assert streamlit.__version__ == pins(ROOT / "requirements.txt")["streamlit"]
