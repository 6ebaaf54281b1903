"""`fftk deploy`: copy a deploy directory to a board over SSH, install, benchmark, fetch the logs
(and with --verify, compare the board's predictions with this machine's: firmware/verify.py).

Each step is one ssh/scp/rsync call, and each way it can fail (unreachable board, rejected key,
no Python, no runtime, a failing benchmark) becomes one line saying what to do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fftoolkit.atomic import atomic_dir, atomic_path, refuse_overlap
from fftoolkit.errors import FFTKError
from fftoolkit.firmware import verify as parity
from fftoolkit.firmware.mcu import MCU_FILE
from fftoolkit.firmware.render import DeployConfig, load_deploy_config, read_bundle
from fftoolkit.firmware.ssh import Log, Remote, remote_path, run_command, stderr_log
from fftoolkit.firmware.verify import VerifyOptions, VerifySet
from fftoolkit.runtime.manifest import load_manifest, manifest_sha256
from fftoolkit.untrusted import inside, refuse_symlinks

NOT_OURS = 96  # preflight exit status: --remote-dir holds other files (rsync --delete eats them)
NO_PYTHON = 97  # preflight exit status: the board has no interpreter at --remote-python
NO_VENV = 98  # runtime check: no .venv in the remote directory
KEEP_ON_BOARD = (".venv", "logs", "systemd")  # made on the board; a re-deploy keeps them
INSTALL_HINTS = {
    3: "the board needs a 64-bit OS (e.g. Raspberry Pi OS 64-bit)",
    4: "install Python >= 3.10 with venv on the board, or pass --remote-python PATH",
    5: "give the board internet access to PyPI, or pass --install-arg=--wheelhouse=DIR "
       "with aarch64 wheels already on the board",
    6: "the packages installed but do not import on this board; see the output above",
}


@dataclass
class DeployOptions:
    run: str = "bench"  # "bench" | "run"
    remote_dir: str | None = None  # default ~/fftk-deploy/<model>
    remote_python: str = "python3"
    install_args: list[str] = field(default_factory=list)  # passed to install.sh
    skip_install: bool = False
    results: Path = Path("fftk-logs/deploy")
    runs: int | None = None  # bench only
    warmup: int | None = None  # bench only
    threads: int | None = None
    formats: list[str] = field(default_factory=list)  # bench, verify; default: deploy.json's
    board_input: str | None = None  # images: a path on the board (default: the demo set)
    extra: list[str] = field(default_factory=list)  # passed on to `fftk bench` / `fftk run`
    expect_sha256: str | None = None  # pin the bundle's manifest (--expect-sha256)
    verify: VerifyOptions | None = None  # --verify: host-vs-board parity after the board step


@dataclass
class DeployResult:
    remote_dir: str  # absolute path on the board
    board: dict[str, Any]  # fftk_board.py check: python, machine, board model, modules
    results: Path  # local folder with the fetched logs
    records: list[dict[str, Any]] = field(default_factory=list)  # the fetched JSON logs
    verify: dict[str, Any] | None = None  # --verify: the report written to verify.json


def deploy(deploy_dir: str | Path, remote: Remote, opts: DeployOptions,
           log: Log = stderr_log) -> DeployResult:
    """Copy, install, check, benchmark (or run), fetch. Raises FFTKError with the fix."""
    deploy_dir = Path(deploy_dir)
    cfg = check_deploy_dir(deploy_dir, opts.expect_sha256)
    # logs fetched into the deploy folder would be shipped to the board by the next deploy
    refuse_overlap(opts.results, {"deploy directory": deploy_dir}, option="--results",
                   allow_parent=True)
    if opts.run not in ("bench", "run"):
        raise FFTKError(f"--run {opts.run}: choose bench or run")
    if opts.verify is None:
        return _deploy(deploy_dir, cfg, remote, opts, None, log)
    with tempfile.TemporaryDirectory(prefix="fftk-verify-") as staging:  # before connecting:
        images = parity.prepare(deploy_dir / cfg.bundle, opts.verify, Path(staging))
        return _deploy(deploy_dir, cfg, remote, opts, images, log)


def _deploy(deploy_dir: Path, cfg: DeployConfig, remote: Remote, opts: DeployOptions,
            images: VerifySet | None, log: Log) -> DeployResult:
    where = opts.remote_dir or f"~/fftk-deploy/{cfg.model}"
    steps = 6 if images else 5

    log(f"[1/{steps}] connecting to {remote.label}")
    root, has_rsync = _preflight(remote, where, opts.remote_python)
    log(f"[2/{steps}] copying {deploy_dir} to {remote.host}:{root}")
    _copy(remote, deploy_dir, root, has_rsync)
    if images:  # after the copy: its rsync --delete removes an earlier deploy's verify/
        _send(remote, images.staging / parity.VERIFY_DIR, root, has_rsync)
    if opts.skip_install:
        log(f"[3/{steps}] install skipped (--skip-install)")
    else:
        log(f"[3/{steps}] installing the runtime on the board ({root}/install.sh)")
        _install(remote, root, opts, log)
    board = _check(remote, root, opts.skip_install)
    log(f"      board: {board.get('board') or board.get('machine')}, "
        f"Python {board.get('python')}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    log_dir = f"{root}/logs/{stamp}"
    what = "the benchmark" if opts.run == "bench" else "inference"
    log(f"[4/{steps}] {what} of {cfg.model} ({', '.join(opts.formats or cfg.formats)}) "
        "on the board")
    _board_command(remote, root, [opts.run, "--log-dir", log_dir, *_board_args(opts)], what, log)
    threads = opts.threads or cfg.threads  # the same on both sides of the comparison
    if images:
        log(f"[5/{steps}] classifying {len(images.names)} image(s) from {images.source} on "
            "the board for --verify")
        _board_command(remote, root, parity.board_args(log_dir, threads, opts.formats),
                       "verification", log)
    host = re.sub(r"[^A-Za-z0-9._-]", "_", remote.host).lstrip(".-") or "board"
    target = inside(opts.results, f"{cfg.model}-{cfg.board}-{host}-{stamp}", "results folder",
                    "fftk deploy")
    log(f"[{steps}/{steps}] fetching {log_dir} to {target}")
    records = _fetch(remote, log_dir, target, has_rsync)
    result = DeployResult(root, board, target, records)
    if images:
        log(f"      classifying the same images here, threads {threads}, to compare")
        result.verify = parity.parity_report(images, target, threads, board,
                                             opts.formats or cfg.formats)
        with atomic_path(target / parity.REPORT_NAME) as tmp:
            tmp.write_text(json.dumps(result.verify, indent=2))
    return result


def check_deploy_dir(deploy_dir: Path, expect_sha256: str | None = None) -> DeployConfig:
    """What is about to be shipped, checked here: no symlink anywhere (scp would copy what it
    points to), a valid deploy.json, and a bundle whose every file matches its manifest."""
    if not deploy_dir.is_dir():
        raise FFTKError(f"{deploy_dir}: not a directory (make one with fftk firmware)")
    if os.path.lexists(deploy_dir / MCU_FILE):
        raise FFTKError(f"{deploy_dir}: firmware for a microcontroller board ({MCU_FILE}), not "
                        "a Linux deploy directory; fftk deploy ships to Linux boards over SSH. "
                        f"Build and boot it with: make -C {deploy_dir} run")
    refuse_symlinks(deploy_dir, "deploy directory")
    cfg = load_deploy_config(deploy_dir)
    bundle = deploy_dir / cfg.bundle
    manifest = load_manifest(bundle, expect_sha256)
    read_bundle(bundle, manifest, expect_sha256 or manifest_sha256(bundle), cfg.formats)
    return cfg


def _preflight(remote: Remote, where: str, python: str) -> tuple[str, bool]:
    """One round trip: reachable, key accepted, Python present; make and resolve the folder."""
    script = (f"command -v {shlex.quote(python)} >/dev/null 2>&1 || exit {NO_PYTHON}; "
              f"mkdir -p {remote_path(where)} && cd {remote_path(where)} && "
              f'{{ [ -z "$(ls -A)" ] || [ -f deploy.json ] || exit {NOT_OURS}; }} && '
              'echo "fftk-root:$(pwd)" && '
              "{ command -v rsync >/dev/null 2>&1 && echo fftk-rsync:yes || echo fftk-rsync:no; }")
    code, lines = remote.run(script, "connecting")
    said = dict(ln.split(":", 1) for ln in lines if ln.startswith("fftk-"))
    if code == NO_PYTHON:
        raise FFTKError(f"{remote.label}: no Python at '{python}' on the board; install it "
                        "(sudo apt install python3 python3-venv) or pass --remote-python PATH")
    if code == NOT_OURS:
        raise FFTKError(f"{remote.label}: {where} on the board holds other files (no "
                        "deploy.json); pass an empty or new --remote-dir (a deploy replaces the "
                        "folder's content)")
    if code != 0 or "fftk-root" not in said:
        raise FFTKError(f"{remote.label}: cannot create {where} on the board "
                        f"({lines[-1] if lines else 'no output'})")
    return said["fftk-root"], said.get("fftk-rsync") == "yes" and shutil.which("rsync") is not None


def _copy(remote: Remote, deploy_dir: Path, root: str, has_rsync: bool) -> None:
    """rsync when both ends have it (only changed files move), else scp of each entry."""
    if has_rsync:
        excludes = [f"--exclude=/{name}/" for name in KEEP_ON_BOARD]
        argv = remote.rsync_argv(["--delete", *excludes, f"{deploy_dir}/", remote.spec(root + "/")])
    else:
        entries = sorted(p for p in deploy_dir.iterdir() if p.name not in KEEP_ON_BOARD)
        stale = " ".join(shlex.quote(f"{root}/{p.name}") for p in entries)
        remote.run(f"rm -rf {stale}", "clearing the old copy")
        argv = remote.scp_argv([str(p) for p in entries], remote.spec(root + "/"))
    code, lines = run_command(argv, "copying", remote)
    if code != 0:
        raise remote.explain(lines, f"copying {deploy_dir} to {root}")


def _send(remote: Remote, folder: Path, root: str, has_rsync: bool) -> None:
    """Copy a local folder into the board's deploy folder, under its own name."""
    if has_rsync:
        argv = remote.rsync_argv([str(folder), remote.spec(root + "/")])
    else:
        argv = remote.scp_argv([str(folder)], remote.spec(root + "/"))
    code, lines = run_command(argv, "copying", remote)
    if code != 0:
        raise remote.explain(lines, f"copying {folder.name}/ to {root}")


