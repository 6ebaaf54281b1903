"""fftk firmware --board mps2-an386: the shipped FF_tiny's C engine, built with arm-none-eabi-gcc
and booted in qemu-system-arm (Cortex-M4, -icount shift=0), prints per image the same int8
logits and goodness as the host build (`make -C c host`, fftk_infer) on the same int8 images;
its report.json fits the part and counts instructions. A part too small is refused in one line,
and `fftk deploy` refuses the firmware directory.

Without the cross toolchain or QEMU the build-and-boot tests skip saying why; under CI's
FFTK_REQUIRE_EMULATORS=1 that fails (tests/emulators.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from emulators import skip_or_fail
from fftk_cli import fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.firmware.mcu import MCU_FILE, Footprint, check_fit, printed_images
from fftoolkit.firmware.templates import PLACEHOLDER, load_parts
from fftoolkit.runtime.c_backend import read_c_sources
from fftoolkit.runtime.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED_TINY = REPO / "models" / "weights" / "ff_tiny-cifar10.safetensors"
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objdump", "qemu-system-arm",
         "make", "cc")
PART = "stm32f746"
N_IMAGES = 3


@pytest.fixture(scope="module")
def c_bundle(tmp_path_factory: pytest.TempPathFactory, cifar_jpeg_tar: Path) -> Path:
    """The shipped FF_tiny exported with --target c --quantize int8 (its c-int8 engine)."""
    from fftoolkit.export import ExportOptions, export_bundle

    out = tmp_path_factory.mktemp("mcu") / "ff_tiny"
    export_bundle(SHIPPED_TINY, out, ExportOptions(target="c", quantize="int8",
                                                    calib_dataset=str(cifar_jpeg_tar),
                                                    calib_samples=64, eval_samples=0),
                  progress=False)
    return out


@pytest.fixture(scope="module")
def booted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fftk firmware --part stm32f746`, then `make report`: built, booted, measured. The
    tools are checked before the bundle is exported, so a skip costs nothing."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not on PATH (make install-test-deps installs "
                     "gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)",
                     "emulated Cortex-M4 (qemu-system-arm -M mps2-an386)")
    c_bundle = request.getfixturevalue("c_bundle")
    out = tmp_path_factory.mktemp("mcu-fw") / "tiny-m4"
    result = fftk("firmware", c_bundle, "--board", "mps2-an386", "--part", PART,
                  "--images", N_IMAGES, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "measured" in result.stdout and "STM32F746" in result.stdout, result.stdout
    subprocess.run(["make", "-s", "report"], cwd=out, check=True, capture_output=True,
                   timeout=300)
    return out


def test_cortex_m4_prints_what_the_host_build_computes(booted: Path) -> None:
    printed = printed_images((booted / "build" / "run.log").read_text())
    subprocess.run(["make", "-s", "-C", "c", "host"], cwd=booted, check=True,
                   capture_output=True)
    host = subprocess.run([booted / "c" / "build" / "fftk_infer"],
                          input=(booted / "images.bin").read_bytes(), capture_output=True,
                          check=True).stdout
    assert [p.index for p in printed] == list(range(N_IMAGES))
    records = np.frombuffer(host, np.uint8).reshape(N_IMAGES, -1)
    for p, record in zip(printed, records, strict=True):
        assert p.outputs == record.tobytes(), f"image {p.index}: MCU and host outputs differ"
        assert p.cls == int(np.argmax(record[:10].view(np.int8)))
        assert p.instructions > 0


def test_report_fits_the_part_and_counts_instructions(booted: Path, c_bundle: Path) -> None:
    report = json.loads((booted / "c" / "report.json").read_text())
    part = load_parts()[PART]
    header = (booted / "c" / "fftk_model.h").read_text()
    arena = int(re.search(r"#define FFTK_ARENA_SIZE (\d+)", header).group(1))
    macs = load_manifest(c_bundle).extra["macs_per_image"]
    assert report["part"] == PART and report["fits_part"] is True
    assert report["part_flash_bytes"] == part.flash_bytes
    assert report["part_ram_bytes"] == part.ram_bytes
    # flash holds FF_tiny's ~154 k int8 weights; RAM: the arena plus a measured stack
    assert 154_000 < report["flash_bytes"] <= part.flash_bytes
    assert report["static_ram_bytes"] <= part.ram_bytes
    assert report["arena_bytes"] == arena
    assert 0 < report["stack_high_water_bytes"] < report["stack_reserved_bytes"]
    assert report["ram_bytes"] == arena + report["stack_high_water_bytes"] <= part.ram_bytes
    assert report["macs"] == macs
    # instructions are measured (the timer moved) and plausible for the MACs: a Cortex-M4
    # needs at least half an instruction per MAC (SMLAD: two per instruction)
    assert report["images"] == N_IMAGES
    assert report["instructions_min"] <= report["instructions_per_image"] <= \
        report["instructions_max"]
    assert 0.5 * macs < report["instructions_per_image"] < 50 * macs
    # the DSP kernels: 1.42 per MAC with arm-none-eabi-gcc 12.2 (issue 13's target: 1.5); the
    # plain C path built for a Cortex-M3 takes 3.8, TFLM's reference loops took 8.4
    assert report["instructions_per_mac"] < 2.0
    assert report["instructions_per_mac"] == pytest.approx(
        report["instructions_per_image"] / macs, abs=1e-3)
    assert abs(report["calibration_measured"] - report["calibration_expected"]) <= 40


def test_the_m4_build_runs_the_dsp_kernels(booted: Path) -> None:
    """-mcpu=cortex-m4 defines __ARM_FEATURE_DSP, so the image holds the DSP kernels (SXTB16 +
    SMLAD: two MACs per instruction), not the plain C loops the host build runs (that both give
    the same bytes is the test above); nothing else in the image uses these instructions."""
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "build/firmware.elf"], cwd=booted,
                         check=True, capture_output=True, text=True).stdout
    assert re.search(r"\ssmlad\s", dis) and re.search(r"\ssxtb16\s", dis), \
        "the Cortex-M4 image has no SMLAD/SXTB16: the DSP kernels were not compiled"


def test_a_part_too_small_is_refused_with_the_figures(c_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "f030"
    line = one_line_error(fftk("firmware", c_bundle, "--board", "mps2-an386", "--part",
                               "stm32f030r8", "--out", out), "does not fit", "STM32F030R8")
    assert re.search(r"flash [\d,]+ B > 65,536 B", line) and re.search(r"RAM [\d,]+ B > 8,192 B",
                                                                        line)
    assert not out.exists()


def test_fit_check_with_explicit_limits() -> None:
    fp = Footprint(flash_bytes=1000, ram_bytes=500, how="measured")
    check_fit("m", fp, "part", flash=1000, ram=500)  # exactly full fits
    with pytest.raises(FFTKError, match=r"m does not fit the part: RAM 500 B > 499 B \(measured"):
        check_fit("m", fp, "part", flash=1000, ram=499)


def test_rendered_mcu_dir_is_complete_and_deploy_refuses_it(c_bundle: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "fw"
    assert fftk("firmware", c_bundle, "--board", "mps2-an386", "--images", 1,
                "--out", out).returncode == 0
    cfg = json.loads((out / MCU_FILE).read_text())
    assert cfg["kind"] == "mcu" and cfg["model"] == "ff_tiny" and cfg["images"] == 1
    assert sorted(p.name for p in (out / "c").iterdir()) == sorted(read_c_sources(
        c_bundle, load_manifest(c_bundle)))
    for path in out.iterdir():
        if path.is_file() and path.name != "images.bin":
            assert not PLACEHOLDER.search(path.read_text()), path.name
    assert (out / "images.bin").stat().st_size == 32 * 32 * 3
    assert "ff_tiny" in (out / "README.md").read_text()
    assert "ff_tiny" not in (out / "Makefile").read_text()  # bundle text only in Markdown
    one_line_error(fftk("deploy", out, "root@127.0.0.1"), "microcontroller", "make -C")
    one_line_error(fftk("firmware", c_bundle, "--board", "rpi5", "--part", PART,
                        "--out", tmp_path / "pi"), "--part", "only for microcontroller boards")
    assert not (tmp_path / "pi").exists()
