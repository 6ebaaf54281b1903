#!/usr/bin/env python3
"""An emulated 64-bit Raspberry Pi OS board on this Linux PC: Debian 12 arm64 under qemu-user.

64-bit Raspberry Pi OS (bookworm) is Debian 12 arm64 with Python 3.11, so Debian's own
packages give its userland here: debootstrap builds the root once into a cache folder keyed by
its inputs, binfmt_misc runs its aarch64 programs through qemu-aarch64-static (pinned to the
board's core, e.g. Cortex-A76 for a Pi 5), and the board's own sshd listens on 127.0.0.1 with a
throwaway key pair. `fftk deploy` then treats it like any board. Every session runs on a
throwaway overlay of the cached root, so deploys never pollute the cache.

It proves that a deploy directory installs and runs on the board's OS and CPU architecture and
what the board computes; it does not prove latency (emulated code runs ~500x slower and with
another CPU's timing) nor anything about the board's hardware (no GPU, no Edge TPU, no /sys).

    sudo python3 tools/emulated_board.py up          # build if needed, start, wait for Ctrl-C
    sudo python3 tools/emulated_board.py build       # only build the cached root
    sudo python3 tools/emulated_board.py clean       # delete the cache (mounts undone first)

Needs root (chroot, mounts) and Debian's qemu-user-static, binfmt-support and debootstrap
(`make install-test-deps`). Standard library only: the tests import it as a fixture.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loopback import free_port, keygen

RECIPE = 1  # bump when the build steps below change: it is part of the cache key
SUITE = "bookworm"  # Debian 12 = the base of 64-bit Raspberry Pi OS (bookworm)
ARCH = "arm64"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "openssh-server",
            "rsync")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BOARD_CPUS = {"rpi5": "cortex-a76", "rpi4": "cortex-a72"}  # qemu -cpu names of their cores
BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU = "qemu-aarch64"
TOOLS = {"debootstrap": "debootstrap", "qemu-aarch64-static": "qemu-user-static",
         "update-binfmts": "binfmt-support", "ssh-keygen": "openssh-client",
         "ssh": "openssh-client"}
SSHD_CONFIG = "/etc/ssh/sshd_fftk_config"
Log = Callable[[str], None]


def default_cache() -> Path:
    """$FFTK_BOARD_CACHE, else ~/.cache/fftk/boards."""
    env = os.environ.get("FFTK_BOARD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fftk" / "boards"


def say(line: str) -> None:
    print(f"emulated-board: {line}", file=sys.stderr, flush=True)


def unavailable() -> str | None:
    """Why this machine cannot run the emulated board, or None when it can."""
    if platform.system() != "Linux":
        return f"needs Linux (this is {platform.system()})"
    if platform.machine() not in ("x86_64", "amd64"):
        return f"needs an x86-64 host to emulate arm64 on (this is {platform.machine()})"
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot and mounts); run it with sudo"
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        return (f"Debian package(s) {', '.join(missing)} missing; run `make install-test-deps` "
                f"(apt-get install {' '.join(missing)})")
    return register_binfmt()


def register_binfmt() -> str | None:
    """qemu-aarch64 registered and enabled in binfmt_misc (mounted first if needed); with the
    F flag, so the interpreter is found inside a chroot. None when ready, else why not."""
    if not (BINFMT / "register").exists():
        done = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return f"cannot mount binfmt_misc at {BINFMT} ({done.stderr.strip()})"
    entry = BINFMT / QEMU
    if not entry.exists() or entry.read_text().splitlines()[0] != "enabled":
        done = subprocess.run(["update-binfmts", "--enable", QEMU], capture_output=True,
                              text=True)
        if done.returncode != 0:
            return f"cannot register {QEMU} with binfmt_misc ({done.stderr.strip()})"
    lines = entry.read_text().splitlines() if entry.exists() else []
    if not lines or lines[0] != "enabled":
        return f"{entry} is not enabled after update-binfmts"
    flags = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("flags:")), "")
    if "F" not in flags:
        return f"{entry} lacks the F flag (qemu would not be found inside the chroot)"
    return None


# ---- the cached root -------------------------------------------------------------------------

def host_pip_settings() -> dict[str, str]:
    """The host's package-index settings that make sense inside the board (http/https indexes,
    proxy, trusted hosts): ssh forwards no environment, so they go into the root's pip.conf."""
    settings: dict[str, str] = {}
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                          text=True)
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        settings[key.split(".", 1)[-1]] = value.strip().strip("'\"")
    for key in ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            settings[key] = env
    if "proxy" not in settings:
        proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
        if proxy:
            settings["proxy"] = proxy
    keep = {}
    for key in ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout"):
        values = [v for v in settings.get(key, "").split()
                  if key not in ("index-url", "extra-index-url") or v.startswith("http")]
        if values:
            keep[key] = " ".join(values)
    return keep


