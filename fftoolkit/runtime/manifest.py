"""The bundle contract: `manifest.json` says everything a device needs to run a model.

The device side owns this schema (the exporter writes through it), and it is plain JSON read
with the standard library: no torch, no onnx.

Layout of a bundle directory:
    manifest.json
    model.onnx, block_0.onnx, ..., head.onnx                (artifact "onnx-fp32")
    model.int8.onnx, block_0.int8.onnx, ...                  (artifact "onnx-int8")
    model.tflite / model.int8.tflite / model.int8.b8.tflite  (artifacts "tflite-fp32", ...)
    c/fftk_model.c, c/fftk_model.h, c/Makefile, ...          (artifact "c-int8")
    reference.safetensors                                    (the source network, "torch-fp32")
    overlay.npy                                              (original FF, fourier overlays only)

Artifact keys are "<format>-<precision>" with a "-b<N>" suffix for a fixed batch N > 1; the C
engine's key is exactly "c-int8".

A bundle is untrusted input (users download and pass them around): `load_manifest` checks the
whole document against this schema once, naming the first bad field, and every file it lists
is a plain name inside the bundle (the c-int8 artifact's: `c/<plain name>`, one folder level)
with a sha256 that is checked before the file is read (`read_file`, `read_listed`).

Format 2 added the sha256 of `overlay.npy`. Format 3 added the "c-int8" artifact (format "c"):
the C99 engine generated from the int8 TFLite model, its files listed in the artifact's new
`sources` field (every file of `c/`, name and sha256), `fused` naming `c/fftk_model.c` with
the source model's int8 input and output tensors. The change is additive, so format 2
bundles (no `sources`, no c-int8) are still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.schema import bad_field, from_json, typed
from fftoolkit.untrusted import (
    check_name,
    check_sha256,
    in_folder,
    inside,
    read_verified,
    refuse_symlinks,
    sha256_file,
)

FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)  # format 3 only added fields, so format 2 bundles read as they are
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a real manifest is a few kB
ARTIFACT_KEY = re.compile(r"(onnx|tflite|edgetpu|c)-(fp32|int8)(-b[1-9][0-9]{0,3})?")
C_KEY = "c-int8"  # the C engine: int8, one image at a time, no fixed-batch variants
FOLDERS = {"c": "c"}  # artifact format -> the one sub-folder its files live in
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "int8", "uint8")
GOODNESS_MODES = ("in-graph", "from-features")
MAX_DIM = 1 << 16  # any one tensor dimension
MAX_CLASSES = 10_000
# the input image: what the runner allocates per image before any model runs (the same
# bounds as a spec's input, fftoolkit.models.spec)
MAX_INPUT_CHANNELS, MAX_INPUT_SIDE = 64, 4096
MAX_BATCH = 1024  # a fixed batch: the runner pads every chunk to it


@dataclass
class TensorInfo:
    """One graph input/output. `quant` = {"scale": s, "zero_point": z} for integer tensors:
    real = scale * (q - zero_point)."""

    name: str
    shape: list[int | None]  # None = dynamic dimension (batch)
    dtype: str  # "float32" | "int8" | "uint8"
    quant: dict[str, float] | None = None


@dataclass
class ModelFile:
    file: str  # relative to the bundle directory
    sha256: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


@dataclass
class SourceFile:
    """A file of an artifact that is not a model: the C engine's sources, header, Makefile."""

    file: str  # relative to the bundle directory: "c/<plain name>"
    sha256: str


@dataclass
class Artifact:
    """One format at one precision: the fused model plus per-block files and the head.

    Fused outputs are ("logits", "goodness") when `goodness == "in-graph"`, or ("logits",
    "features_a", "features_b") — the last two blocks' outputs — when `goodness == "from-features"`
    and the runner computes eq. 2 itself (keeps the squared reduction out of int8).

    The C engine ("c-int8") lists every file of `c/` in `sources`; `fused` is `c/fftk_model.c`
    with the int8 model's tensors: the engine returns the logits (int8) and, per feature
    output, one int32 sum of (q - zero_point)^2 per class channel group.
    """

    format: str  # "onnx" | "tflite" | "edgetpu"
    precision: str  # "fp32" | "int8"
    layout: str  # "NCHW" | "NHWC"
    batch: int | None  # None = dynamic batch
    fused: ModelFile
    blocks: list[ModelFile] = field(default_factory=list)
    head: ModelFile | None = None
    goodness: str = "in-graph"
    sources: list[SourceFile] = field(default_factory=list)  # format 3: the C engine's files


