"""`fftk export` from the command line: bad input gives one line and exit 2 and leaves no
partial bundle; --force; interruption; bit-for-bit reproducibility; the Edge TPU hook."""

import os
import stat
from pathlib import Path

import pytest
from export_helpers import write_checkpoint, write_tree
from fftk_cli import fftk_in_process, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.export import ExportOptions, export_bundle
from fftoolkit.export.bundle import _edgetpu
from fftoolkit.runtime.manifest import load_manifest, sha256_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-cli")
    ckpt = write_checkpoint(root / "tiny.pt")
    write_checkpoint(root / "mlp.pt", "mnist_mlp")  # an original-FF model
    truncated = root / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    (root / "garbage.pt").write_bytes(b"not a checkpoint at all")
    return {"root": root, "ckpt": ckpt, "truncated": truncated, "garbage": root / "garbage.pt",
            "mlp": root / "mlp.pt", "tree": write_tree(root / "tree", 32, 32, 3, 10),
            "grey": write_tree(root / "grey", 28, 28, 1, 10),
            "three": write_tree(root / "three", 32, 32, 3, 3)}


def no_leftovers(parent: Path, name: str) -> bool:
    return not (parent / name).exists() and not list(parent.glob(f".{name}.*"))


def test_help_shows_an_example(capsys):
    result = fftk_in_process(capsys, "export", "--help")
    assert result.returncode == 0
    assert "fftk export runs/tiny/last.pt --target all --quantize int8" in result.stdout


@pytest.mark.parametrize("case, extra, message", [
    ("missing", [], "checkpoint not found"),
    ("garbage", [], "not a readable fftk checkpoint"),
    ("truncated", [], "not a readable fftk checkpoint"),
    ("ckpt", ["--target", "coreml"], "unknown target 'coreml'"),
    ("ckpt", ["--quantize", "int4"], "unknown --quantize 'int4'"),
    ("ckpt", ["--quantize", "int8", "--calib-dataset", "grey"], "(28, 28, 1) (H, W, C) but the "
     "model expects (32, 32, 3)"),
    ("ckpt", ["--quantize", "int8", "--calib-dataset", "three"], "3 classes but the model has 10"),
    ("ckpt", ["--quantize", "int8", "--calib-dataset", "nowhere"], "no such file or folder"),
    ("ckpt", ["--target", "c"], "--target c needs --quantize int8"),
    ("mlp", ["--target", "c", "--quantize", "int8"], "--target c: the C engine runs improved-FF "
     "(channel-group) models; mnist_mlp is an original-FF model"),
])
def test_bad_input_is_one_line_exit_2_and_no_bundle(files, capsys, case, extra, message):
    ckpt = files.get(case, files["root"] / "missing.pt")
    extra = [str(files.get(a, files["root"] / a)) if a in ("grey", "three", "nowhere") else a
             for a in extra]
    out_dir = files["root"] / f"bundle-{case}-{len(extra)}"
    one_line_error(fftk_in_process(capsys, "export", ckpt, "--out", out_dir, "--quiet", *extra),
                   message)
    assert no_leftovers(out_dir.parent, out_dir.name)


def test_existing_output_is_refused_unless_forced(files, capsys):
    out_dir = files["root"] / "existing"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    args = ["export", str(files["ckpt"]), "--target", "onnx", "--out", str(out_dir), "--quiet",
            "--calib-dataset", str(files["tree"])]
    one_line_error(fftk_in_process(capsys, *args), "already exists (pass --force")
    assert (out_dir / "keep.txt").read_text() == "mine"
    result = fftk_in_process(capsys, *args, "--force")
    assert result.returncode == 0, result.stderr
    assert "onnx-fp32" in result.stdout and "error % on 30 held-back images" in result.stdout
    assert not (out_dir / "keep.txt").exists() and (out_dir / "model.onnx").is_file()
    assert load_manifest(out_dir).artifacts.keys() == {"onnx-fp32"}


def test_an_interrupted_export_leaves_nothing(files, monkeypatch):
    """A crash after the ONNX files were written (first TFLite conversion) removes them all."""
    import fftoolkit.export.bundle as bundle

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(bundle, "export_tflite", crash)
    out_dir = files["root"] / "interrupted"
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_bundle(files["ckpt"], out_dir, ExportOptions(calib_dataset=str(files["tree"])),
                      progress=False)
    assert no_leftovers(out_dir.parent, out_dir.name)


@pytest.mark.slow
def test_exporting_twice_gives_identical_files(tiny_bundle, tmp_path):
    again = tmp_path / "again"
    export_bundle(tiny_bundle.parent / "last.pt", again,
                  ExportOptions(target="all", quantize="int8", calib_samples=32, eval_samples=80,
                                batch=4), progress=False)
    names = sorted(p.relative_to(tiny_bundle) for p in tiny_bundle.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert Path("c/fftk_model.c") in names  # the generated C engine too
    for name in names:
        assert (again / name).read_bytes() == (tiny_bundle / name).read_bytes(), name


def fake_compiler(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "edgetpu_compiler"
    script.write_text(f"#!/bin/sh\necho \"$@\" > \"{bin_dir}/args\"\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.slow
def test_edgetpu_hook_calls_the_compiler_and_reports_its_failure(tiny_bundle, tmp_path,
                                                                 monkeypatch):
    art = load_manifest(tiny_bundle).artifacts["tflite-int8"]
    work = tmp_path / "bundle"
    work.mkdir()
    (work / art.fused.file).write_bytes((tiny_bundle / art.fused.file).read_bytes())
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # stands in for the real x86-64 compiler, which is not installable here (SPEC §5)
    fake_compiler(tmp_path / "bin", 'cp "$4" "$3/model.int8_edgetpu.tflite"')  # -s -o DIR MODEL
    tpu, note = _edgetpu(work, art)
    assert note is None and tpu.format == "edgetpu"
    assert tpu.fused.file == "model.int8_edgetpu.tflite"
    assert tpu.fused.sha256 == sha256_file(work / tpu.fused.file)
    assert tpu.fused.inputs == art.fused.inputs
    assert (tmp_path / "bin" / "args").read_text().split() == ["-s", "-o", str(work),
                                                              str(work / art.fused.file)]
    fake_compiler(tmp_path / "bin", 'echo "ERROR: Didn\'t find op for builtin opcode" >&2; exit 1')
    with pytest.raises(FFTKError, match="edgetpu_compiler failed on model.int8.tflite: ERROR"):
        _edgetpu(work, art)
    monkeypatch.setenv("PATH", "/nonexistent")
    tpu, note = _edgetpu(work, art)
    assert tpu is None and "install it" in note and "model.int8.tflite" in note
