"""`fftk train --precision fp32|bf16|auto`: bf16 autocast only where the hardware has it.

bf16 pays on CPUs with native bf16 units (Intel AMX / AVX512-BF16, ARMv8.6 BF16) and on CUDA
GPUs that support it; elsewhere PyTorch emulates it and a step is several times slower. So
`auto` picks bf16 only where it is native and fp32 otherwise. The choice is resolved once, when
a run starts, and stored in its checkpoint: a resume on another machine continues in the same
precision, or stops and says why (bf16 on a machine without native bf16) and how to go on.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fftoolkit.errors import FFTKError

PRECISIONS = ("fp32", "bf16", "auto")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")  # x86 `flags`, ARM `Features`
CPUINFO = Path("/proc/cpuinfo")


def native_bf16(device: torch.device, cpuinfo: Path = CPUINFO) -> tuple[bool, str]:
    """(does `device` do bf16 natively, what it is) — read from the hardware, not guessed."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return bool(torch.cuda.is_bf16_supported()), name
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False, "a CPU whose features cannot be read"
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    found = [f for f in CPU_BF16_FLAGS if f in flags]
    return bool(found), f"a CPU with {found[0]}" if found else "a CPU without native bf16"


def resolve(requested: str, device: torch.device, cpuinfo: Path = CPUINFO) -> str:
    """`auto` -> bf16 where native, else fp32; an explicit choice is kept."""
    if requested not in PRECISIONS:
        raise FFTKError(f"--precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    return "bf16" if native_bf16(device, cpuinfo)[0] else "fp32"


def resumed(saved: str, requested: str | None, device: torch.device, ckpt: Path,
            cpuinfo: Path = CPUINFO) -> str:
    """The precision a resumed run continues in: the saved one (or an explicit --precision);
    a bf16 run on a machine without native bf16 stops with the way forward."""
    if requested is not None:
        return resolve(requested, device, cpuinfo)
    native, what = native_bf16(device, cpuinfo)
    if saved == "bf16" and not native:
        raise FFTKError(f"{ckpt}: this run trains with bf16 autocast, but this machine has "
                        f"{what} (bf16 would be emulated, several times slower); resume with "
                        "--precision fp32 to continue in fp32, or --precision bf16 to keep bf16")
    return saved


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The context every forward of a training step runs in (disabled for fp32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=precision == "bf16")
