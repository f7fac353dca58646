"""The hashed lock files cover pyproject.toml, and scripts/install installs from them."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """PEP 503 normalised name of `SecantusDB==0.7.0b3`, `python-socketio[client]>=5`..."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _locked(path: Path) -> dict[str, str]:
    """name -> pinned version, checking every pin carries at least one sha256 hash."""
    text = path.read_text()
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.split("\n", 1)[0]
        if first.startswith("#") or not first.strip():
            continue
        pin = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", first)
        assert pin, f"{path.name}: not an exact pin: {first}"
        assert "--hash=sha256:" in block, f"{path.name}: {first} has no hash"
        pins[_name(pin.group(1))] = pin.group(2)
    return pins


def _project() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("lock", "groups"), [("requirements.txt", ["runtime"]), ("requirements-dev.txt", ["runtime", "dev"])]
)
def test_every_pyproject_dependency_is_locked_with_hashes(lock: str, groups: list[str]) -> None:
    project = _project()
    wanted = {
        _name(r)
        for group in groups
        for r in (project["dependencies"] if group == "runtime" else project["optional-dependencies"][group])
    }
    locked = _locked(REPO / "locks" / lock)
    missing = wanted - set(locked)
    assert not missing, f"run scripts/lock: {sorted(missing)} not in locks/{lock}"


def test_runtime_pins_are_the_same_in_both_locks_and_secantusdb_is_kept() -> None:
    runtime = _locked(REPO / "locks" / "requirements.txt")
    dev = _locked(REPO / "locks" / "requirements-dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert runtime["secantusdb"] == "0.7.0b3"


def test_install_uses_the_lock_with_hashes() -> None:
    script = (REPO / "scripts" / "install").read_text()
    assert "--require-hashes -r locks/requirements-dev.txt" in script
    assert "--no-deps -e ." in script


def test_the_environment_scripts_install_made_is_exactly_the_lock() -> None:
    """What these tests run on is what the lock says, version for version (so CI tests the lock)."""
    differ = {}
    for name, pinned in _locked(REPO / "locks" / "requirements-dev.txt").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            differ[name] = f"{installed} installed, {pinned} locked"
    assert not differ, f"run scripts/install: {differ}"
