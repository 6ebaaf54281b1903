"""Loopback helpers shared by the emulated board and the tests' own servers (sshd, the
torch.distributed rendezvous): a free TCP port on 127.0.0.1 and a throwaway SSH key.
Standard library only, like tools/emulated_board.py."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, comment: str = "fftk") -> Path:
    """A new passphrase-less ed25519 key pair at `path` (and `path`.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True)
    return path