@dataclass
class Manifest:
    model_name: str
    algorithm: str  # "improved" | "original"
    spec: dict[str, Any]
    classes: list[str]
    input_shape: list[int]  # (C, H, W)
    normalization: dict[str, list[float]]  # {"mean": [...], "std": [...]} on [0, 1] pixels
    goodness_blocks: list[int]  # blocks whose goodness feeds prediction
    head_blocks: list[int]  # blocks whose flattened outputs feed the one-pass head
    # How multi-pass works: {"kind": "channel-groups", "groups": J} (improved: one pass, argmax
    # of G) or {"kind": "label-overlay", "overlay": "first-pixels"|"fourier", "num_classes": J,
    # "goodness": "mean"|"sum", "patterns": {"file": "overlay.npy", "sha256": ...} | None}
    # (original: J overlaid passes).
    multi_pass: dict[str, Any]
    artifacts: dict[str, Artifact]
    source_checkpoint_sha256: str
    reference: ModelFile | None = None  # weights for the torch-fp32 reference
    fftk_version: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def write(self, bundle_dir: str | Path) -> Path:
        path = Path(bundle_dir) / MANIFEST_NAME
        path.write_text(self.to_json())
        return path


def load_manifest(bundle_dir: str | Path, expect_sha256: str | None = None) -> Manifest:
    """Read `manifest.json` and check all of it; the first problem is a one-line error.

    `expect_sha256` pins the manifest a user received (and through its hashes, every file).
    A bundle that holds a symlink anywhere is refused, naming the link.
    """
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir() or not path.exists():
        raise FFTKError(f"{path}: no manifest (is {bundle_dir} an fftk bundle?)")
    refuse_symlinks(bundle_dir, "bundle")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise FFTKError(f"{path}: {path.stat().st_size} bytes is too large for a manifest")
    data = read_verified(bundle_dir, MANIFEST_NAME, _expected(path, expect_sha256), path)
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise FFTKError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise FFTKError(f"{path}: the manifest must be a JSON object")
    _check_version(raw.get("format_version"), path)
    manifest = from_json(Manifest, raw, path)
    _check_values(manifest, path)
    return manifest


def manifest_sha256(bundle_dir: str | Path) -> str:
    """The sha256 of a bundle's manifest.json: what `--expect-sha256` compares against."""
    return sha256_file(Path(bundle_dir) / MANIFEST_NAME)


def read_file(bundle_dir: str | Path, entry: ModelFile | SourceFile) -> bytes:
    """The bytes of a listed file, after checking it is a regular file with the listed sha256."""
    return read_listed(bundle_dir, entry.file, entry.sha256)


def read_listed(bundle_dir: str | Path, name: str, sha256: str) -> bytes:
    """The checked bytes of a file the manifest lists: a plain name in the bundle, or
    `<folder>/<plain name>` in the one folder an artifact format owns (`c/`)."""
    head, sep, _ = name.partition("/")
    folder = head if sep and head in FOLDERS.values() else None
    return read_verified(bundle_dir, name, sha256, Path(bundle_dir) / MANIFEST_NAME, folder)


def verify_file(bundle_dir: str | Path, entry: ModelFile | SourceFile) -> Path:
    """The listed file exists, is a regular file inside the bundle and matches its sha256."""
    read_file(bundle_dir, entry)
    return Path(bundle_dir) / entry.file


def artifact_files(art: Artifact) -> dict[str, str]:
    """The files of one artifact, name -> sha256: models, then the C engine's sources."""
    entries = [art.fused, *art.blocks, *([art.head] if art.head else []), *art.sources]
    return {e.file: e.sha256 for e in entries}


def listed_files(manifest: Manifest, without: Collection[str] = ()) -> dict[str, str]:
    """Every file the manifest lists, name -> sha256 (the bundle's whole content), leaving
    out the artifacts keyed in `without`."""
    files = {name: sha for key, art in manifest.artifacts.items() if key not in without
             for name, sha in artifact_files(art).items()}
    if manifest.reference is not None:
        files[manifest.reference.file] = manifest.reference.sha256
    patterns = manifest.multi_pass.get("patterns")
    if patterns:
        files[patterns["file"]] = patterns["sha256"]
    return files


def _expected(path: Path, expect_sha256: str | None) -> str:
    """The sha256 the manifest must have: the pinned one, else whatever it is."""
    if expect_sha256 is None:
        return sha256_file(path)
    expect = expect_sha256.strip().lower()
    check_sha256(expect, "--expect-sha256", "command line")
    actual = sha256_file(path)
    if actual != expect:
        raise FFTKError(f"{path}: sha256 is {actual}, not the expected {expect} (the bundle is "
                        "not the one you pinned; get it again from its source)")
    return actual


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _check_version(version: Any, path: Path) -> None:
    if version in READABLE_VERSIONS and not isinstance(version, bool):
        return
    if isinstance(version, int) and not isinstance(version, bool) and version < FORMAT_VERSION:
        raise FFTKError(f"{path}: bundle format {version} is older than the format this fftk "
                        f"reads ({READABLE_VERSIONS[0]}-{FORMAT_VERSION}); re-export it: "
                        "fftk export CHECKPOINT ...")
    raise FFTKError(f"{path}: bundle format {version!r} is not supported (this fftk reads "
                    f"format {FORMAT_VERSION}; a newer fftk may read it)")


