"""fftk firmware: a real exported bundle -> a deploy directory for every board, and the parts
that run on the board (install.sh, fftk_board.py, the wheel) exercised on this machine."""

from __future__ import annotations

import base64
import ctypes.util
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fftk_cli import cli_env, fftk, one_line_error

from fftoolkit.firmware.deploy import check_deploy_dir
from fftoolkit.firmware.render import requirements
from fftoolkit.firmware.templates import PLACEHOLDER, boards_by_kind, list_boards
from fftoolkit.runtime.manifest import load_manifest, verify_file

REPO = Path(__file__).resolve().parents[2]
BOARDS = ["coral-dev", "coral-usb", "rpi4", "rpi5"]  # the Linux boards (kind "linux")
TEXT_FILES = ["install.sh", "fftk_board.py", "requirements.txt", "README.md",
              "fftk-bench.service.in", "fftk-bench.timer.in", "deploy.json"]


@pytest.fixture(scope="module")
def rendered(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("firmware")
    runs = {board: fftk("firmware", tiny_bundle, "--board", board, "--out", out / board)
            for board in BOARDS}
    for board, result in runs.items():
        assert result.returncode == 0, f"{board}: {result.stderr}"
    return {board: (out / board, result) for board, result in runs.items()}


def test_every_board_gets_a_complete_directory(rendered, tiny_bundle):
    assert boards_by_kind() == {"linux": BOARDS, "mcu": ["mps2-an386"]}
    assert list_boards() == sorted(BOARDS + ["mps2-an386"])
    manifest = load_manifest(tiny_bundle)
    for board, (out, _) in rendered.items():
        for name in TEXT_FILES:
            text = (out / name).read_text()
            assert not PLACEHOLDER.search(text), f"{board}/{name}: unfilled placeholder"
        assert (out / "install.sh").stat().st_mode & 0o111, "install.sh must be executable"
        cfg = json.loads((out / "deploy.json").read_text())
        assert cfg["board"] == board and cfg["model"] == manifest.model_name == "ff_tiny"
        assert cfg["formats"] and set(cfg["formats"]) <= set(manifest.artifacts)
        copied = load_manifest(out / "bundle")
        for key in cfg["formats"]:  # the copy is complete and intact
            for entry in [copied.artifacts[key].fused, *copied.artifacts[key].blocks]:
                verify_file(out / "bundle", entry)
        # a Linux board runs TFLite/ONNX: the C engine's sources stay home, and the copy is
        # still a complete deploy directory for `fftk deploy`'s check
        assert "c-int8" in manifest.artifacts and not (out / "bundle" / "c").exists()
        check_deploy_dir(out)
        readme = (out / "README.md").read_text()
        assert "ff_tiny" in readme and "taskset" in readme and "64-bit" in readme
    assert rendered["rpi4"][0].joinpath("deploy.json").read_text().count("onnx-fp32") == 1
    assert "vcgencmd get_throttled" in (rendered["rpi5"][0] / "README.md").read_text()
    assert "Python 3.7" in (rendered["coral-dev"][0] / "README.md").read_text()


def test_coral_without_edgetpu_model_runs_cpu_int8_and_says_so(rendered):
    for board in ("coral-usb", "coral-dev"):
        out, result = rendered[board]
        assert json.loads((out / "deploy.json").read_text())["formats"] == ["tflite-int8"]
        assert "no Edge TPU model" in result.stderr and "tflite-int8" in result.stderr
    assert "no Edge TPU model" not in rendered["rpi5"][1].stderr


def test_requirements_are_the_pyproject_device_extra(rendered):
    tomllib = pytest.importorskip("tomllib")
    device = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["device"]
    pins = requirements((rendered["rpi4"][0] / "requirements.txt").read_text())
    assert sorted(pins) == sorted(device)
    assert all("==" in pin for pin in pins) and not any(p.startswith("torch") for p in pins)


def test_wheel_is_valid_reproducible_and_carries_package_data(rendered, tmp_path):
    wheels = [next((out / "wheels").glob("fftoolkit-*-py3-none-any.whl"))
              for out, _ in rendered.values()]
    assert len({w.read_bytes() for w in wheels}) == 1, "same source must give the same wheel"
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        for line in zf.read(f"{dist}/RECORD").decode().splitlines():
            name, digest, size = line.split(",")
            if name.endswith("RECORD"):
                continue
            data = zf.read(name)
            expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expect.decode()}" and int(size) == len(data), name
        metadata = zf.read(f"{dist}/METADATA").decode()
        assert "fftk = fftoolkit.cli:main" in zf.read(f"{dist}/entry_points.txt").decode()
    assert {"fftoolkit/zoo/demo/cifar10-val-500.npz", "fftoolkit/zoo/ff_tiny.yaml",
            "fftoolkit/firmware_templates/rpi5/board.json",
            "fftoolkit/bench/probes/conv3x3.int8.tflite"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "Requires-Dist: onnxruntime==1.32.0" in metadata and "torch" not in metadata

    # pip installs it, and the installed copy finds its packaged templates and demo set
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(wheels[0])],
                   check=True, capture_output=True, env=cli_env())
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fftoolkit; "
            "from fftoolkit.firmware.templates import templates_dir; "
            "from fftoolkit.runtime.demo_set import demo_set_path; "
            "print(fftoolkit.__file__, templates_dir(), demo_set_path(), "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                         text=True, check=True, env=cli_env()).stdout.split()
    assert all(p.startswith(str(target)) for p in out[:3]), out
    assert out[3] == "False"


