"""Facts about the machine a benchmark ran on, so a log line can be compared months later.

Board facts (device-tree model, SoC temperature, `vcgencmd get_throttled`) are read where the
board has them and left out otherwise; nothing here needs a package beyond the standard library.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path

import fftoolkit
from fftoolkit.bench.emulation import detect_emulation

THROTTLE_NOW_BITS = 0x000F  # under-voltage, frequency capped, throttled, soft temp limit (now)


def cpu_model() -> str:
    """The CPU name from /proc/cpuinfo (x86 `model name`, ARM `Model`/`Hardware`), else platform."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def board_model() -> str | None:
    """`/proc/device-tree/model` (e.g. "Raspberry Pi 5 Model B Rev 1.0"); None on PCs."""
    try:
        return Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return None


def thermal_zones() -> dict[str, float]:
    """Every `/sys/class/thermal/thermal_zone*` temperature in degrees C, keyed by zone type."""
    temps: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        try:
            milli = int((zone / "temp").read_text().strip())
            kind = (zone / "type").read_text().strip() if (zone / "type").exists() else zone.name
        except (OSError, ValueError):
            continue
        temps[f"{zone.name}:{kind}"] = milli / 1000.0
    return temps


def throttled() -> int | None:
    """`vcgencmd get_throttled` as an int (Raspberry Pi); None where vcgencmd is absent."""
    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=5)
        return int(out.stdout.strip().split("=")[-1], 16)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def board_state() -> dict[str, object]:
    """Temperatures and throttle flags now (taken before and after each benchmark)."""
    return {"temps_c": thermal_zones(), "throttled": throttled()}


def throttle_warning(before: dict[str, object], after: dict[str, object]) -> str | None:
    """A one-line warning when the SoC throttled during the run (the timings are then suspect)."""
    flags = after.get("throttled")
    if not isinstance(flags, int):
        return None
    if flags & THROTTLE_NOW_BITS or flags != before.get("throttled"):
        return (f"the board reports throttling (vcgencmd get_throttled=0x{flags:x}); "
                "latencies may be inflated: cool the board or fix its power supply and rerun")
    return None


def git_commit() -> str:
    """The commit of the fftk checkout this code runs from, or "" for an installed wheel."""
    repo = Path(fftoolkit.__file__).resolve().parents[1]
    if not (repo / ".git").exists() or shutil.which("git") is None:
        return ""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def machine_facts() -> dict[str, object]:
    """Host, CPU, OS, Python and fftk identity for every log record, and whether the machine
    is emulated (read from /proc: an emulated latency is not a hardware figure)."""
    return {
        "hostname": socket.gethostname(),
        "arch": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 0,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "board": board_model(),
        "fftk_version": fftoolkit.__version__,
        "git_commit": git_commit(),
        **detect_emulation(),
    }