def cache_key(mirror: str) -> str:
    """What the root is built from; another mirror, suite or package list is another root."""
    inputs = {"recipe": RECIPE, "suite": SUITE, "arch": ARCH, "mirror": mirror,
              "packages": PACKAGES, "pip": host_pip_settings()}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (the order to unmount them)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].replace("\\040", " "))
        if point == path or path in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all(path: Path) -> None:
    """Undo every mount below `path` (a lazy unmount when one is still busy)."""
    for point in mounts_under(path.resolve()):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remove_tree(path: Path) -> None:
    """rm -rf, but never through a mount (a /proc left mounted by a killed run)."""
    if path.exists():
        unmount_all(path)
        if mounts_under(path.resolve()):
            raise RuntimeError(f"{path}: still has mounts below it; not deleting")
        shutil.rmtree(path)


def build_root(cache: Path, mirror: str = DEFAULT_MIRROR, log: Log = say) -> Path:
    """The cached arm64 root for these inputs, built (≈ 5-7 min on 2 cores) when missing.

    One builder at a time (a lock file): a second caller waits, then finds the root ready."""
    root = cache / f"debian12-{ARCH}-{cache_key(mirror)}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".fftk-complete").exists():
            debootstrap(root, mirror, log)
    return root


def debootstrap(root: Path, mirror: str, log: Log) -> None:
    """debootstrap into a partial folder, configure it, then rename it into place; a killed
    build (its partial folder, a /proc it mounted) is cleaned up by the next one."""
    for stale in root.parent.glob(f"{root.name}.partial-*"):
        remove_tree(stale)
    partial = root.parent / f"{root.name}.partial-{os.getpid()}"
    build_log = root.parent / f"{root.name}.build.log"
    log(f"building the Debian 12 {ARCH} root in {root} (debootstrap, ~5-7 min; log: "
        f"{build_log})")
    started = time.monotonic()
    argv = ["debootstrap", f"--arch={ARCH}", "--variant=minbase",
            f"--include={','.join(PACKAGES)}", SUITE, str(partial), mirror]
    with open(build_log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        if proc.wait() != 0:
            raise RuntimeError(f"debootstrap failed (exit {proc.returncode}); see {build_log}")
        unmount_all(partial)  # debootstrap mounts /proc (and /sys) inside while configuring
        configure_root(partial)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        remove_tree(partial)
        raise
    (partial / ".fftk-complete").write_text(json.dumps({"built_s": time.monotonic() - started}))
    partial.rename(root)
    log(f"root ready in {time.monotonic() - started:.0f} s")


def configure_root(root: Path) -> None:
    """What the board needs beyond Debian's packages: the host's package-index settings (with
    its CA bundle, for a proxy that re-signs TLS), and no downloaded .debs left in the cache."""
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    lines = ["[global]"]
    if ca.is_file():
        target = root / "usr/local/share/fftk-host-ca.crt"
        target.write_bytes(ca.read_bytes())
        lines.append("cert = /usr/local/share/fftk-host-ca.crt")
    lines += [f"{key} = {value}" for key, value in host_pip_settings().items()]
    (root / "etc/pip.conf").write_text("\n".join(lines) + "\n")
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


# ---- a running board -------------------------------------------------------------------------

@dataclass
class Board:
    """A running emulated board: where to ssh and with what."""

    port: int
    key: Path  # private key root@127.0.0.1 accepts
    known_hosts: Path  # holds the board's host key
    root: Path  # the board's filesystem as seen from the host (the overlay)
    cpu: str
    user: str = "root"

    @property
    def destination(self) -> str:
        return f"{self.user}@127.0.0.1"

    def ssh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `command` on the board (tests use it to look around)."""
        return subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-i", str(self.key), "-p", str(self.port), self.destination, command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def processes_in(root: Path) -> list[int]:
    """PIDs whose root directory is `root` (sshd and everything a session left running)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "root")) == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_processes(root: Path, sshd: subprocess.Popen | None) -> None:
    """sshd by its pid first, then whatever still runs inside the board."""
    if sshd is not None and sshd.poll() is None:
        sshd.terminate()
        try:
            sshd.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sshd.kill()
            sshd.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_in(root)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while pids and processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.2)


