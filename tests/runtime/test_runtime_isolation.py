"""The device runtime without torch, without optional packages, and without an Edge TPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import blocked_env, fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.runtime import backends

TRAINING_SIDE = ["torch", "onnx", "PIL", "tqdm", "yaml", "safetensors", "fftoolkit.models",
                 "fftoolkit.ff", "fftoolkit.train", "fftoolkit.export", "fftoolkit.data"]


@pytest.fixture(scope="module")
def npz(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's val images as an .npz (readable without Pillow)."""
    from fftoolkit.runtime.images import load_inputs
    from fftoolkit.runtime.manifest import load_manifest

    inputs = load_inputs(tiny_bundle.parent / "tree" / "val", load_manifest(tiny_bundle).classes)
    path = tmp_path_factory.mktemp("npz") / "val.npz"
    np.savez(path, images=np.stack(inputs.images), labels=inputs.labels)
    return path


def test_runtime_modules_never_import_torch(tmp_path: Path) -> None:
    code = ("import pkgutil, importlib, sys, fftoolkit.cli.run_cmd\n"
            "for p in ('fftoolkit.runtime', 'fftoolkit.bench'):\n"
            "    for m in pkgutil.iter_modules(importlib.import_module(p).__path__):\n"
            "        importlib.import_module(f'{p}.{m.name}')\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'PIL')]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=blocked_env(tmp_path, TRAINING_SIDE))
    assert proc.returncode == 0, proc.stderr


def test_torch_fp32_opens_once_the_reference_registers(tiny_bundle: Path) -> None:
    """The runtime never imports the torch reference; importing it registers its opener."""
    code = ("import sys\n"
            "from fftoolkit.errors import FFTKError\n"
            "from fftoolkit.runtime.runner import open_bundle\n"
            "try:\n"
            "    open_bundle(sys.argv[1], fmt='torch-fp32')\n"
            "except FFTKError as exc:\n"
            "    print(exc)\n"
            "assert 'fftoolkit.reference' not in sys.modules and 'torch' not in sys.modules\n"
            "import fftoolkit.reference\n"
            "print(open_bundle(sys.argv[1], fmt='torch-fp32').graph.info.runtime)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tiny_bundle)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    refused, opened = proc.stdout.strip().splitlines()
    assert refused.startswith("format 'torch-fp32': no graph opener for 'torch' models")
    assert "import fftoolkit.reference" in refused and "pip install fftoolkit" in refused
    assert opened == "torch"


def test_run_and_bench_work_where_torch_cannot_be_imported(tiny_bundle: Path, npz: Path,
                                                           tmp_path: Path) -> None:
    env = blocked_env(tmp_path, TRAINING_SIDE)
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True,
                           text=True, env=env)
    assert probe.returncode != 0 and "blocked by the test" in probe.stderr
    for backend in ("onnxruntime", "litert"):
        proc = fftk("run", str(tiny_bundle), str(npz), "--backend", backend, "-q", env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("80 image(s)") and "error" in proc.stdout
    proc = fftk("bench", str(tiny_bundle), str(npz), "--formats", "onnx-int8,tflite-int8",
                "--runs", "5", "--warmup", "1", "--no-probe", "--no-plot",
                "--log-dir", str(tmp_path / "logs"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "| tflite-int8 | litert" in proc.stdout and "| onnx-int8" in proc.stdout
    # The reference needs torch: a clear error naming it, not a traceback.
    proc = fftk("run", str(tiny_bundle), str(npz), "--backend", "torch", env=env)
    assert one_line_error(proc).startswith("error: backend 'torch' needs PyTorch")
    # Image files need Pillow, and the message says so.
    proc = fftk("run", str(tiny_bundle), str(tiny_bundle.parent / "tree" / "val"), env=env)
    one_line_error(proc, "needs Pillow")


@pytest.mark.parametrize("backend,package", [("litert", "ai_edge_litert"),
                                             ("onnxruntime", "onnxruntime")])
def test_missing_backend_package_says_what_to_install(tiny_bundle: Path, npz: Path,
                                                      tmp_path: Path, backend: str,
                                                      package: str) -> None:
    proc = fftk("run", str(tiny_bundle), str(npz), "--backend", backend,
                env=blocked_env(tmp_path, [package]))
    one_line_error(proc, f"backend '{backend}' needs the {package} package",
                   "pip install 'fftoolkit[device]'")


def test_edgetpu_absent_is_one_line_exit_2(tiny_bundle: Path, npz: Path) -> None:
    proc = fftk("run", str(tiny_bundle), str(npz), "--backend", "edgetpu")
    line = one_line_error(proc, "libedgetpu.so.1", "libedgetpu1-std")
    assert line.startswith("error: Edge TPU runtime")


def test_edgetpu_asks_the_delegate_api_for_libedgetpu(tiny_bundle: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The delegate hook is called with the platform's Edge TPU library name."""
    import ai_edge_litert.interpreter as litert

    asked: list[str] = []

    def fake_load_delegate(library: str, options: dict | None = None) -> None:
        asked.append(library)
        raise ValueError(f"Failed to load delegate from {library}")

    monkeypatch.setattr(litert, "load_delegate", fake_load_delegate)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(FFTKError, match="libedgetpu.so.1 could not be loaded"):
        backends.open_session("edgetpu", tiny_bundle / "model.int8.tflite", 1)
    assert asked == ["libedgetpu.so.1"]
