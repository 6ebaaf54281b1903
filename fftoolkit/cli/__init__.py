"""The `fftk` command line. Thin: each command parses options and calls one library function.

Subcommands live in their own modules and are imported only when invoked, so `fftk --help`
stays instant (no torch import).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

import click

from fftoolkit import __version__
from fftoolkit.errors import FFTKError

# command name -> (module, attribute, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("fftoolkit.cli.data_cmd", "data", "Fetch, prepare and inspect datasets."),
    "models": ("fftoolkit.cli.models_cmd", "models", "List the model zoo with parameter counts."),
    "train": ("fftoolkit.cli.train_cmd", "train", "Train a Forward-Forward network."),
    "eval": ("fftoolkit.cli.train_cmd", "evaluate", "Evaluate a checkpoint on a dataset split."),
    "export": ("fftoolkit.cli.export_cmd", "export", "Export a checkpoint to ONNX/TFLite."),
    "run": ("fftoolkit.cli.run_cmd", "run", "Run inference from a bundle (no torch needed)."),
    "bench": ("fftoolkit.cli.run_cmd", "bench", "Benchmark a bundle: latency, memory, accuracy."),
    "firmware": ("fftoolkit.cli.deploy_cmd", "firmware", "Render a deploy directory for a board."),
    "deploy": ("fftoolkit.cli.deploy_cmd", "deploy", "Deploy over SSH, benchmark, fetch the log."),
    "demo": ("fftoolkit.cli.demo_cmd", "demo", "Export FF_tiny and benchmark every format "
             "(offline)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    @staticmethod
    def _available(name: str) -> bool:
        return importlib.util.find_spec(COMMANDS[name][0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fftk")
def cli() -> None:
    """fftk — train Forward-Forward networks and deploy them to edge boards.

    \b
    Typical flow:
      fftk train ff_tiny --dataset cifar10 --out runs/tiny
      fftk export runs/tiny/last.pt --target all --quantize int8 --out bundles/tiny
      fftk bench bundles/tiny --formats torch-fp32,onnx-fp32,onnx-int8,tflite-int8
    """


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(prog_name="fftk", standalone_mode=False)
    except FFTKError as exc:
        if not getattr(exc, "quiet", False):  # a rank's error that rank 0 prints for all
            click.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))  # bench.interrupt.Interrupted: 128 + signal
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `fftk` or `fftk data` alone
        path = exc.ctx.command_path
        _fail(f"{path}: missing command (see `{path} --help`)")
    except click.UsageError as exc:  # click's own three lines (Usage, Try, Error) made one
        path = exc.ctx.command_path if exc.ctx else "fftk"
        _fail(f"{_one_line(exc.format_message()).rstrip('.')} (see `{path} --help`)")
    except click.ClickException as exc:  # e.g. a file click could not open: bad input too
        _fail(_one_line(exc.format_message()))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