def _install(remote: Remote, root: str, opts: DeployOptions, log: Log) -> None:
    args = ["sh", "./install.sh", "--python", opts.remote_python, *opts.install_args]
    code, lines = remote.run(f"cd {shlex.quote(root)} && {shlex.join(args)}", "install", log)
    if code != 0:
        said = next((ln for ln in reversed(lines) if ln.startswith("install.sh:")), None)
        hint = INSTALL_HINTS.get(code, "see the output above")
        raise FFTKError(f"{remote.label}: {root}/install.sh failed (exit {code}): "
                        f"{said or (lines[-1] if lines else 'no output')}; {hint}")


def _check(remote: Remote, root: str, skipped_install: bool) -> dict[str, Any]:
    """The board's own report (fftk_board.py check): a missing runtime is an error with a fix."""
    python = f"{root}/.venv/bin/python"
    script = (f"test -x {shlex.quote(python)} || exit {NO_VENV}; cd {shlex.quote(root)} && "
              f"{shlex.quote(python)} fftk_board.py check --json")
    code, lines = remote.run(script, "checking the runtime")
    fix = ("run fftk deploy without --skip-install" if skipped_install
           else f"run {root}/install.sh on the board and read its output")
    if code == NO_VENV:
        raise FFTKError(f"{remote.label}: no fftk runtime on the board ({python} does not "
                        f"exist); {fix}")
    report = next((json.loads(ln) for ln in reversed(lines) if ln.startswith("{")), None)
    if report is None:
        raise FFTKError(f"{remote.label}: the runtime check failed on the board "
                        f"({lines[-1] if lines else 'no output'}); {fix}")
    if report.get("missing"):
        raise FFTKError(f"{remote.label}: the board lacks the runtime package(s) "
                        f"{'; '.join(report['missing'])} in {root}/.venv; {fix}")
    return report


