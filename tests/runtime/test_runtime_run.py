"""`fftk run` on the shared tiny bundle: every format and backend, fused vs per-block, inputs
of every kind, and every bad input a user can give (one line, exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import fftk, one_line_error

import fftoolkit.reference  # noqa: F401  (registers the torch-fp32 graph opener)
from fftoolkit.runtime.images import load_inputs
from fftoolkit.runtime.manifest import load_manifest
from fftoolkit.runtime.runner import classify, open_bundle

EXPORTED = ("onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8")


@pytest.fixture(scope="module")
def val_tree(tiny_bundle: Path) -> Path:
    """The fixture's held-back PNGs, val/<class>/*.png (labels from the folders)."""
    return tiny_bundle.parent / "tree" / "val"


@pytest.fixture(scope="module")
def val_x(tiny_bundle: Path, val_tree: Path) -> tuple[list[np.ndarray], np.ndarray]:
    inputs = load_inputs(val_tree, load_manifest(tiny_bundle).classes)
    return inputs.images, inputs.labels


@pytest.mark.parametrize("fmt", EXPORTED)
def test_per_block_predictions_equal_fused(tiny_bundle: Path, val_x: tuple, fmt: str) -> None:
    images, _ = val_x
    fused = open_bundle(tiny_bundle, fmt=fmt)
    chained = open_bundle(tiny_bundle, fmt=fmt, per_block=True)
    assert len(chained.graph.info.files) == len(chained.manifest.artifacts[fmt].blocks) + 1
    x = fused.preprocess(images)
    for mode in ("one-pass", "multi-pass"):
        a, b = fused.predictor.scores(x, mode), chained.predictor.scores(x, mode)
        np.testing.assert_array_equal(a.argmax(1), b.argmax(1), err_msg=f"{fmt} {mode}")


def test_formats_agree_with_the_torch_reference(tiny_bundle: Path, val_x: tuple) -> None:
    """fp32 exports reproduce the source network; int8 stays close to it."""
    images, _ = val_x
    ref = open_bundle(tiny_bundle, fmt="torch-fp32")
    ref_pred = ref.predictor.scores(ref.preprocess(images), "one-pass").argmax(1)
    for fmt in EXPORTED:
        run = open_bundle(tiny_bundle, fmt=fmt)
        pred = run.predictor.scores(run.preprocess(images), "one-pass").argmax(1)
        agree = float((pred == ref_pred).mean())
        assert agree >= (0.98 if fmt.endswith("fp32") else 0.85), (fmt, agree)


def test_int8_io_is_quantized_with_the_manifest(tiny_bundle: Path, val_x: tuple) -> None:
    run = open_bundle(tiny_bundle, fmt="tflite-int8")
    entry = run.manifest.artifacts["tflite-int8"].fused
    assert run.graph.runner.session.input_dtypes == ["int8"]
    x = run.preprocess(val_x[0][:1])
    q = entry.inputs[0].quant
    raw = np.clip(np.rint(x / q["scale"]) + q["zero_point"], -128, 127).astype(np.int8)
    logits_q = run.graph.runner.session.run([raw], [run.graph.runner.out_order[0]])[0]
    oq = entry.outputs[0].quant
    expected = (logits_q.astype(np.float32) - oq["zero_point"]) * oq["scale"]
    np.testing.assert_allclose(run.graph(x)[0], expected, rtol=1e-6)


def test_fixed_batch_model_takes_any_number_of_images(tiny_bundle: Path, val_x: tuple) -> None:
    b1 = open_bundle(tiny_bundle, fmt="tflite-fp32")
    b4 = open_bundle(tiny_bundle, fmt="tflite-fp32", batch=4)
    assert (b1.graph.info.batch, b4.graph.info.batch) == (1, 4)
    x = b1.preprocess(val_x[0][:7])  # 7 = one full batch of 4 + a padded one
    np.testing.assert_allclose(b1.predictor.scores(x, "one-pass"),
                               b4.predictor.scores(x, "one-pass"), atol=1e-4)


def test_classify_reports_error_percent(tiny_bundle: Path, val_tree: Path) -> None:
    run = open_bundle(tiny_bundle, backend="onnxruntime", precision="fp32")
    inputs = load_inputs(val_tree, run.manifest.classes)
    result = classify(run, inputs, "multi-pass")
    wrong = sum(p != y for p, y in zip(result.predictions, inputs.labels.tolist(), strict=True))
    assert result.n == len(inputs) and result.error == pytest.approx(100 * wrong / len(inputs))
    assert result.to_json()["predictions"][0]["label"] is not None


