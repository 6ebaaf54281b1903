"""Is this machine emulated? Read from the machine itself (its /proc), never from the environment.

A latency measured under an emulator (qemu-user running an arm64 userland on an x86-64 host,
or a QEMU "virt" machine) says how fast the emulator is, not the board: such a log must say so
rather than pass for a hardware figure. Two rules:

- user-mode emulation: the kernel's architecture family (`sys/kernel/arch`, else guessed from
  `cpuinfo`'s fields) differs from the userland's (`platform.machine()`, which qemu-user fakes).
  A 32-bit ARM userland on an arm64 kernel, or i686 on x86_64, is the same family: native.
- a QEMU "virt" machine: its device tree is `linux,dummy-virt` (or names QEMU), not a board.

Standard library only (it also runs on boards from `fftk_board.py check`); a file that cannot
be read counts as unknown, and unknown is "not emulated".
"""

from __future__ import annotations

import platform
from pathlib import Path

VIRT_COMPATIBLE = ("linux,dummy-virt", "riscv-virtio")
# qemu-user-static's binfmt_misc handler for a `platform.machine()` other than qemu-<machine>
QEMU_HANDLERS = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64", "i486": "qemu-i386",
                 "i586": "qemu-i386", "i686": "qemu-i386"}


def arch_family(name: str) -> str | None:
    """x86_64/i686/amd64 -> "x86", aarch64/arm64/armv7l -> "arm", riscv64 -> "riscv"."""
    name = name.strip().lower()
    if not name:
        return None
    if name in ("x86_64", "amd64", "x86", "x64", "i86pc") or (
            len(name) == 4 and name[0] == "i" and name[2:] == "86"):
        return "x86"
    if name.startswith(("aarch64", "arm")):
        return "arm"
    if name.startswith("riscv"):
        return "riscv"
    for family in ("ppc", "s390", "mips", "loongarch", "sparc"):
        if name.startswith(family):
            return family
    return name


def detect_emulation(proc: Path = Path("/proc"), machine: str | None = None) -> dict:
    """`{"emulated": bool, "emulator": str | None}` for the machine whose /proc is `proc`
    (`machine`: the userland's architecture, `platform.machine()` by default)."""
    machine = platform.machine() if machine is None else machine
    user = arch_family(machine)
    kernel_name, kernel = _kernel_arch(Path(proc))
    if user and kernel and user != kernel:
        article = "an" if kernel_name[:1].lower() in "aeiox" else "a"
        what = f"{machine} code on {article} {kernel_name} kernel"
        handler = _binfmt_handler(Path(proc), machine)
        return {"emulated": True, "emulator": f"qemu-user: {what} (binfmt_misc {handler})"
                if handler else f"user-mode emulation: {what}"}
    virt = _virt_machine(Path(proc))
    if virt:
        return {"emulated": True, "emulator": virt}
    return {"emulated": False, "emulator": None}


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None


def _kernel_arch(proc: Path) -> tuple[str, str | None]:
    """(the kernel's architecture as named, its family); (.., None) when it cannot be told."""
    arch = (_read(proc / "sys" / "kernel" / "arch") or "").strip()
    if arch:
        return arch, arch_family(arch)
    family = _cpuinfo_family(_read(proc / "cpuinfo") or "")
    return (family or ""), family


def _cpuinfo_family(text: str) -> str | None:
    """x86 has vendor_id + flags, ARM "CPU implementer", RISC-V "isa"; else None."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip().lower(), value.strip())
    if fields.get("vendor_id", "").startswith("IBM/S390"):
        return "s390"
    if "vendor_id" in fields and "flags" in fields:
        return "x86"
    if "cpu implementer" in fields:
        return "arm"
    if "isa" in fields:
        return "riscv"
    return None


def _binfmt_handler(proc: Path, machine: str) -> str | None:
    """The binfmt_misc handler that runs `machine` code (qemu-<machine>), if registered."""
    machine = machine.strip().lower()
    arm32 = "qemu-arm" if machine.startswith("arm") and machine != "arm64" else None
    names = [f"qemu-{machine}", QEMU_HANDLERS.get(machine) or arm32]
    for name in filter(None, names):
        try:
            if (proc / "sys" / "fs" / "binfmt_misc" / name).is_file():
                return name
        except (OSError, ValueError):
            continue
    return None


def _virt_machine(proc: Path) -> str | None:
    """A description when the device tree is a QEMU "virt" machine's, else None."""
    tree = proc / "device-tree"
    compatible = [c for c in (_read(tree / "compatible") or "").split("\0") if c]
    model = (_read(tree / "model") or "").rstrip("\0").strip()
    for name in compatible:
        if name in VIRT_COMPATIBLE:
            return f"QEMU virt machine (device-tree compatible {name})"
    if "qemu" in model.lower():
        return f"QEMU virt machine (device-tree model {model})"
    return None
