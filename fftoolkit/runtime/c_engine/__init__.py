"""The C engine: an int8 TFLite model -> plain C99 (weights as const arrays, one static arena,
TFLite Micro's integer arithmetic) that a board compiles without any runtime.

`tflite_model` reads the model, `fuse` groups operators into steps, `lower` turns each step
into a kernel call, `arena` places the activations, `emit` writes the files; `kernels/` holds
one C file per op. The generator lives in the runtime (stdlib and numpy only) so that the
runtime and the firmware compile only C they generated themselves from a verified model: a
bundle's `c/` is checked against it (`fftoolkit.runtime.c_backend.read_c_sources`) and never
compiled as it came.
"""

from __future__ import annotations

from pathlib import Path

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.c_engine.emit import EngineSpec, engine_files, generate
from fftoolkit.runtime.c_engine.tflite_model import parse_model, read_model
from fftoolkit.runtime.manifest import Manifest, load_manifest, read_file

__all__ = ["EngineSpec", "bundle_engine_files", "bundle_engine_spec", "generate", "read_model",
           "write_bundle_c", "write_c_engine"]

SOURCE = "tflite-int8"  # the artifact the C engine is generated from


def write_c_engine(model_path: str | Path, out: str | Path, spec: EngineSpec) -> list[Path]:
    """Generate the C engine of `model_path` (an int8 .tflite) into the directory `out`."""
    return generate(read_model(model_path), spec, Path(out))


def bundle_engine_spec(manifest: Manifest) -> EngineSpec:
    """What the engine of a bundle returns: its int8 TFLite's logits and goodness features.
    Only improved-FF (channel-group) bundles whose int8 model outputs its features."""
    art = manifest.artifacts.get(SOURCE)
    if art is None:
        raise FFTKError("the C engine is generated from the int8 TFLite model and this bundle "
                        "has none: export with --target tflite --quantize int8")
    if manifest.multi_pass.get("kind") != "channel-groups" or art.goodness != "from-features":
        raise FFTKError(f"the C engine runs channel-group FF models with goodness from "
                        f"features; this bundle is {manifest.multi_pass.get('kind')!r} with "
                        f"goodness {art.goodness!r}")
    names = [t.name for t in art.fused.outputs]
    return EngineSpec(manifest.model_name, list(manifest.classes), names[0], names[1:],
                      int(manifest.multi_pass["groups"]))


def bundle_engine_files(bundle: str | Path, manifest: Manifest) -> dict[str, bytes]:
    """The engine this fftk generates from the bundle's int8 TFLite model (sha256-checked
    before it is parsed): file name -> bytes."""
    spec = bundle_engine_spec(manifest)
    entry = manifest.artifacts[SOURCE].fused
    model = parse_model(read_file(bundle, entry), Path(bundle) / entry.file)
    return {name: text.encode() for name, text in engine_files(model, spec).items()}


def write_bundle_c(bundle: str | Path) -> list[Path]:
    """Generate BUNDLE/c/ from the bundle's int8 TFLite model."""
    bundle = Path(bundle)
    manifest = load_manifest(bundle)
    spec = bundle_engine_spec(manifest)
    return write_c_engine(bundle / manifest.artifacts[SOURCE].fused.file, bundle / "c", spec)