def _check_values(m: Manifest, path: Path) -> None:
    """What the types cannot say: names, digests, enumerations, sizes, agreement of counts."""
    check_name(m.model_name, "model_name", path)
    check_name(m.algorithm, "algorithm", path)  # which FF trained it: a label, not a switch
    if not m.classes or len(m.classes) > MAX_CLASSES:
        raise bad_field(path, "classes", f"1 to {MAX_CLASSES} names", m.classes)
    for i, name in enumerate(m.classes):
        if not name or len(name) > 100 or not name.isprintable():
            raise bad_field(path, f"classes[{i}]", "a printable name of 1-100 characters", name)
    limits = (MAX_INPUT_CHANNELS, MAX_INPUT_SIDE, MAX_INPUT_SIDE)
    if len(m.input_shape) != 3 or not all(
            0 < d <= most for d, most in zip(m.input_shape, limits, strict=True)):
        raise bad_field(path, "input_shape", f"[C, H, W] with C 1-{MAX_INPUT_CHANNELS}, H and "
                        f"W 1-{MAX_INPUT_SIDE}", m.input_shape)
    _check_normalization(m.normalization, m.input_shape[0], "normalization", path)
    for key in ("goodness_blocks", "head_blocks"):
        if not all(0 <= b < 1024 for b in getattr(m, key)):
            raise bad_field(path, key, "block indices 0-1023", getattr(m, key))
    _check_multi_pass(m.multi_pass, len(m.classes), path)
    check_sha256(m.source_checkpoint_sha256, "field 'source_checkpoint_sha256'", path)
    for key, art in m.artifacts.items():
        _check_artifact(key, art, path)
        used = [*m.goodness_blocks, *m.head_blocks]
        if art.blocks and used and max(used) >= len(art.blocks):
            raise bad_field(path, "goodness_blocks/head_blocks",
                            f"indices of the {len(art.blocks)} block files of '{key}'", used)
    if m.reference is not None:
        _check_model_file(m.reference, "reference", path)
    _check_extra(m.extra, m.input_shape[0], path)


def _check_extra(extra: dict[str, Any], channels: int, path: Path) -> None:
    """The optional facts the runtime reads from `extra`."""
    macs = extra.get("macs_per_image")
    if macs is not None and (not isinstance(macs, int) or isinstance(macs, bool) or macs < 0):
        raise bad_field(path, "extra.macs_per_image", "a non-negative integer", macs)
    norm = extra.get("reference_normalization")
    if norm is not None:
        norm = typed(dict[str, list[float]], norm, "extra.reference_normalization", path)
        _check_normalization(norm, channels, "extra.reference_normalization", path)


def _check_normalization(norm: dict[str, list[float]], channels: int, where: str,
                         path: Path) -> None:
    if set(norm) != {"mean", "std"}:
        raise bad_field(path, where, "an object with 'mean' and 'std'", sorted(norm))
    for key in ("mean", "std"):
        if len(norm[key]) not in (1, channels):
            raise bad_field(path, f"{where}.{key}", f"1 or {channels} numbers", norm[key])
    if not all(s > 0 for s in norm["std"]):
        raise bad_field(path, f"{where}.std", "positive numbers", norm["std"])


def _check_multi_pass(mp: dict[str, Any], num_classes: int, path: Path) -> None:
    kind = _one_of(mp.get("kind"), ("channel-groups", "label-overlay"), "multi_pass.kind", path)
    count_key = "groups" if kind == "channel-groups" else "num_classes"
    if mp.get(count_key) != num_classes or isinstance(mp.get(count_key), bool):
        raise bad_field(path, f"multi_pass.{count_key}", f"{num_classes} (the number of classes)",
                   mp.get(count_key))
    if kind == "channel-groups":
        return
    overlay = _one_of(mp.get("overlay"), ("first-pixels", "fourier"), "multi_pass.overlay", path)
    _one_of(mp.get("goodness"), ("mean", "sum"), "multi_pass.goodness", path)
    patterns = mp.get("patterns")
    if overlay == "first-pixels" and patterns is None:
        return
    if not isinstance(patterns, dict) or set(patterns) != {"file", "sha256"}:
        raise bad_field(path, "multi_pass.patterns", "an object with 'file' and 'sha256'", patterns)
    inside(path.parent, patterns["file"], "multi_pass.patterns.file", path)
    check_sha256(patterns["sha256"], "field 'multi_pass.patterns.sha256'", path)


