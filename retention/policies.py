"""Retention policies: a validated TOML file (or the default shipped with the package)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

Target = Literal["conversations", "audit_events"]
Action = Literal["delete", "pseudonymise"]

DEFAULT_POLICIES = "default_policies.toml"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELDS = {"name", "version", "target", "action", "older_than_days", "offline", "description"}
_MAX_DAYS = 100 * 366


class PolicyError(Exception):
    """The policy file is missing or invalid; lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid retention policies:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    target: Target
    action: Action
    older_than_days: int
    offline: bool | None = None
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def cutoff(self, now: datetime) -> datetime:
        """Items whose age reference is before this instant are selected."""
        return now - timedelta(days=self.older_than_days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "target": self.target,
            "action": self.action,
            "older_than_days": self.older_than_days,
            "offline": self.offline,
            "description": self.description,
        }


@dataclass(frozen=True)
class PolicySet:
    """Policies in the order they run: deletions first, then pseudonymisation."""

    policies: tuple[Policy, ...]
    source: str

    def for_target(self, target: Target) -> tuple[Policy, ...]:
        return tuple(p for p in self.policies if p.target == target)

    def earlier_deletions(self, policy: Policy) -> tuple[Policy, ...]:
        """Deletions on the same target that run before `policy` (their items never reach it)."""
        index = self.policies.index(policy)
        return tuple(p for p in self.policies[:index] if p.target == policy.target and p.action == "delete")


def _policy(index: int, raw: object, problems: list[str]) -> Policy | None:
    where = f"policy #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"{where}: 'name' must be 1-64 letters, digits, '-' or '_'")
    else:
        where = f"policy {name!r}"
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"{where}: 'version' must be a whole number >= 1")
    target = raw.get("target")
    if target not in ("conversations", "audit_events"):
        problems.append(f'{where}: \'target\' must be "conversations" or "audit_events"')
    action = raw.get("action")
    if action not in ("delete", "pseudonymise"):
        problems.append(f'{where}: \'action\' must be "delete" or "pseudonymise"')
    elif target == "audit_events" and action != "delete":
        problems.append(f"{where}: audit events can only be deleted")
    days = raw.get("older_than_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= _MAX_DAYS:
        problems.append(f"{where}: 'older_than_days' must be a whole number from 1 to {_MAX_DAYS}")
    offline = raw.get("offline")
    if offline is not None and not isinstance(offline, bool):
        problems.append(f"{where}: 'offline' must be true or false")
    elif offline is not None and target == "audit_events":
        problems.append(f"{where}: 'offline' applies to conversations only")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}: 'description' must be a string")
    if len(problems) > before:
        return None
    assert isinstance(name, str) and isinstance(version, int) and isinstance(days, int)
    return Policy(name, version, cast(Target, target), cast(Action, action), days, offline, str(description))


def parse_policies(text: str, source: str) -> PolicySet:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"{source}: not valid TOML ({exc})"]) from None
    problems: list[str] = []
    unknown = sorted(set(doc) - {"policy"})
    if unknown:
        problems.append(f"{source}: unknown top-level key(s) {', '.join(unknown)}")
    raw_policies = doc.get("policy", [])
    if not isinstance(raw_policies, list) or not raw_policies:
        problems.append(f"{source}: at least one [[policy]] is required")
        raw_policies = []
    policies = [p for i, raw in enumerate(raw_policies) if (p := _policy(i, raw, problems)) is not None]
    names = [p.name for p in policies]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"policy {name!r}: the name is used more than once")
    if problems:
        raise PolicyError(problems)
    ordered = sorted(policies, key=lambda p: 0 if p.action == "delete" else 1)  # stable
    return PolicySet(tuple(ordered), source)


def load_policies(path: Path | None) -> PolicySet:
    """The policies in `path`, or the default file shipped with the package when `path` is None."""
    if path is None:
        text = resources.files("retention").joinpath(DEFAULT_POLICIES).read_text(encoding="utf-8")
        return parse_policies(text, f"(default) {DEFAULT_POLICIES}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"{path}: cannot be read ({exc.strerror})"]) from None
    return parse_policies(text, str(path))