def test_firmware_refuses_bad_input_with_one_line(tiny_bundle, rendered, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no manifest" in one_line_error(
        fftk("firmware", empty, "--board", "rpi4", "--out", tmp_path / "a"))

    out = rendered["rpi4"][0]
    assert "already exists" in one_line_error(
        fftk("firmware", tiny_bundle, "--board", "rpi4", "--out", out))
    assert fftk("firmware", tiny_bundle, "--board", "rpi4", "--out", out,
                "--force").returncode == 0

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_bundle, damaged)
    model = damaged / "model.int8.tflite"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    line = one_line_error(fftk("firmware", damaged, "--board", "rpi4", "--out", tmp_path / "b"))
    assert "model.int8.tflite" in line and "sha256" in line

    onnx_only = tmp_path / "onnx-only"
    shutil.copytree(tiny_bundle, onnx_only)
    raw = json.loads((onnx_only / "manifest.json").read_text())
    raw["artifacts"] = {k: v for k, v in raw["artifacts"].items() if k.startswith("onnx")}
    (onnx_only / "manifest.json").write_text(json.dumps(raw))
    line = one_line_error(fftk("firmware", onnx_only, "--board", "coral-usb", "--out",
                               tmp_path / "c"))
    assert "none of the formats" in line and "fftk export" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

    one_line_error(fftk("firmware", tiny_bundle, "--board", "jetson", "--out", tmp_path / "d"),
                   "jetson")


def _fake_tools(bin_dir: Path, machine: str, bits: str) -> dict[str, str]:
    """`uname`/`getconf` that report another machine: how install.sh sees a 32-bit board."""
    bin_dir.mkdir()
    for name, out in (("uname", machine), ("getconf", bits)):
        (bin_dir / name).write_text(f"#!/bin/sh\necho {out}\n")
        (bin_dir / name).chmod(0o755)
    return cli_env(PATH=f"{bin_dir}:{os.environ['PATH']}")


def test_install_sh_refuses_32_bit_systems_and_missing_python(rendered, tmp_path):
    board = tmp_path / "board"
    shutil.copytree(rendered["rpi4"][0], board)

    def install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(board / "install.sh"), *args], capture_output=True,
                              text=True, env=env or cli_env())

    armv7 = install(env=_fake_tools(tmp_path / "armv7", "armv7l", "32"))
    assert armv7.returncode == 3 and "64-bit OS" in armv7.stderr
    userland32 = install(env=_fake_tools(tmp_path / "mixed", "aarch64", "32"))
    assert userland32.returncode == 3 and "userland is 32-bit" in userland32.stderr
    nopython = install("--python", "/nonexistent/bin/python3")
    assert nopython.returncode == 4 and "no Python at '/nonexistent/bin/python3'" in nopython.stderr
    unknown = install("--frobnicate")
    assert unknown.returncode == 2 and "unknown option --frobnicate" in unknown.stderr
    assert not (board / ".venv").exists()


@pytest.mark.skipif(ctypes.util.find_library("edgetpu") is not None,
                    reason="this machine has an Edge TPU runtime; the fallback is not reachable")
def test_board_entry_point_falls_back_from_the_edge_tpu(rendered, tmp_path):
    """A bundle with an Edge TPU model on a host where the delegate does not load (no
    libedgetpu here): fftk_board.py picks the CPU int8 model and says so."""
    board = tmp_path / "coral"
    shutil.copytree(rendered["coral-usb"][0], board)
    cfg = json.loads((board / "deploy.json").read_text())
    cfg["formats"] = ["edgetpu-int8", "tflite-int8"]
    (board / "deploy.json").write_text(json.dumps(cfg))
    code = "import fftk_board as b; print(','.join(b.pick_formats(b.load_config())))"
    picked = subprocess.run([sys.executable, "-c", code], cwd=board, capture_output=True,
                            text=True, env=cli_env())
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.strip() == "tflite-int8"
    assert "Edge TPU not usable here" in picked.stderr and "CPU int8 model" in picked.stderr

    check = subprocess.run([sys.executable, "fftk_board.py", "check", "--json"], cwd=board,
                           capture_output=True, text=True, env=cli_env())
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["missing"] == [] and report["bits"] == 64
    assert {"numpy", "click", "fftoolkit", "ai-edge-litert"} <= set(report["packages"])
