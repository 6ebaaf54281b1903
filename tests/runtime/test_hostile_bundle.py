"""A bundle is untrusted input: whatever a manifest says, fftk reads only checked files inside
the bundle, never follows a link, never runs external data, and answers in one line."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fftk_cli import cli_env, fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.images import Inputs
from fftoolkit.runtime.manifest import load_manifest
from fftoolkit.runtime.runner import classify, open_bundle

WRONG_VALUES: list[Any] = [None, True, -1, 1.5, "x", [], {"x": 1}]
HOSTILE_NAMES = ["../evil", "/etc/passwd", "a/b", ".hidden", "-rf", "x\nExecStartPre=+/bin/sh",
                 "a b", "a|b", "x" * 101, "$(id)", "a%n", ""]


def _edit(bundle: Path, change) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def _image(tmp_path: Path) -> Path:
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    return tmp_path / "one.npy"


@pytest.mark.parametrize("name", ["../outside.onnx", "/etc/passwd", "sub/model.onnx",
                                  ".model.onnx", "model.onnx\n"])
def test_listed_file_outside_the_bundle_is_refused(bundle_copy: Path, tmp_path: Path,
                                                   name: str) -> None:
    (tmp_path / "outside.onnx").write_bytes((bundle_copy / "model.onnx").read_bytes())

    def point(m: dict) -> None:
        m["artifacts"]["onnx-fp32"]["fused"]["file"] = name

    _edit(bundle_copy, point)
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "onnxruntime",
                "--precision", "fp32")
    one_line_error(proc, "artifacts.onnx-fp32.fused.file", "not a safe name")
    out = tmp_path / "deploy"
    proc = fftk("firmware", bundle_copy, "--board", "rpi4", "--out", out)
    one_line_error(proc, "not a safe name")
    assert not out.exists()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_model_name_is_refused_everywhere(bundle_copy: Path, tmp_path: Path,
                                                  name: str) -> None:
    def rename(m: dict) -> None:
        m["model_name"] = name

    _edit(bundle_copy, rename)
    image = _image(tmp_path)
    logs = tmp_path / "logs"
    for args in (["run", bundle_copy, image, "--backend", "onnxruntime"],
                 ["bench", bundle_copy, "--formats", "onnx-fp32", "--runs", "5",
                  "--no-probe", "--log-dir", logs, "--limit", "8"],
                 ["firmware", bundle_copy, "--board", "rpi5", "--out", tmp_path / "d"]):
        one_line_error(fftk(*args), "model_name", "not a safe name")
    assert not logs.exists() and not (tmp_path / "d").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "one.npy"]


def test_a_symlink_anywhere_in_the_bundle_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ship me")
    (bundle_copy / "notes.txt").symlink_to(secret)
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "onnxruntime")
    one_line_error(proc, "notes.txt", "symlink")
    proc = fftk("firmware", bundle_copy, "--board", "rpi4", "--out", tmp_path / "d")
    one_line_error(proc, "notes.txt", "symlink")
    assert not (tmp_path / "d").exists()


def test_a_listed_file_that_is_a_symlink_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    """Even with the right sha256, a link is not read (it could point anywhere later)."""
    real = tmp_path / "model.onnx"
    os.replace(bundle_copy / "model.onnx", real)
    (bundle_copy / "model.onnx").symlink_to(real)
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "onnxruntime",
                "--precision", "fp32")
    one_line_error(proc, "symlink")


def test_onnx_external_data_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    """A model whose weights live in another file (which ONNX Runtime would open) is refused,
    even when the manifest's sha256 matches."""
    import onnx

    path = bundle_copy / "model.onnx"
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def rehash(m: dict) -> None:
        m["artifacts"]["onnx-fp32"]["fused"]["sha256"] = digest

    _edit(bundle_copy, rehash)
    (bundle_copy / "weights.bin").unlink()  # not listed: a bundle holds only listed files
    (tmp_path / "weights.bin").write_bytes(b"\0" * 64)
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "onnxruntime",
                "--precision", "fp32", cwd=tmp_path)
    one_line_error(proc, "model.onnx", "external data")


def test_old_bundle_format_says_re_export(bundle_copy: Path, tmp_path: Path) -> None:
    def old(m: dict) -> None:
        m["format_version"] = 1

    _edit(bundle_copy, old)
    proc = fftk("run", bundle_copy, _image(tmp_path))
    one_line_error(proc, "format 1", "re-export")


def test_expect_sha256_pins_the_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    image = _image(tmp_path)
    digest = hashlib.sha256((bundle_copy / "manifest.json").read_bytes()).hexdigest()
    ok = fftk("run", bundle_copy, image, "--backend", "onnxruntime", "--expect-sha256", digest)
    assert ok.returncode == 0, ok.stderr
    one_line_error(fftk("run", bundle_copy, image, "--expect-sha256", "0" * 64),
                    "not the expected")
    one_line_error(fftk("firmware", bundle_copy, "--board", "rpi4", "--out", tmp_path / "d",
                         "--expect-sha256", "0" * 64), "not the expected")
    one_line_error(fftk("bench", bundle_copy, "--expect-sha256", "abc"), "--expect-sha256")
    one_line_error(fftk("deploy", tmp_path / "nothing", "pi@127.0.0.1",
                         "--expect-sha256", digest), "nothing")


