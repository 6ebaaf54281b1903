"""`fftk firmware` and `fftk deploy`: a bundle onto a Linux edge board, its benchmark back; or
firmware sources for a microcontroller board."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fftoolkit.cli.options import expect_sha256
from fftoolkit.errors import FFTKError
from fftoolkit.firmware.templates import Board, boards_by_kind, list_boards, load_board, load_parts

_KINDS = boards_by_kind()
_PARTS = load_parts()


@click.command("firmware", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--board", required=True, type=click.Choice(list_boards()),
              help="Target board; its templates are in firmware_templates/<board>/. Linux "
              f"boards: {', '.join(_KINDS['linux'])}; microcontroller (mcu) boards: "
              f"{', '.join(_KINDS['mcu'])}.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Deploy (or firmware) directory to write.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--part", type=click.Choice(sorted(_PARTS), case_sensitive=False),
              help="mcu boards: the microcontroller the image must fit (flash/RAM): "
              + "; ".join(f"{p.name} {p.flash_bytes // 1024} KB/{p.ram_bytes // 1024} KB"
                                  for p in _PARTS.values())
              + "  [default: the board's own memory]")
@click.option("--images", "n_images", type=int,
              help="mcu boards: test images to embed  [default: the board's, in its board.json]")
@click.option("--input", "images", type=click.Path(path_type=Path),
              help="mcu boards: where the test images come from: an image file, folder or "
              ".npz  [default: the bundled demo set]")
@expect_sha256
def firmware(bundle: Path, board: str, out: Path, force: bool, part: str | None,
             n_images: int | None, images: Path | None, expect_sha256: str | None) -> None:
    """Render a self-contained directory for BOARD from an exported BUNDLE.

    Linux boards get a deploy directory: the bundle, an fftoolkit wheel, pinned device
    requirements (no torch), install.sh, the board-side entry point fftk_board.py, a systemd
    service + timer and the board's README. Copy it yourself, or let `fftk deploy` do it over
    SSH.

    Microcontroller boards get firmware sources: the bundle's C engine (needs the c-int8
    artifact: fftk export --target c --quantize int8), startup code, linker script, a main()
    that classifies a few embedded test images, and a Makefile for arm-none-eabi-gcc whose
    `make run` boots it in qemu-system-arm and `make report` writes the measured flash, RAM
    and instructions per image. A model that does not fit --part is refused.

    \b
    Examples:
      fftk firmware bundles/tiny --board rpi5 --out deploy/tiny-rpi5
      fftk firmware bundles/tiny --board coral-usb --out deploy/tiny-coral
      # on the board, by hand:
      scp -r deploy/tiny-rpi5 pi@raspberrypi.local: && ssh pi@raspberrypi.local \\
        'cd tiny-rpi5 && ./install.sh && .venv/bin/python fftk_board.py bench'
      fftk firmware bundles/tiny-c --board mps2-an386 --part stm32f746 --out fw/tiny-m4
      make -C fw/tiny-m4 report
    """
    target = load_board(board)
    if target.kind == "mcu":
        _firmware_mcu(bundle, target, out, force, part, n_images, images, expect_sha256)
        return
    given = [flag for flag, value in (("--part", part), ("--images", n_images),
                                      ("--input", images)) if value is not None]
    if given:
        raise FFTKError(f"{', '.join(given)}: only for microcontroller boards "
                        f"({', '.join(_KINDS['mcu'])}); {board} is a Linux board")
    from fftoolkit.firmware.render import render_firmware

    cfg = render_firmware(bundle, board, out, force=force, expect_sha256=expect_sha256)
    for note in cfg.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"{cfg.model} for {cfg.board_title}: formats {', '.join(cfg.formats)}, "
               f"{cfg.threads} thread(s)")
    click.echo(f"deploy directory: {out}  (next: fftk deploy {out} USER@HOST)")


def _firmware_mcu(bundle: Path, board: Board, out: Path, force: bool, part: str | None,
                  n_images: int | None, images: Path | None, expect_sha256: str | None) -> None:
    from fftoolkit.firmware.mcu import render_mcu

    cfg = render_mcu(bundle, board, out, part=part, images=images,
                     n_images=n_images, force=force,
                     expect_sha256=expect_sha256)
    for note in cfg.notes:
        click.echo(f"note: {note}", err=True)
    fp = cfg.footprint
    click.echo(f"{cfg.model} for the {cfg.board_title}; {cfg.images} test image(s)")
    click.echo(f"memory of the {cfg.part_title}: flash {fp.flash_bytes:,} of "
               f"{cfg.flash_limit_bytes:,} B, RAM {fp.ram_bytes:,} of {cfg.ram_limit_bytes:,} B "
               f"({fp.how})")
    click.echo(f"firmware directory: {out}  (next: make -C {out} run, or make -C {out} report)")


@click.command("deploy", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("deploy_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("destination")
@click.option("-p", "--port", type=click.IntRange(1, 65535), help="SSH port (default 22).")
@click.option("-i", "--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="Private key file (ssh -i).")
@click.option("--run", "mode", type=click.Choice(["bench", "run"]), default="bench",
              show_default=True, help="Benchmark the formats, or classify images.")
@click.option("--remote-dir", help="Folder on the board  [default: ~/fftk-deploy/<model>]")
@click.option("--remote-python", default="python3", show_default=True,
              help="Python on the board that install.sh builds the venv from.")
@click.option("--accept-new-host-key", is_flag=True,
              help="Trust a board's host key on first connection (StrictHostKeyChecking="
                   "accept-new); a changed key is still refused.")
@click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path),
              help="known_hosts file to use instead of ~/.ssh/known_hosts.")
@click.option("-o", "--ssh-option", "ssh_options", multiple=True, metavar="KEY=VALUE",
              help="Extra ssh option, e.g. -o ProxyJump=gateway (repeatable).")
@click.option("--install-arg", "install_args", multiple=True, metavar="ARG",
              help="Passed to install.sh, e.g. --install-arg=--offline (repeatable).")
@click.option("--skip-install", is_flag=True, help="Do not run install.sh (already installed).")
@click.option("--threads", type=click.IntRange(min=1), help="Override the board's threads.")
@click.option("--formats", help="Comma-separated formats to benchmark (and --verify)  "
              "[default: the board's formats in deploy.json]")
@click.option("--runs", type=click.IntRange(min=5), help="Timed runs per format (bench).")
@click.option("--warmup", type=click.IntRange(min=0), help="Warm-up runs (bench).")
@click.option("--input", "board_input", help="Images ON THE BOARD: a file, folder or .npz "
              "(default: the demo set packaged with fftk, 500 CIFAR-10 val images).")
@click.option("--fftk-arg", "extra", multiple=True, metavar="ARG",
              help="Passed to fftk bench / fftk run on the board, e.g. --fftk-arg=--no-probe.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("fftk-logs/deploy"), show_default=True,
              help="Local folder for the fetched logs.")
@click.option("--verify", is_flag=True, help="Also classify the same images on the board and "
              "here, per format, and compare them (class agreement, max score difference, "
              "error); the table is printed and written to verify.json.")
@click.option("--verify-input", type=click.Path(path_type=Path), help="Images ON THIS MACHINE "
              "for --verify, sent to the board: a file, folder or .npz  [default: the demo set]")
@click.option("--verify-images", type=click.IntRange(min=1), metavar="N", help="Use N of "
              "them (the seeded subset of --limit N)  [default: all; emulated boards are slow]")
@click.option("--verify-threshold", type=click.FloatRange(min=0), metavar="PCT",
              help="Flag a format whose agreement is below PCT %  [default: 99]")
@click.option("--verify-strict", is_flag=True, help="Exit 1 when a format is flagged.")
@expect_sha256
def deploy(deploy_dir: Path, destination: str, port: int | None, identity: Path | None,
           mode: str, remote_dir: str | None, remote_python: str, accept_new_host_key: bool,
           known_hosts: Path | None, ssh_options: tuple[str, ...],
           install_args: tuple[str, ...], skip_install: bool, threads: int | None,
           formats: str | None, runs: int | None, warmup: int | None, board_input: str | None,
           extra: tuple[str, ...], results: Path, verify: bool, verify_input: Path | None,
           verify_images: int | None, verify_threshold: float | None, verify_strict: bool,
           expect_sha256: str | None) -> None:
    """Copy DEPLOY_DIR (from fftk firmware) to DESTINATION (USER@HOST) over SSH, install it,
    benchmark (or run) there, and fetch the JSON logs into --results.

    Uses your ssh/scp (rsync when both ends have it) in batch mode: key authentication only,
    and host keys checked against known_hosts unless --accept-new-host-key.

    --verify then classifies the same images (from this machine) on the board and here with
    each of the board's formats and compares the predictions: a format whose agreement is
    below --verify-threshold is flagged (exit 1 with --verify-strict).

    \b
    Examples:
      fftk deploy deploy/tiny-rpi5 pi@raspberrypi.local
      fftk deploy deploy/tiny-rpi5 pi@10.0.0.7 -p 2222 -i ~/.ssh/pi_ed25519 --accept-new-host-key
      fftk deploy deploy/tiny-coral mendel@coral.local --remote-python ~/miniforge3/bin/python3
      fftk deploy deploy/tiny-rpi5 pi@raspberrypi.local --run run --input /home/pi/photos
      fftk deploy deploy/tiny-rpi5 pi@raspberrypi.local --verify --verify-images 100
    """
    from fftoolkit.bench.sysinfo import throttle_warning
    from fftoolkit.bench.table import comparison_table, summarize
    from fftoolkit.firmware.deploy import DeployOptions
    from fftoolkit.firmware.deploy import deploy as do_deploy
    from fftoolkit.firmware.ssh import Remote
    from fftoolkit.firmware.verify import REPORT_NAME, VerifyOptions, flagged_line, table

    given = [name for name, value in (("--verify-input", verify_input),
                                      ("--verify-images", verify_images),
                                      ("--verify-threshold", verify_threshold),
                                      ("--verify-strict", verify_strict or None))
             if value is not None]
    if given and not verify:
        raise FFTKError(f"{given[0]} goes with --verify (add --verify)")
    checks = VerifyOptions(verify_input, verify_images,
                           99.0 if verify_threshold is None else verify_threshold)
    remote = Remote(destination, port=port, identity=identity, known_hosts=known_hosts,
                    accept_new_host_key=accept_new_host_key, options=list(ssh_options))
    opts = DeployOptions(run=mode, remote_dir=remote_dir, remote_python=remote_python,
                         install_args=list(install_args), skip_install=skip_install,
                         results=results, runs=runs, warmup=warmup, threads=threads,
                         formats=[f for f in (formats or "").split(",") if f],
                         board_input=board_input, extra=list(extra),
                         expect_sha256=expect_sha256, verify=checks if verify else None)
    result = do_deploy(deploy_dir, remote, opts, log=lambda line: click.echo(line, err=True))
    board = result.board.get("board") or result.board.get("machine")
    emulated = f", EMULATED: {result.board['emulator']}" if result.board.get("emulated") else ""
    click.echo(f"\n{remote.host} ({board}, Python {result.board.get('python')}{emulated}): "
               f"{result.remote_dir}")
    if mode == "bench":
        click.echo(comparison_table(summarize(result.records)))
        warnings = {throttle_warning({"throttled": r.get("throttled_before")},
                                     {"throttled": r.get("throttled_after")})
                    for r in result.records}
        for warning in sorted(w for w in warnings if w):
            click.echo(f"warning: {warning}", err=True)
    else:
        for r in result.records:
            error = "" if r.get("error") is None else f", error {r['error']:.2f}%"
            click.echo(f"{r['n']} image(s), {r['format']} on {r['runtime']}{error}")
    report = result.verify
    if report is not None:
        board_kind = "emulated board" if result.board.get("emulated") else "board"
        click.echo(f"\n{board_kind} vs this machine, {report['images']['n']} image(s) from "
                   f"{report['images']['source']}:")
        click.echo(table(report))
        for note in report["notes"]:
            click.echo(f"note: {note}", err=True)
        click.echo(f"verify: {result.results / REPORT_NAME}")
    click.echo(f"logs: {result.results}/")
    below = flagged_line(report) if report is not None else None
    if below and verify_strict:
        click.echo(f"error: {below} (--verify-strict)", err=True)
        sys.exit(1)  # not 2: the input was fine, the board disagrees
    if below:
        click.echo(f"warning: {below}", err=True)
