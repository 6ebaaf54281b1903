"""A real OpenSSH server on 127.0.0.1 for the deploy tests: Debian's /usr/sbin/sshd with a
throwaway config, host key and authorized key, all in a temp dir.

`start_sshd` returns None with the reason when this machine cannot run one (no sshd binary,
no ssh client, a server that does not come up), so the tests skip with that reason.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from loopback import free_port, keygen

SSHD = Path("/usr/sbin/sshd")


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    user: str
    key: Path  # client private key that the server accepts
    other_key: Path  # a valid key the server does not know
    known_hosts: Path  # empty at start; filled by --accept-new-host-key
    log: Path

    @property
    def destination(self) -> str:
        return f"{self.user}@127.0.0.1"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_sshd(tmp: Path) -> Server | str:
    """A running server, or the reason there cannot be one here."""
    missing = [t for t in ("ssh", "scp", "ssh-keygen") if shutil.which(t) is None]
    if not SSHD.is_file() or missing:
        return (f"OpenSSH not installed ({SSHD if not SSHD.is_file() else ', '.join(missing)} "
                "missing); run `make install-test-deps` (apt: openssh-server openssh-client)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    tmp.mkdir(parents=True, exist_ok=True)
    host_key = keygen(tmp / "host_ed25519")
    key, other = keygen(tmp / "client_ed25519"), keygen(tmp / "stranger_ed25519")
    (tmp / "authorized_keys").write_text((tmp / "client_ed25519.pub").read_text())
    (tmp / "known_hosts").write_text("")
    port = free_port()
    config = tmp / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"PidFile {tmp / 'sshd.pid'}", f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
        "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
    ]))
    log = tmp / "sshd.log"
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"sshd exited at start ({log.read_text().strip()[-300:]})"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Server(proc, port, getpass.getuser(), key, other, tmp / "known_hosts",
                              log)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    return f"sshd did not listen on 127.0.0.1:{port} within 15 s"
