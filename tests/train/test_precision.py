"""`fftk train --precision`: bf16 autocast only where native, resolved once, kept on resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fftk_cli import fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.models.checkpoint import load_checkpoint
from fftoolkit.train.precision import native_bf16, resolve, resumed

CPU = torch.device("cpu")
ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n" \
       "flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni vaes\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon\n" \
                  "flags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
NEOVERSE_V2 = "processor\t: 0\nFeatures\t: fp asimd sve2 i8mm bf16\nCPU implementer\t: 0x41\n"


@pytest.fixture
def cpuinfo(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path
    return write


def test_native_bf16_is_read_from_the_cpu_flags(cpuinfo):
    assert native_bf16(CPU, cpuinfo(ZEN3)) == (False, "a CPU without native bf16")
    assert native_bf16(CPU, cpuinfo(SAPPHIRE_RAPIDS)) == (True, "a CPU with amx_bf16")
    assert native_bf16(CPU, cpuinfo(NEOVERSE_V2))[0] is True
    assert native_bf16(CPU, Path("/nonexistent/cpuinfo"))[0] is False


def test_auto_picks_bf16_only_where_native(cpuinfo):
    assert resolve("auto", CPU, cpuinfo(ZEN3)) == "fp32"
    assert resolve("auto", CPU, cpuinfo(SAPPHIRE_RAPIDS)) == "bf16"
    assert resolve("bf16", CPU, cpuinfo(ZEN3)) == "bf16"  # asked for: kept (and slow)
    with pytest.raises(FFTKError, match="--precision must be one of"):
        resolve("fp16", CPU)


def test_a_bf16_run_resumed_without_native_bf16_says_why_and_how(cpuinfo, tmp_path):
    ckpt = tmp_path / "last.pt"
    with pytest.raises(FFTKError, match="without native bf16.*--precision fp32"):
        resumed("bf16", None, CPU, ckpt, cpuinfo(ZEN3))
    assert resumed("bf16", None, CPU, ckpt, cpuinfo(SAPPHIRE_RAPIDS)) == "bf16"
    assert resumed("bf16", "fp32", CPU, ckpt, cpuinfo(ZEN3)) == "fp32"
    assert resumed("fp32", None, CPU, ckpt, cpuinfo(SAPPHIRE_RAPIDS)) == "fp32"


@pytest.mark.slow
def test_bf16_trains_and_is_stored_in_the_checkpoint(shared_data, tmp_path):
    """A real bf16 run: finite losses, the precision in the checkpoint, a resume in fp32 on
    request, and the data-wait share in every metrics row."""
    out = tmp_path / "run"
    args = ["train", "ff_tiny_mnist", "--dataset", shared_data / "mnist", "--limit", 128,
            "--batch-size", 64, "--threads", 1, "--out", out]
    result = fftk(*args, "--epochs", 1, "--precision", "bf16")
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out / "last.pt").train_args["precision"] == "bf16"
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(abs(v) < 1e6 for v in row["loss_per_block"])
    assert 0 <= row["data_wait_pct"] <= 100
    if not native_bf16(CPU)[0]:  # this machine cannot continue in bf16 unasked
        one_line_error(fftk(*args, "--epochs", 2, "--resume"), "--precision fp32",
                       last_line=True)
    result = fftk(*args, "--epochs", 2, "--resume", "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out / "last.pt").train_args["precision"] == "fp32"
