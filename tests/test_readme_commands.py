"""The README's command table and requirements say what the code does."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_service.cli import _parser

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, sub in action.choices.items():
            yield from _leaf_commands(sub, (*path, name))


def _command_rows() -> list[str]:
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `chat-service ")]


@pytest.mark.parametrize(
    ("path", "parser"), list(_leaf_commands(_parser())), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_and_flag_is_in_the_readme(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    first, *rest = path
    rows = [
        row for row in _command_rows() if row.startswith(f"| `chat-service {first}") and all(p in row for p in rest)
    ]
    assert rows, f"`chat-service {' '.join(path)}` is missing from the README's command table"
    for action in parser._actions:
        if action.option_strings and "--help" not in action.option_strings:
            assert any(o in row for row in rows for o in action.option_strings), (path, action.option_strings)


def test_dev_commands_need_the_same_data_dir_and_the_readme_says_so() -> None:
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert "same data folder" in section and "`--data-dir D`" in section and "`--mongodb-uri URI`" in section


def test_readme_and_install_script_ask_for_the_same_node_version() -> None:
    install = (REPO / "scripts" / "install").read_text()
    wanted = re.search(r"Node\.js (\d+)\+", README)
    assert wanted is not None
    assert set(re.findall(r"Node\.js (\d+)\+", install)) == {wanted.group(1)}
    assert f"-ge {wanted.group(1)} ]" in install  # and the script checks it