@contextmanager
def running_board(root: Path, work: Path, cpu: str = BOARD_CPUS["rpi5"],
                  port: int | None = None, log: Log = say) -> Iterator[Board]:
    """Start the board on an overlay of `root` in `work` and tear it all down afterwards
    (sshd stopped by its pid, every process inside killed, mounts undone), even on errors."""
    work.mkdir(parents=True, exist_ok=True)
    merged = work / "board"
    for sub in ("upper", "ovl-work", "board"):
        (work / sub).mkdir(exist_ok=True)
    sshd: subprocess.Popen | None = None
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={root},upperdir={work / 'upper'},workdir={work / 'ovl-work'}",
                        str(merged)], check=True, capture_output=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(merged / "proc")], check=True,
                       capture_output=True)  # only /proc: the host's /sys crashes onnxruntime
        shutil.copyfile("/etc/resolv.conf", merged / "etc/resolv.conf")
        host_key, client_key = keygen(work / "host_ed25519"), keygen(work / "client_ed25519")
        ssh_dir = merged / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text((work / "client_ed25519.pub").read_text())
        shutil.copyfile(host_key, merged / "etc/ssh/ssh_host_fftk_ed25519")
        os.chmod(merged / "etc/ssh/ssh_host_fftk_ed25519", 0o600)
        (merged / "run/sshd").mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        (merged / SSHD_CONFIG.lstrip("/")).write_text("\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1",
            "HostKey /etc/ssh/ssh_host_fftk_ed25519", "PidFile /run/sshd-fftk.pid",
            "UsePAM no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            # every program a session starts is emulated as the board's core, not qemu's "max"
            f"SetEnv QEMU_CPU={cpu}", "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
        known_hosts = work / "known_hosts"
        key_type, key_text = (work / "host_ed25519.pub").read_text().split()[:2]
        known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_text}\n")
        log(f"starting the board's sshd on 127.0.0.1:{port} (emulated {cpu})")
        sshd = subprocess.Popen(
            ["chroot", str(merged), "/usr/sbin/sshd", "-D", "-e", "-f", SSHD_CONFIG],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "QEMU_CPU": cpu},
            stdout=subprocess.DEVNULL, stderr=(work / "sshd.log").open("w"),
            start_new_session=True)
        wait_for_port(port, sshd, work / "sshd.log")
        yield Board(port, client_key, known_hosts, merged, cpu)
    finally:
        stop_processes(merged, sshd)
        unmount_all(work)
        if not mounts_under(work.resolve()):
            shutil.rmtree(work / "upper", ignore_errors=True)


def wait_for_port(port: int, proc: subprocess.Popen, log_file: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the board's sshd exited at start: "
                               f"{log_file.read_text().strip()[-300:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the board's sshd did not listen on 127.0.0.1:{port} within {seconds} s")


# ---- command line ----------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "build", "clean"])
    parser.add_argument("--board", choices=sorted(BOARD_CPUS), default="rpi5",
                        help="which core qemu emulates (default rpi5: Cortex-A76)")
    parser.add_argument("--cache", type=Path, default=default_cache(),
                        help="cache folder (default $FFTK_BOARD_CACHE or ~/.cache/fftk/boards)")
    parser.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror")
    parser.add_argument("--port", type=int, help="sshd port on 127.0.0.1 (default: a free one)")
    ns = parser.parse_args()
    if ns.command == "clean":
        remove_tree(ns.cache)
        say(f"removed {ns.cache}")
        return 0
    reason = unavailable()
    if reason:
        say(f"cannot run here: {reason}")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up a partial build too
    root = build_root(ns.cache, ns.mirror)
    if ns.command == "build":
        print(root)
        return 0
    with tempfile.TemporaryDirectory(prefix="fftk-board-") as tmp, \
            running_board(root, Path(tmp), BOARD_CPUS[ns.board], ns.port) as board:
        print(f"board ready (emulated {ns.board}, {board.cpu}); Ctrl-C stops it\n"
              f"  ssh -i {board.key} -o UserKnownHostsFile={board.known_hosts} "
              f"-p {board.port} {board.destination}\n"
              f"  fftk deploy DEPLOY_DIR {board.destination} -p {board.port} -i {board.key} "
              f"--known-hosts {board.known_hosts}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
