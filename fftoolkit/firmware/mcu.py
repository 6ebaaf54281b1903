"""`fftk firmware --board <mcu board>`: the bundle's C engine + a board's startup code, linker
script and Makefile, with a few test images embedded, checked against a real part's memory.

The directory builds with a cross compiler and boots in an emulator (`make run`) or is flashed
by the part's own tools; `fftk deploy` (SSH to a Linux board) refuses it:

    c/                 the C engine from the bundle's c-int8 artifact (sha256-checked)
    fftk_testset.c     the test images, int8 NHWC quantized with the model's input parameters,
                       their labels and the model's MACs per image
    images.bin         the same images as raw bytes: `c/build/fftk_infer < images.bin` is the
                       host build's answer for them (`make -C c host`)
    main.c, startup.c, board.h, *.ld, Makefile, report.sh, README.md   the board's templates
    firmware.json      what was rendered: model, board, part, the memory it needs
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import fftoolkit
from fftoolkit.atomic import atomic_dir, refuse_overlap
from fftoolkit.errors import FFTKError
from fftoolkit.firmware.templates import Board, Part, board_files, load_parts, render_text
from fftoolkit.runtime.c_backend import read_c_sources
from fftoolkit.runtime.demo_set import load_demo_set
from fftoolkit.runtime.images import load_inputs
from fftoolkit.runtime.manifest import C_KEY, Manifest, load_manifest, manifest_sha256
from fftoolkit.runtime.preprocess import Preprocessor
from fftoolkit.runtime.quant import quantize
from fftoolkit.untrusted import check_name

MCU_FILE = "firmware.json"  # marks an MCU firmware directory (fftk deploy refuses it)
IMAGES_BIN = "images.bin"
TESTSET = "fftk_testset.c"
STACK_BYTES = 4096  # the stack the linker reserves; main() fails if the paint shows it full
MAX_IMAGES = 64
CROSS_GCC, CROSS_SIZE = "arm-none-eabi-gcc", "arm-none-eabi-size"
BUILD_TIMEOUT_S = 300
ARENA = re.compile(rb"#define FFTK_ARENA_SIZE ([0-9]{1,10})\b")
CONST_ARRAY = re.compile(rb"\bconst (u?int(8|16|32)_t) [A-Za-z_][A-Za-z0-9_]* ?\[([0-9]{1,10})\]")


@dataclass
class Footprint:
    """The memory an image needs: measured from the built image when the cross compiler is
    here, else a lower bound from the engine's sources (`how` says which)."""

    flash_bytes: int
    ram_bytes: int
    how: str


@dataclass
class McuConfig:
    """firmware.json: what `fftk firmware` rendered for a microcontroller board."""

    model: str
    board: str
    board_title: str
    part: str | None
    part_title: str
    flash_limit_bytes: int
    ram_limit_bytes: int
    stack_bytes: int
    images: int
    image_source: str
    footprint: Footprint
    manifest_sha256: str
    kind: str = "mcu"
    fftk_version: str = fftoolkit.__version__
    created: str = ""
    notes: list[str] = field(default_factory=list)


def limits(board: Board, part_name: str | None) -> tuple[Part | None, int, int]:
    """The part (or None: the board's own regions) and the flash and RAM the image may use."""
    if part_name is None:
        return None, board.flash_bytes, board.ram_bytes
    parts = load_parts()
    part = parts.get(part_name.lower())
    if part is None:
        raise FFTKError(f"--part {part_name}: unknown part; known: {', '.join(sorted(parts))}")
    if part.flash_bytes > board.flash_bytes or part.ram_bytes > board.ram_bytes:
        raise FFTKError(f"--part {part.name}: {part.flash_bytes:,} B flash / {part.ram_bytes:,} "
                        f"B RAM is more than the {board.name} provides ({board.flash_bytes:,} / "
                        f"{board.ram_bytes:,})")
    return part, part.flash_bytes, part.ram_bytes