def _check_artifact(key: str, art: Artifact, path: Path) -> None:
    where = f"artifacts.{key}"
    match = ARTIFACT_KEY.fullmatch(key)
    if not match or (match.group(1) == "c" and key != C_KEY):
        raise FFTKError(f"{path}: artifact key {key!r} is not <onnx|tflite|edgetpu>-"
                        f"<fp32|int8>[-b<N>] or {C_KEY}")
    if (art.format, art.precision) != match.group(1, 2):
        raise bad_field(path, f"{where}.format/precision", f"{match.group(1)}/{match.group(2)}",
                   f"{art.format}/{art.precision}")
    _one_of(art.layout, LAYOUTS, f"{where}.layout", path)
    _one_of(art.goodness, GOODNESS_MODES, f"{where}.goodness", path)
    if art.batch is not None and not 0 < art.batch <= MAX_BATCH:
        raise bad_field(path, f"{where}.batch", f"null or 1-{MAX_BATCH}", art.batch)
    folder = FOLDERS.get(art.format)
    _check_model_file(art.fused, f"{where}.fused", path, folder)
    for i, block in enumerate(art.blocks):
        _check_model_file(block, f"{where}.blocks[{i}]", path)
    if art.head is not None:
        _check_model_file(art.head, f"{where}.head", path)
    if folder is None:
        if art.sources:
            raise bad_field(path, f"{where}.sources", "empty (only the C engine lists sources)",
                            [s.file for s in art.sources])
        return
    _check_c_artifact(art, where, path, folder)


def _check_c_artifact(art: Artifact, where: str, path: Path, folder: str) -> None:
    """The C engine: one image in, NHWC, goodness from its features, and every file of its
    folder listed once under a safe name (the fused entry among them)."""
    if art.batch != 1 or art.layout != "NHWC" or art.goodness != "from-features":
        raise bad_field(path, f"{where}.batch/layout/goodness", "1/NHWC/from-features",
                        f"{art.batch}/{art.layout}/{art.goodness}")
    if art.blocks or art.head is not None:
        raise bad_field(path, f"{where}.blocks/head", "empty/null (one engine, no block files)",
                        [b.file for b in art.blocks])
    names = [s.file for s in art.sources]
    for i, source in enumerate(art.sources):
        in_folder(path.parent, folder, source.file, f"field '{where}.sources[{i}].file'", path)
        check_sha256(source.sha256, f"field '{where}.sources[{i}].sha256'", path)
    listed = {s.file: s.sha256 for s in art.sources}
    if len(listed) != len(names) or listed.get(art.fused.file) != art.fused.sha256:
        raise bad_field(path, f"{where}.sources", f"distinct names including {art.fused.file!r} "
                        "with the fused entry's sha256", names)


def _check_model_file(entry: ModelFile, where: str, path: Path, folder: str | None = None) -> None:
    if folder is None:
        inside(path.parent, entry.file, f"field '{where}.file'", path)
    else:
        in_folder(path.parent, folder, entry.file, f"field '{where}.file'", path)
    check_sha256(entry.sha256, f"field '{where}.sha256'", path)
    for kind in ("inputs", "outputs"):
        for i, t in enumerate(getattr(entry, kind)):
            here = f"{where}.{kind}[{i}]"
            _one_of(t.dtype, DTYPES, f"{here}.dtype", path)
            if (not all(d is None or 0 < d <= MAX_DIM for d in t.shape) or len(t.shape) > 8
                    or (t.shape and t.shape[0] is not None and t.shape[0] > MAX_BATCH)):
                raise bad_field(path, f"{here}.shape", f"up to 8 sides of 1-{MAX_DIM} or null, "
                                f"a batch of at most {MAX_BATCH}",
                           t.shape)
            if t.quant is not None:
                _check_quant(t.quant, f"{here}.quant", path)


def _check_quant(quant: dict[str, float], where: str, path: Path) -> None:
    if set(quant) != {"scale", "zero_point"}:
        raise bad_field(path, where, "an object with 'scale' and 'zero_point'", sorted(quant))
    if not quant["scale"] > 0:
        raise bad_field(path, f"{where}.scale", "a positive number", quant["scale"])
    if quant["zero_point"] != int(quant["zero_point"]) or abs(quant["zero_point"]) > 255:
        raise bad_field(path, f"{where}.zero_point", "an integer in -255..255", quant["zero_point"])


def _one_of(value: Any, allowed: tuple[str, ...], where: str, path: Path) -> str:
    if value not in allowed or not isinstance(value, str):
        raise bad_field(path, where, "one of " + ", ".join(allowed), value)
    return value
