import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from fftk_cli import fftk, one_line_error

from fftoolkit import __version__
from fftoolkit.cli import COMMANDS, cli


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_module_imports_and_holds_a_click_command(name):
    """`fftk --help` silently hides a command whose module is missing (LazyGroup._available):
    a missing or renamed module must fail here instead."""
    module, attr, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module), attr, None)
    assert isinstance(command, click.Command), f"{module}.{attr} is not a click command"


def test_help_lists_every_command_in_order():
    result = fftk("--help")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("\nCommands:\n", 1)[1]
    listed = [line.split()[0] for line in section.splitlines()  # wrapped help is indented more
              if line.startswith("  ") and not line.startswith("   ")]
    assert listed == list(COMMANDS), result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "fftk " + name in result.output.replace("\n", " ")


def test_help_does_not_import_torch():
    code = "import sys; from fftoolkit.cli import main; sys.argv=['fftk','--help']\n" \
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_user_error_is_one_line_and_exit_2(tmp_path):
    one_line_error(fftk("eval", tmp_path / "nope.pt", "--dataset", "mnist"), "nope.pt")


@pytest.mark.parametrize("args,message", [
    ([], "fftk: missing command (see `fftk --help`)"),
    (["data"], "fftk data: missing command (see `fftk data --help`)"),
    (["nosuch"], "No such command 'nosuch' (see `fftk --help`)"),
    (["train", "--bogus"], "No such option '--bogus'"),
    (["export"], "Missing argument 'CHECKPOINT' (see `fftk export --help`)"),
    (["eval", "x.pt"], "Missing option '--dataset'"),
    (["run", "x", "--threads", "abc"], "Invalid value for '--threads': 'abc'"),
    (["data", "info", "mnist", "--val-split"], "Option '--val-split' requires an argument"),
    (["models", "extra"], "Got unexpected extra argument (extra)"),
])
def test_click_usage_errors_are_one_line_and_exit_2(args, message):
    """Click's own Usage/Try/Error block becomes the same one line as every other error."""
    out = fftk(*args)
    one_line_error(out, message)
    assert out.stdout == "" and "Usage:" not in out.stderr
