"""OpenSSH from Python: argv lists for ssh/scp/rsync, remote scripts quoted with shlex, and
ssh's failures turned into one-line errors that say what to do.

Nothing goes through a local shell. Remote commands are one `sh -c '<script>'` string, so the
board's login shell (bash, zsh, fish) only ever sees a single quoted word.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fftoolkit.errors import FFTKError

SSH_FAILED = 255  # ssh's own exit status (connection, auth, host key)
UNREACHABLE = ("connection refused", "no route to host", "network is unreachable",
               "could not resolve hostname", "name or service not known", "timed out",
               "connection closed by", "connection reset")
Log = Callable[[str], None]


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def remote_path(path: str) -> str:
    """Shell-quote a remote path but let a leading `~/` expand to the board user's home."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


@dataclass
class Remote:
    """How to reach the board: `user@host`, port, key and host-key policy."""

    destination: str
    port: int | None = None
    identity: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_key: bool = False  # trust a board's key on first use (accept-new)
    options: list[str] = field(default_factory=list)  # extra `-o Key=Value` for ssh
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        if not self.destination or self.destination.startswith("-") or any(
                c.isspace() for c in self.destination):
            raise FFTKError(f"'{self.destination}': not a board address (expected USER@HOST)")
        if self.identity is not None and not Path(self.identity).is_file():
            raise FFTKError(f"{self.identity}: identity file (private key) not found")
        for tool in ("ssh", "scp"):
            if shutil.which(tool) is None:
                raise FFTKError(f"'{tool}' not found on this machine; install the OpenSSH client "
                                "(Debian/Ubuntu: sudo apt install openssh-client)")

    @property
    def host(self) -> str:
        return self.destination.rpartition("@")[2]

    @property
    def label(self) -> str:
        return f"{self.destination}:{self.port}" if self.port else self.destination

    def _options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if self.identity is not None:
            opts += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts is not None:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.accept_new_host_key:
            opts += ["-o", "StrictHostKeyChecking=accept-new"]
        for opt in self.options:
            opts += ["-o", opt]
        return opts

    def ssh_argv(self, script: str) -> list[str]:
        """ssh running `script` under `sh -c` on the board."""
        port = ["-p", str(self.port)] if self.port else []
        return ["ssh", *self._options(), *port, self.destination, "sh -c " + shlex.quote(script)]

    def spec(self, path: str) -> str:
        """`user@host:path` for scp/rsync (IPv6 literals in brackets)."""
        user, at, host = self.destination.rpartition("@")
        host = f"[{host}]" if ":" in host else host
        return f"{user}{at}{host}:{path}"

    def scp_argv(self, sources: list[str], dest: str) -> list[str]:
        port = ["-P", str(self.port)] if self.port else []
        return ["scp", "-q", "-r", "-p", *self._options(), *port, *sources, dest]

    def rsync_argv(self, args: list[str]) -> list[str]:
        port = ["-p", str(self.port)] if self.port else []
        shell = shlex.join(["ssh", *self._options(), *port])
        return ["rsync", "-a", "--protect-args", "-e", shell, *args]

    def explain(self, lines: list[str], what: str) -> FFTKError:
        """ssh's last words -> one line naming the board, the problem and the fix."""
        text = " ".join(lines).lower()
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        if "host key verification failed" in text or "identification has changed" in text:
            return FFTKError(
                f"{self.label}: host key unknown or changed ({last}); check it with a plain "
                "`ssh` once, remove a stale key with `ssh-keygen -R HOST`, or pass "
                "--accept-new-host-key to trust a new board's key on first use")
        if "permission denied" in text or "too many authentication failures" in text:
            key = f" -i {self.identity}" if self.identity else ""
            return FFTKError(
                f"{self.label}: authentication failed ({last}); install your public key on the "
                f"board (ssh-copy-id{key} {self.destination}) or pass --identity KEY")
        if any(s in text for s in UNREACHABLE):
            return FFTKError(
                f"{self.label}: cannot reach the board ({last}); check the address and --port, "
                "that the board is on the network, and that its SSH server runs "
                "(sudo systemctl enable --now ssh)")
        return FFTKError(f"{self.label}: {what} failed ({last})")

    def run(self, script: str, what: str, log: Log | None = None) -> tuple[int, list[str]]:
        """Run `script` on the board; ssh's own failures raise, other exit codes are returned."""
        return run_command(self.ssh_argv(script), what, self, log)


def run_command(argv: list[str], what: str, remote: Remote,
                log: Log | None = None) -> tuple[int, list[str]]:
    """Run a local ssh/scp/rsync argv, stream output to `log`, raise on ssh's own failures."""
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if log is not None:
                log(f"  | {line}")
    lines = list(tail)
    if proc.returncode == SSH_FAILED:
        raise remote.explain(lines, what)
    return proc.returncode, lines
