"""The bundle contract of the C engine (manifest format 3): the c-int8 artifact lists every file
of c/ with its sha256 under `c/<safe name>`, `read_c_sources` returns exactly those bytes
checked, names outside that one folder are refused, and format 2 bundles are still read.
Uses the shared `tiny_bundle` (exported with --target all --quantize int8)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.c_backend import read_c_sources
from fftoolkit.runtime.manifest import listed_files, load_manifest, sha256_file
from fftoolkit.runtime.runner import open_bundle


def _edit(bundle: Path, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_c_int8_lists_every_file_of_c_with_its_sha256(tiny_bundle: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    assert manifest.format_version == 3
    art, src = manifest.artifacts["c-int8"], manifest.artifacts["tflite-int8"]
    on_disk = sorted((tiny_bundle / "c").iterdir())
    assert {"fftk_model.c", "fftk_model.h", "fftk_main.c", "Makefile"} <= {p.name for p in on_disk}
    assert [(s.file, s.sha256) for s in art.sources] == [
        (f"c/{p.name}", sha256_file(p)) for p in on_disk]
    assert (art.format, art.precision, art.layout, art.batch, art.goodness) == (
        "c", "int8", "NHWC", 1, "from-features")
    assert art.fused.file == "c/fftk_model.c" and not art.blocks and art.head is None
    assert (art.fused.inputs, art.fused.outputs) == (src.fused.inputs, src.fused.outputs)
    assert art.fused.inputs[0].quant is not None  # what the runtime quantizes images with
    listed = listed_files(manifest)
    assert all(listed[s.file] == s.sha256 for s in art.sources)
    assert not [s for key, a in manifest.artifacts.items() if key != "c-int8" for s in a.sources]
    sources = read_c_sources(tiny_bundle, manifest)
    assert sources == {p.name: p.read_bytes() for p in on_disk}


@pytest.mark.parametrize("name", ["fftk_model.c", "../c/fftk_model.c", "c/../fftk_model.c",
                                  "c/sub/fftk_model.c", "d/fftk_model.c", "c/.fftk_model.c",
                                  "c/-fftk_model.c", "c/", "/c/fftk_model.c", "c//fftk_model.c"])
def test_a_c_file_outside_its_one_folder_is_refused(bundle_copy: Path, name: str) -> None:
    def point(m: dict) -> None:
        m["artifacts"]["c-int8"]["sources"][0]["file"] = name

    _edit(bundle_copy, point)
    with pytest.raises(FFTKError, match=r"artifacts\.c-int8\.sources\[0\]\.file") as err:
        load_manifest(bundle_copy)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("change, needle", [
    (lambda m: m["artifacts"]["tflite-int8"]["fused"].update(file="c/fftk_model.c"),
     "not a safe name"),  # other artifacts keep plain names
    (lambda m: m["artifacts"]["tflite-int8"].update(sources=m["artifacts"]["c-int8"]["sources"]),
     "only the C engine lists sources"),
    (lambda m: m["artifacts"].update({"c-fp32": m["artifacts"]["c-int8"]}), "c-int8"),
    (lambda m: m["artifacts"].update({"c-int8-b4": m["artifacts"]["c-int8"]}), "c-int8"),
    (lambda m: m["artifacts"]["c-int8"]["sources"].pop(
        [s["file"] for s in m["artifacts"]["c-int8"]["sources"]].index("c/fftk_model.c")),
     "including 'c/fftk_model.c'"),
    (lambda m: m["artifacts"]["c-int8"]["sources"].append(m["artifacts"]["c-int8"]["sources"][0]),
     "distinct names"),
    (lambda m: m["artifacts"]["c-int8"].update(batch=4), "1/NHWC/from-features"),
])
def test_c_int8_fields_are_checked(bundle_copy: Path, change, needle: str) -> None:
    _edit(bundle_copy, change)
    with pytest.raises(FFTKError, match="manifest.json") as err:
        load_manifest(bundle_copy)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_changed_or_linked_c_file_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    manifest = load_manifest(bundle_copy)
    kernel = bundle_copy / "c" / "fftk_kernels.h"
    kernel.write_text(kernel.read_text() + "\n/* changed */\n")
    with pytest.raises(FFTKError, match=r"c/fftk_kernels\.h: sha256 does not match"):
        read_c_sources(bundle_copy, manifest)
    shutil.move(bundle_copy / "c", tmp_path / "c")
    os.symlink(tmp_path / "c", bundle_copy / "c")
    with pytest.raises(FFTKError, match="symlink"):
        load_manifest(bundle_copy)
    with pytest.raises(FFTKError, match=r"/c: is a symlink"):  # checked again when read
        read_c_sources(bundle_copy, manifest)


def test_a_format_2_bundle_without_c_is_still_read(bundle_copy: Path) -> None:
    """Format 3 only added fields: a format 2 manifest (no `sources`, no c-int8) loads and runs,
    and asking it for the C engine says how to get one."""
    def format_2(m: dict) -> None:
        m["format_version"] = 2
        del m["artifacts"]["c-int8"]
        for art in m["artifacts"].values():
            del art["sources"]

    _edit(bundle_copy, format_2)
    shutil.rmtree(bundle_copy / "c")
    manifest = load_manifest(bundle_copy)
    assert manifest.format_version == 2 and "c-int8" not in manifest.artifacts
    loaded = open_bundle(bundle_copy, backend="litert")
    x = loaded.preprocess(np.zeros((2, 32, 32, 3), np.uint8))
    assert loaded.predictor.scores(x, "multi-pass").shape == (2, 10)
    with pytest.raises(FFTKError, match=r"no 'c-int8' engine .*--target c --quantize int8"):
        read_c_sources(bundle_copy, manifest)
