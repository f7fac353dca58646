"""The policy file: the shipped defaults, their order, and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.policies import PolicyError, load_policies, parse_policies


def test_the_shipped_defaults_are_the_documented_ones() -> None:
    policies = load_policies(None)
    assert [(p.label, p.action, p.older_than_days, p.offline) for p in policies.policies] == [
        ("contact-form-45d@1", "delete", 45, True),
        ("delete-180d@1", "delete", 180, None),
        ("audit-2y@1", "delete", 730, None),
        ("pseudonymise-30d@1", "pseudonymise", 30, False),
    ]
    docs = (Path(__file__).parent.parent / "docs" / "privacy.md").read_text()
    for policy in policies.policies:
        assert f"`{policy.label}`" in docs


def test_deletions_run_first_whatever_the_file_order() -> None:
    text = """
    [[policy]]
    name = "p"
    version = 1
    target = "conversations"
    action = "pseudonymise"
    older_than_days = 10

    [[policy]]
    name = "d"
    version = 2
    target = "conversations"
    action = "delete"
    older_than_days = 20
    """
    policies = parse_policies(text, "test")
    assert [p.name for p in policies.policies] == ["d", "p"]
    assert policies.earlier_deletions(policies.policies[1]) == (policies.policies[0],)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "at least one"),
        (
            "[[policy]]\nname='a'\nversion=1\ntarget='audit_events'\naction='pseudonymise'\nolder_than_days=1",
            "only be deleted",
        ),
        (
            "[[policy]]\nname='a'\nversion=1\ntarget='conversations'\naction='delete'\nolder_than_days=1\ncolour=1",
            "unknown",
        ),
        (
            "[[policy]]\nname='a'\nversion=1\ntarget='conversations'\naction='delete'\nolder_than_days=1\n" * 2,
            "more than once",
        ),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_files_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(text, "test")
    assert problem in str(info.value)