def _board_args(opts: DeployOptions) -> list[str]:
    """fftk_board.py options, then `--` and what goes on to fftk bench / fftk run."""
    pairs = [("--threads", opts.threads), ("--input", opts.board_input)]
    if opts.run == "bench":
        pairs += [("--runs", opts.runs), ("--warmup", opts.warmup),
                  ("--formats", ",".join(opts.formats) or None)]
    args = [x for flag, value in pairs if value is not None for x in (flag, str(value))]
    return [*args, "--", *opts.extra]


def _board_command(remote: Remote, root: str, args: list[str], what: str, log: Log) -> None:
    argv = [f"{root}/.venv/bin/python", "fftk_board.py", *args]
    code, lines = remote.run(f"cd {shlex.quote(root)} && {shlex.join(argv)}", what, log)
    if code != 0:
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        raise FFTKError(f"{remote.label}: {what} failed on the board (exit {code}): {last}")


def _fetch(remote: Remote, log_dir: str, target: Path, has_rsync: bool) -> list[dict[str, Any]]:
    """Copy the board's log folder into `target` (atomically) and read its JSON records."""
    if target.exists():
        raise FFTKError(f"{target}: already exists; pass another --results folder")
    with atomic_dir(target) as tmp:
        if has_rsync:
            argv = remote.rsync_argv([remote.spec(log_dir + "/"), f"{tmp}/"])
        else:
            argv = remote.scp_argv([remote.spec(log_dir)], str(tmp))
        code, lines = run_command(argv, "fetching the logs", remote)
        if code != 0:
            raise remote.explain(lines, f"fetching {log_dir}")
        nested = tmp / Path(log_dir).name
        if not has_rsync and nested.is_dir():  # scp -r copies the folder itself
            for child in nested.iterdir():
                child.rename(tmp / child.name)
            nested.rmdir()
        records = read_records(tmp, skip=parity.VERIFY_DIR)
        if not records:
            raise FFTKError(f"{remote.label}: the board wrote no JSON log in {log_dir}")
    return records


def read_records(folder: Path, skip: str | None = None) -> list[dict[str, Any]]:
    """Every JSON log in a results folder, in name order, except under the sub-folder `skip`
    (the board's --verify records, which are no benchmark or run logs)."""
    records = []
    for path in sorted(folder.rglob("*.json")):
        if skip is not None and path.relative_to(folder).parts[0] == skip:
            continue
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise FFTKError(f"{path}: not valid JSON ({exc})") from None
    return records

