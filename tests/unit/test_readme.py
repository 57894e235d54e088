"""The README documents what users rely on: every setting, and the two commands."""

from __future__ import annotations

from pathlib import Path

from chalicelib.config import ENVIRONMENT

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_environment_variable_is_in_the_configuration_table():
    missing = [name for name, _, _ in ENVIRONMENT if f"| `{name}` |" not in README]
    assert not missing, f"README configuration table lacks {missing}"


def test_the_two_commands_are_documented():
    assert "make run" in README and "make test" in README


def test_user_creation_examples_keep_the_password_off_the_command_line():
    """`--password P` lands in shell history and process lists: the README shows `--password-stdin`."""
    commands = [line for line in README.splitlines() if "chalicelib.cli" in line and " users create " in line]
    assert len(commands) >= 3, commands
    for command in commands:
        assert "--password-stdin" in command, command
        assert "--password '" not in command and '--password "' not in command, command
    assert "shell history" in README