def test_cli_run_folder_json(tiny_bundle: Path, val_tree: Path) -> None:
    proc = fftk("run", str(tiny_bundle), str(val_tree), "--backend", "litert", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n"] == 80 and 0 <= out["error"] <= 100 and out["format"] == "tflite-int8"
    assert {"error", "n", "predictions", "runtime", "inference"} <= set(out)


def test_cli_run_file_resized_with_a_note(tiny_bundle: Path, tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((48, 40, 3), 120, np.uint8)).save(tmp_path / "big.png")
    proc = fftk("run", str(tiny_bundle), str(tmp_path / "big.png"), "--backend", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    assert "48x40" in proc.stderr and "resized" in proc.stderr
    name, cls, conf = proc.stdout.splitlines()[0].split("\t")
    assert name.endswith("big.png") and cls.startswith("class") and 0 < float(conf) <= 1


def test_cli_run_npz_works_per_block_and_multi_pass(tiny_bundle: Path, val_x: tuple,
                                                    tmp_path: Path) -> None:
    images, labels = val_x
    np.savez(tmp_path / "x.npz", images=np.stack(images), labels=labels)
    proc = fftk("run", str(tiny_bundle), str(tmp_path / "x.npz"), "--per-block",
                "--inference", "multi-pass", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("80 image(s), tflite-int8") and "error" in proc.stdout


def test_wrong_channel_count_is_an_error(tiny_bundle: Path, tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "gray.png")
    proc = fftk("run", str(tiny_bundle), str(tmp_path / "gray.png"))
    one_line_error(proc, "gray.png", "1 channels", "32x32 images with 3 channel")


def test_sha256_mismatch_is_an_error(bundle_copy: Path, tmp_path: Path) -> None:
    with open(bundle_copy / "model.int8.tflite", "ab") as f:
        f.write(b"\0")
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    proc = fftk("run", str(bundle_copy), str(tmp_path / "one.npy"), "--backend", "litert")
    one_line_error(proc, "model.int8.tflite", "sha256 does not match")


@pytest.mark.parametrize("fmt,file,backend,says", [
    ("tflite-int8", "model.int8.tflite", "litert", "cannot load"),
    ("onnx-fp32", "model.onnx", "onnxruntime", "not an ONNX model")])
def test_truncated_model_is_an_error(bundle_copy: Path, tmp_path: Path, fmt: str, file: str,
                                     backend: str, says: str) -> None:
    """A damaged file whose manifest was updated to match still fails in one line."""
    from fftoolkit.runtime.manifest import sha256_file

    path = bundle_copy / file
    path.write_bytes(path.read_bytes()[:1000])
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["artifacts"][fmt]["fused"]["sha256"] = sha256_file(path)
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    proc = fftk("run", str(bundle_copy), str(tmp_path / "one.npy"), "--backend", backend,
                "--precision", fmt.split("-")[1])
    one_line_error(proc, file, says)


def test_manifest_missing_key_is_an_error(bundle_copy: Path, tmp_path: Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["classes"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    proc = fftk("run", str(bundle_copy), str(tmp_path))
    one_line_error(proc, "manifest.json", "'classes'")


def test_missing_bundle_and_artifact_errors(tiny_bundle: Path, tmp_path: Path) -> None:
    one_line_error(fftk("run", str(tmp_path), str(tmp_path)), "no manifest")
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    only_onnx = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    manifest = json.loads((only_onnx / "manifest.json").read_text())
    manifest["artifacts"] = {"onnx-fp32": manifest["artifacts"]["onnx-fp32"]}
    (only_onnx / "manifest.json").write_text(json.dumps(manifest))
    proc = fftk("run", str(only_onnx), str(tmp_path / "one.npy"), "--backend", "litert")
    one_line_error(proc, "no 'tflite-int8' model", "it has: onnx-fp32")


def test_unknown_backend_is_a_usage_error(tiny_bundle: Path, tmp_path: Path) -> None:
    proc = fftk("run", str(tiny_bundle), str(tmp_path), "--backend", "tensorrt")
    one_line_error(proc, "tensorrt")


def test_help_has_examples() -> None:
    for cmd in ("run", "bench"):
        proc = fftk(cmd, "--help")
        assert proc.returncode == 0 and "Example" in proc.stdout and f"fftk {cmd}" in proc.stdout