def embedded_images(manifest: Manifest, source: str | Path | None, n: int
                    ) -> tuple[np.ndarray, np.ndarray, str]:
    """`n` images (seeded subset) quantized as the C engine's input, their labels (-1 = none)
    and where they came from: `source` (file, folder, .npz) or the bundled demo set."""
    if not 1 <= n <= MAX_IMAGES:
        raise FFTKError(f"--images {n}: embed 1 to {MAX_IMAGES} test images")
    inputs = (load_demo_set(manifest.classes) if source is None
              else load_inputs(source, manifest.classes)).subset(n)
    art = manifest.artifacts[C_KEY]
    info = art.fused.inputs[0]
    prep = Preprocessor(manifest.input_shape, manifest.normalization, art.layout)
    prep.resize_note(inputs.images, inputs.names)  # raises on a wrong channel count
    x = quantize(prep(inputs.images), info)
    if x[0].size != int(np.prod(info.shape[1:])):
        raise FFTKError(f"the C engine's input is {info.shape[1:]}, the images give "
                        f"{list(x.shape[1:])}")
    labels = np.asarray(inputs.labels if len(inputs.labels) else [-1] * len(x), np.int64)
    labels = np.where((labels >= 0) & (labels < len(manifest.classes)), labels, -1)
    return x, labels, "the bundled demo set" if source is None else str(source)


def testset_source(x: np.ndarray, labels: np.ndarray, macs: int) -> str:
    """fftk_testset.c: the images as const int8 arrays (flash), labels, MACs per image."""
    rows = []
    for image in x.reshape(len(x), -1):
        values = [str(int(v)) for v in image]
        lines = [", ".join(values[i:i + 24]) for i in range(0, len(values), 24)]
        rows.append("  {\n    " + ",\n    ".join(lines) + "\n  }")
    return ("/* Generated by fftk firmware: the embedded test images. Do not edit. */\n"
            '#include "fftk_testset.h"\n\n'
            f"const int fftk_num_images = {len(x)};\n"
            f"const int8_t fftk_images[{len(x)}][FFTK_INPUT_SIZE] = {{\n"
            + ",\n".join(rows) + "\n};\n"
            f"const int16_t fftk_image_labels[{len(x)}] = {{"
            + ", ".join(str(int(v)) for v in labels) + "};\n"
            f"const uint32_t fftk_macs_per_image = {macs}u;\n")


def lower_bound(sources: dict[str, bytes], x: np.ndarray) -> Footprint:
    """Without a cross compiler: the const arrays of the engine and the test images (flash),
    the arena and the reserved stack (RAM); the code itself is not counted."""
    consts = sum(int(n) * int(bits) // 8 for src in sources.values()
                 for _, bits, n in CONST_ARRAY.findall(src))
    return Footprint(consts + x.size, arena_bytes(sources) + STACK_BYTES,
                     "lower bound from the C sources: const data and test images; arena and "
                     "reserved stack")


def arena_bytes(sources: dict[str, bytes]) -> int:
    found = ARENA.search(sources.get("fftk_model.h", b""))
    if found is None:
        raise FFTKError("c/fftk_model.h: no FFTK_ARENA_SIZE; is this an fftk C engine?")
    return int(found.group(1))


def toolchain() -> bool:
    return all(shutil.which(tool) for tool in (CROSS_GCC, CROSS_SIZE, "make"))


