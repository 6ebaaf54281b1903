import subprocess
import sys

import pytest
from click.testing import CliRunner

from fftoolkit import __version__
from fftoolkit.cli import COMMANDS, cli


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_lists_subcommands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("data", "models", "train", "eval"):
        assert name in result.output


@pytest.mark.parametrize("name", [n for n in COMMANDS])
def test_every_subcommand_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    if "No such command" in result.output:
        pytest.skip(f"{name} is not implemented in this checkout")
    assert result.exit_code == 0, result.output
    assert "fftk " + name in result.output.replace("\n", " ")


def test_help_does_not_import_torch():
    code = "import sys; from fftoolkit.cli import main; sys.argv=['fftk','--help']\n" \
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_user_error_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "nope.pt"
    out = subprocess.run([sys.executable, "-m", "fftoolkit.cli", "eval", str(bad), "--dataset",
                          "mnist"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "nope.pt" in out.stderr
    assert "Traceback" not in out.stderr


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
    out = subprocess.run([sys.executable, "-m", "fftoolkit.cli", *args], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert "Usage:" not in out.stderr and "Traceback" not in out.stderr