def test_overlay_patterns_are_verified(fourier_bundle: Path, tmp_path: Path) -> None:
    """original FF's overlay.npy is listed with its sha256 (format 2) and checked."""
    import shutil

    bundle = Path(shutil.copytree(fourier_bundle, tmp_path / "bundle"))
    listed = load_manifest(bundle).multi_pass["patterns"]
    assert listed["file"] == "overlay.npy"
    assert listed["sha256"] == hashlib.sha256((bundle / "overlay.npy").read_bytes()).hexdigest()
    patterns = np.load(bundle / "overlay.npy")
    np.save(bundle / "overlay.npy", patterns * 0)
    image = tmp_path / "one.npy"
    np.save(image, np.zeros((16, 16, 3), np.uint8))
    proc = fftk("run", bundle, image, "--backend", "onnxruntime", "--precision", "fp32",
                "--per-block", "--inference", "multi-pass")
    one_line_error(proc, "overlay.npy", "sha256 does not match")


# --- the manifest mutator: one field at a time, every wrong type ------------------------------

def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into a JSON document (dict keys and list positions)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:1]):  # the first item says as much as all of them
            yield from _paths(v, (*prefix, i))


def _set(doc: Any, path: tuple, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return value
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def test_manifest_mutator_every_field_every_wrong_type(tiny_bundle: Path, tmp_path: Path) -> None:
    """Each mutation is refused in one line naming the field, or, where the value happens to
    be valid, the bundle still runs: never another exception."""
    original = json.loads((tiny_bundle / "manifest.json").read_text())
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    images = Inputs([np.zeros((32, 32, 3), np.uint8)] * 2, ["a", "b"], [0, 1],
                    original["classes"])
    refused = accepted = 0
    for path in _paths(original):
        if path[:1] in (("spec",), ("extra",)) and len(path) > 2:
            continue  # free-form sub-documents: checked where used (spec: its own tests)
        ran = False
        for wrong in WRONG_VALUES:
            doc = _set(original, path, wrong)
            (bundle / "manifest.json").write_text(json.dumps(doc))
            try:
                load_manifest(bundle)
            except FFTKError as exc:
                message = str(exc)
                assert "\n" not in message, message
                leaf = str(path[-1]) if path else "object"
                assert leaf in message or "manifest" in message or "format" in message, (
                    path, wrong, message)
                refused += 1
                continue
            accepted += 1
            if ran:  # one run per field is enough (loading a model is the slow part)
                continue
            ran = True
            try:  # the runtime copes with whatever loaded
                loaded = open_bundle(bundle, backend="onnxruntime", precision="fp32")
                classify(loaded, images, "one-pass")
            except FFTKError as exc:
                assert "\n" not in str(exc)
    assert refused > 5 * accepted, (refused, accepted)


def test_unusable_log_dir_fails_before_benchmarking(tiny_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    proc = fftk("bench", tiny_bundle, tiny_bundle.parent / "tree" / "val", "--formats",
                "onnx-fp32", "--runs", "5", "--no-probe", "--log-dir", tmp_path / "file" / "x")
    one_line_error(proc, "cannot create the log folder", "--log-dir")
    assert "benchmarking" not in proc.stdout


@pytest.mark.parametrize("field, value, says", [
    (("input_shape",), [3, 65536, 65536], "input_shape"),
    (("artifacts", "tflite-int8", "batch"), 100_000, "batch"),
    (("artifacts", "tflite-int8", "fused", "inputs", 0, "shape"), [100_000, 32, 32, 3],
     "shape"),
    (("head_blocks",), [2, 9], "head_blocks"),
])
def test_sizes_that_would_make_the_runner_allocate_are_refused(bundle_copy: Path,
                                                               tmp_path: Path, field: tuple,
                                                               value: Any, says: str) -> None:
    """Declared sizes the runner allocates from (image size, padded batch, block indices)
    are bounded by the schema, before anything is allocated."""
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    (bundle_copy / "manifest.json").write_text(json.dumps(_set(manifest, field, value)))
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "litert", "--per-block")
    one_line_error(proc, says)


def test_a_listed_file_over_the_size_limit_is_not_read(bundle_copy: Path, tmp_path: Path) -> None:
    proc = fftk("run", bundle_copy, _image(tmp_path), "--backend", "onnxruntime",
                "--precision", "fp32", env=cli_env(FFTK_MAX_BUNDLE_FILE_BYTES="1000"))
    one_line_error(proc, "over the limit", "FFTK_MAX_BUNDLE_FILE_BYTES")