def measure(folder: Path, board: Board) -> Footprint:
    """Build `folder` with the board's full regions and read the image's size: flash = text +
    data, RAM = data + bss (the arena and the reserved stack included)."""
    build = subprocess.run(["make", "-s", f"FLASH_BYTES={board.flash_bytes}",
                            f"RAM_BYTES={board.ram_bytes}", "build/firmware.elf"],
                           cwd=folder, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if build.returncode != 0:
        said = [ln for ln in (build.stderr + build.stdout).splitlines() if ln.strip()]
        raise FFTKError(f"building the firmware with {CROSS_GCC} failed: "
                        f"{said[-1] if said else 'no output'}")
    size = subprocess.run([CROSS_SIZE, "-B", "build/firmware.elf"], cwd=folder,
                          capture_output=True, text=True, check=True, timeout=60)
    text, data, bss = (int(v) for v in size.stdout.splitlines()[1].split()[:3])
    shutil.rmtree(folder / "build")
    return Footprint(text + data, data + bss, f"measured: {CROSS_SIZE} of the image built "
                     "with -O2")


def check_fit(model: str, fp: Footprint, where: str, flash: int, ram: int) -> None:
    """One line with the figures if the image does not fit `where`."""
    over = [f"{what} {need:,} B > {have:,} B" for what, need, have in
            (("flash", fp.flash_bytes, flash), ("RAM", fp.ram_bytes, ram)) if need > have]
    if over:
        raise FFTKError(f"{model} does not fit the {where}: {', '.join(over)} ({fp.how}); "
                        "pick a larger --part or a smaller model")


def render_mcu(bundle: str | Path, board: Board, out: str | Path, *, part: str | None = None,
               images: str | Path | None = None, n_images: int | None = None,
               force: bool = False, expect_sha256: str | None = None) -> McuConfig:
    """Write the firmware directory for the MCU `board` to `out` (atomically); refuse, in one
    line, a model that does not fit the part (or the board when no part is given)."""
    bundle, out = Path(bundle), Path(out)
    refuse_overlap(out, {"bundle": bundle})
    chosen, flash, ram = limits(board, part)
    manifest = load_manifest(bundle, expect_sha256)
    sources = read_c_sources(bundle, manifest)
    for name in sources:
        check_name(name, "C engine file", bundle / "manifest.json")
    x, labels, source = embedded_images(manifest, images,
                                         board.images if n_images is None else n_images)
    if out.exists() and not force:
        raise FFTKError(f"{out}: already exists (pass --force to replace it)")
    where = chosen.title if chosen else f"{board.name}'s memory"
    fp = lower_bound(sources, x)
    check_fit(manifest.model_name, fp, where, flash, ram)
    cfg = McuConfig(model=manifest.model_name, board=board.name, board_title=board.title,
                    part=chosen.name if chosen else None, part_title=where,
                    flash_limit_bytes=flash, ram_limit_bytes=ram, stack_bytes=STACK_BYTES,
                    images=len(x), image_source=source, footprint=fp,
                    manifest_sha256=expect_sha256 or manifest_sha256(bundle),
                    created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    values = {"MODEL": cfg.model, "BOARD": board.name, "BOARD_TITLE": board.title,
              "PART": cfg.part or "none", "PART_TITLE": where, "FLASH_BYTES": str(flash),
              "RAM_BYTES": str(ram), "STACK_BYTES": str(STACK_BYTES),
              "FFTK_VERSION": cfg.fftk_version}
    with atomic_dir(out, force=force) as tmp:
        (tmp / "c").mkdir()
        for name, data in sources.items():
            (tmp / "c" / name).write_bytes(data)
        for rel, src in board_files(board).items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            allowed = values if src.suffix == ".md" else {k: v for k, v in values.items()
                                                          if k != "MODEL"}
            dest.write_text(render_text(src.read_text(), allowed, src))
            shutil.copymode(src, dest)
        (tmp / TESTSET).write_text(testset_source(x, labels, macs_per_image(manifest)))
        (tmp / IMAGES_BIN).write_bytes(np.ascontiguousarray(x).tobytes())
        if toolchain():
            cfg.footprint = measure(tmp, board)
            check_fit(cfg.model, cfg.footprint, where, flash, ram)
        else:
            cfg.notes.append(f"no {CROSS_GCC} on PATH: the fit check used a lower bound "
                             "(install gcc-arm-none-eabi to measure the image)")
        (tmp / MCU_FILE).write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    return cfg


def macs_per_image(manifest: Manifest) -> int:
    """The manifest's MACs per image (0 when unknown: the report then gives no per-MAC figure)."""
    macs = manifest.extra.get("macs_per_image")
    return macs if isinstance(macs, int) and 0 <= macs < 2**32 else 0


@dataclass
class PrintedImage:
    """One `fftk-image` line of the firmware's output (main.c)."""

    index: int
    cls: int
    label: int
    instructions: int
    outputs: bytes  # the int8 logits, then the goodness as little-endian int32: fftk_infer's


def printed_images(log: str) -> list[PrintedImage]:
    """The images a firmware run classified, from its output (`build/run.log`)."""
    rows = []
    for line in log.splitlines():
        f = line.split()
        if len(f) == 12 and f[0] == "fftk-image":
            rows.append(PrintedImage(int(f[1]), int(f[3]), int(f[5]), int(f[7]),
                                     bytes.fromhex(f[9] + f[11])))
    return rows
