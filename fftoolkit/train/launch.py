"""`fftk train --nproc N`: N ranks on this machine, started by torch.distributed's own elastic
launcher as `torchrun --standalone --nproc-per-node N` would, and a failed rank told in one line.

The launcher stops the other ranks as soon as one dies (it watches them every 0.1 s), so a
crash or OOM kill ends the run in seconds instead of leaving the rest blocked in a collective.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import uuid

from fftoolkit.errors import FFTKError
from fftoolkit.train.distributed import LAUNCHER_ENV, LOST_PEER_EXIT, PeerError


def launch_local(nproc: int, port: int, command: list[str], out: str) -> None:
    """Run `command` (a Python interpreter and its arguments) as `nproc` ranks over a
    rendezvous on 127.0.0.1:`port` (0: a free port); returns when every rank has finished."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    _check_port_free(port)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc,
                          run_id=f"fftk-{uuid.uuid4().hex[:12]}", rdzv_backend="c10d",
                          rdzv_endpoint=f"127.0.0.1:{port}", max_restarts=0,
                          monitor_interval=0.1)
    # the launcher's own report of a failure is many lines; the one line is ours
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    os.environ[LAUNCHER_ENV] = "1"  # the ranks inherit it: a rank that lost its peers is quiet
    try:
        elastic_launch(config, command[0])(*command[1:])
    except ChildFailedError as exc:
        codes = {rank: f.exitcode for rank, f in sorted(exc.failures.items())}
        # the ranks that died unexplained, the launcher's own SIGTERMs to the rest last
        dead = sorted((rank for rank, code in codes.items() if code not in (2, LOST_PEER_EXIT)),
                      key=lambda rank: codes[rank] == -signal.SIGTERM)
        # a rank's own one-line error is printed already; the launcher may have stopped a rank
        # that printed it too (SIGTERM) while it was exiting
        if all(codes[r] == -signal.SIGTERM for r in dead) and 2 in codes.values():
            raise PeerError("", quiet=True) from None
        rank = dead[0] if dead else next(iter(codes))
        raise FFTKError(f"rank {rank} {_death(codes[rank])}; the other ranks were stopped "
                        f"(the last complete checkpoint, if any, is in {out}: continue with "
                        "--resume)") from None


def _death(exitcode: int) -> str:
    if exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def _check_port_free(port: int) -> None:
    """A taken port fails the rendezvous with a long trace or a wait; say it in one line."""
    if not port:
        return
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise FFTKError(f"--rdzv-port {port}: the port is busy on 127.0.0.1; choose "
                            "another or leave --rdzv-port out (a free one is picked)") from None
