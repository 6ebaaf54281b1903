"""A bundle's model as one callable: normalised float batch -> (logits, goodness).

`FusedGraph` runs the fused file; `BlockGraph` chains the per-block files and the head as the
manifest lists them (same predictions, and a way to time or debug one block). Both quantize
int8 I/O with the manifest's scale/zero point.

`CGraph` runs the C engine (`c-int8`, built from the bundle's c/ sources, see c_backend.py).

`open_graph` looks the format's family up in a small registry of graph openers. The runtime
registers its own file families (onnx, tflite, edgetpu, c); the torch reference (`torch-fp32`)
lives outside the runtime and registers the `torch` family when it is imported, so the runtime
never imports it (the CLI and the bench worker import it when that format is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.backends import Session, open_session
from fftoolkit.runtime.c_backend import Engine, build_engine, compiler_version, read_c_sources
from fftoolkit.runtime.formats import Format, find_artifact
from fftoolkit.runtime.goodness import block_goodness, fused_goodness, goodness_from_sums
from fftoolkit.runtime.manifest import (
    C_KEY,
    MANIFEST_NAME,
    Artifact,
    Manifest,
    ModelFile,
    read_file,
)
from fftoolkit.runtime.quant import dequantize, quantize

Need = tuple[bool, bool]  # (logits, goodness): what the caller will use
BOTH: Need = (True, True)
Outputs = tuple[np.ndarray | None, np.ndarray | None]


class Graph(Protocol):
    """What the predictor needs from any backend: (logits (N, J), goodness) for a normalised
    batch, skipping what `need` leaves out (one-pass needs no goodness)."""

    info: GraphInfo

    def __call__(self, x: np.ndarray, need: Need = BOTH) -> Outputs: ...


@dataclass
class GraphInfo:
    """How the input must look and what runs it (for preprocessing and the logs)."""

    layout: str  # "NCHW" | "NHWC"
    normalization: dict[str, list[float]]
    batch: int | None  # fixed batch, or None = any
    runtime: str
    version: str
    files: list[Path] = field(default_factory=list)
    delegate: str = ""
    artifact: str = ""
    # True if one call returns (logits, goodness (N, J)): improved FF, and the original FF's
    # fused export and torch reference, which overlay the J labels in-graph. False: the runner
    # overlays labels itself (original FF, per-block files).
    overlays_in_graph: bool = True
    helper_pids: list[int] = field(default_factory=list)  # processes it runs in (C engine)

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


class ModelRunner:
    """One model file: float arrays in manifest order -> float arrays in manifest order."""

    def __init__(self, session: Session, entry: ModelFile, path: Path):
        self.session, self.entry, self.path = session, entry, path
        self.in_order = _order(path, "inputs", [t.name for t in entry.inputs],
                               session.input_names)
        self.out_order = _order(path, "outputs", [t.name for t in entry.outputs],
                                session.output_names)
        for kind, infos, order, dtypes in (
                ("input", entry.inputs, self.in_order, session.input_dtypes),
                ("output", entry.outputs, self.out_order, session.output_dtypes)):
            for info, i in zip(infos, order, strict=True):
                if info.dtype != dtypes[i]:
                    raise FFTKError(f"{path}: {kind} {info.name!r} is {dtypes[i]} in the model "
                                    f"but {info.dtype} in the manifest")
        first = entry.inputs[0].shape[0] if entry.inputs and entry.inputs[0].shape else None
        self.batch = int(first) if isinstance(first, int) else None

    def __call__(self, arrays: list[np.ndarray],
                 wanted: list[int] | None = None) -> list[np.ndarray | None]:
        """Run; only the `wanted` outputs (manifest positions; all if None) are fetched and
        dequantized, the others are None."""
        feed: list[np.ndarray] = [np.empty(0)] * len(arrays)
        for array, info, i in zip(arrays, self.entry.inputs, self.in_order, strict=True):
            feed[i] = quantize(array, info)
        picks = range(len(self.entry.outputs)) if wanted is None else wanted
        outs = self.session.run(feed, [self.out_order[k] for k in picks])
        result: list[np.ndarray | None] = [None] * len(self.entry.outputs)
        for k, out in zip(picks, outs, strict=True):
            result[k] = dequantize(out, self.entry.outputs[k])
        return result


class FusedGraph:
    """The fused model: logits + goodness in-graph, or logits + features (goodness here)."""

    def __init__(self, manifest: Manifest, artifact: Artifact, runner: ModelRunner):
        self.manifest, self.artifact, self.runner = manifest, artifact, runner
        n = len(runner.entry.outputs)
        self.wanted = {(True, False): [0], (False, True): list(range(1, n)),
                       (True, True): list(range(n))}

    def __call__(self, x: np.ndarray, need: Need = BOTH) -> Outputs:
        outs = self.runner([x], self.wanted[need])
        if not need[1]:
            return outs[0], None
        if self.artifact.goodness == "in-graph":
            return outs[0], outs[1]
        return outs[0], fused_goodness(outs[1:], self.manifest.multi_pass, self.artifact.layout)


class BlockGraph:
    """Per-block files chained in order; the head reads `head_blocks`, goodness reads
    `goodness_blocks` (computed here from the features, eq. 2)."""

    def __init__(self, manifest: Manifest, artifact: Artifact, blocks: list[ModelRunner],
                 head: ModelRunner):
        self.manifest, self.artifact, self.blocks, self.head = manifest, artifact, blocks, head

    def __call__(self, x: np.ndarray, need: Need = BOTH) -> Outputs:
        feats = []
        for block in self.blocks:
            x = block([x])[0]
            feats.append(x)
        logits = self.head([feats[i] for i in self.manifest.head_blocks])[0] if need[0] else None
        g = block_goodness([feats[i] for i in self.manifest.goodness_blocks],
                           self.manifest.multi_pass, self.artifact.layout) if need[1] else None
        return logits, g


class CGraph:
    """The C engine: quantize with the manifest's input parameters, run the compiled engine,
    dequantize the logits and turn its integer goodness sums into eq. 2 (the same numbers the
    tflite-int8 graph gives from its int8 features, in TFLite Micro's arithmetic)."""

    def __init__(self, manifest: Manifest, artifact: Artifact, engine: Engine, info: GraphInfo):
        self.artifact, self.engine, self.info = artifact, engine, info
        self.groups = int(manifest.multi_pass["groups"])
        feats = artifact.fused.outputs[1:]
        self.scales = [float(f.quant["scale"]) for f in feats if f.quant]
        self.sizes = [int(np.prod(f.shape)) // self.groups for f in feats]

    def __call__(self, x: np.ndarray, need: Need = BOTH) -> Outputs:
        fused = self.artifact.fused
        logits_q, sums = self.engine(quantize(x, fused.inputs[0]))
        logits = dequantize(logits_q, fused.outputs[0]) if need[0] else None
        good = goodness_from_sums(sums, self.scales, self.sizes, self.groups) if need[1] else None
        return logits, good


def open_c(bundle: Path, manifest: Manifest, fmt: Format, backend: str, threads: int,
           per_block: bool, batch: int | None) -> CGraph:
    """Build (once, cached) and start the bundle's C engine; a CGraph of it."""
    key, artifact = find_artifact(manifest, fmt, str(bundle))
    if backend != fmt.backend:
        raise FFTKError(f"format '{fmt.name}' runs on backend '{fmt.backend}', not '{backend}'")
    if per_block:
        raise FFTKError(f"{bundle}: '{key}' is one engine with no per-block files; drop "
                        "--per-block")
    _check_c_io(manifest, artifact, bundle / MANIFEST_NAME)
    binary = build_engine(read_c_sources(bundle, manifest), str(bundle / "c"))
    fused = artifact.fused
    image = int(np.prod(fused.inputs[0].shape))
    engine = Engine(binary, image, int(np.prod(fused.outputs[0].shape)),
                    (len(fused.outputs) - 1) * int(manifest.multi_pass["groups"]))
    # batch None: the engine takes one image at a time, and CGraph streams any number
    info = GraphInfo(layout=artifact.layout, normalization=manifest.normalization, batch=None,
                     runtime="fftk-c", version=f"{compiler_version(binary)} -O3".strip(),
                     files=[binary], artifact=key, helper_pids=[engine.proc.pid])
    return CGraph(manifest, artifact, engine, info)


def _check_c_io(manifest: Manifest, artifact: Artifact, path: Path) -> None:
    """What CGraph reads: channel groups, one int8 image input, int8 logits, and int8 NHWC
    features whose channels split into the groups."""
    fused = artifact.fused
    groups = manifest.multi_pass.get("groups")
    ins, outs = fused.inputs, fused.outputs
    ok = (manifest.multi_pass["kind"] == "channel-groups" and len(ins) == 1 and len(outs) >= 2
          and all(t.dtype == "int8" and t.quant and all(d is not None for d in t.shape)
                  for t in [*ins, *outs])
          and all(len(t.shape) == 4 and t.shape[-1] % groups == 0 for t in outs[1:]))
    if not ok:
        raise FFTKError(f"{path}: artifact '{C_KEY}' must be a channel-group model with one int8 "
                        "image input, int8 logits and int8 NHWC features (fixed shapes, "
                        "quantized)")


class GraphOpener(Protocol):
    """Opens a format family's model from a bundle: what `open_graph` calls."""

    def __call__(self, bundle: Path, manifest: Manifest, fmt: Format, backend: str,
                 threads: int, per_block: bool, batch: int | None) -> Any: ...


_OPENERS: dict[str, GraphOpener] = {}
# Families opened outside the runtime, and what provides their opener (for the error message).
_PROVIDED_BY = {"torch": "the torch reference: `import fftoolkit.reference` first (it needs "
                         "PyTorch: pip install fftoolkit, the full install)"}


def register_graph_opener(family: str, opener: GraphOpener) -> None:
    """Make `open_graph` open formats of `family` (a `Format.family`) with `opener`."""
    _OPENERS[family] = opener


def graph_opener(fmt: Format) -> GraphOpener:
    """The opener registered for the format's family, or a one-line error saying what to load."""
    if fmt.family not in _OPENERS:
        where = _PROVIDED_BY.get(fmt.family, "a package that registers one with "
                                              "fftoolkit.runtime.graph.register_graph_opener")
        raise FFTKError(f"format '{fmt.name}': no graph opener for '{fmt.family}' models is "
                        f"registered; it comes from {where}")
    return _OPENERS[fmt.family]


def open_graph(bundle: Path, manifest: Manifest, fmt: Format, backend: str, threads: int,
               per_block: bool = False, batch: int | None = None) -> Any:
    """The format's model as a Graph, opened by its family's registered opener."""
    return graph_opener(fmt)(bundle, manifest, fmt, backend, threads, per_block, batch)


def open_files(bundle: Path, manifest: Manifest, fmt: Format, backend: str, threads: int,
               per_block: bool, batch: int | None) -> Any:
    """Load the files with `backend`, each from bytes checked against its sha256; a Graph."""
    key, artifact = find_artifact(manifest, fmt, str(bundle), batch)

    def load(entry: ModelFile) -> ModelRunner:
        data = read_file(bundle, entry)
        path = bundle / entry.file
        return ModelRunner(open_session(backend, path, threads, data), entry, path)

    if per_block:
        if not artifact.blocks or artifact.head is None:
            raise FFTKError(f"{bundle}: artifact '{key}' has no per-block files; re-export "
                            "with per-block files to use --per-block")
        blocks = [load(b) for b in artifact.blocks]
        head = load(artifact.head)
        graph: Any = BlockGraph(manifest, artifact, blocks, head)
        first, files = blocks[0], [r.path for r in [*blocks, head]]
    else:
        first = load(artifact.fused)
        graph = FusedGraph(manifest, artifact, first)
        files = [first.path]
    graph.info = GraphInfo(
        layout=artifact.layout, normalization=manifest.normalization, batch=first.batch,
        runtime=first.session.runtime, version=first.session.version, files=files,
        delegate=first.session.delegate, artifact=key,
        overlays_in_graph=manifest.multi_pass["kind"] == "channel-groups" or (
            not per_block and bool(manifest.multi_pass.get("fused_batches_overlays"))),
    )
    return graph


for _family in ("onnx", "tflite", "edgetpu"):  # the families this runtime opens itself
    register_graph_opener(_family, open_files)
register_graph_opener("c", open_c)


def _order(path: Path, kind: str, manifest_names: list[str], model_names: list[str]) -> list[int]:
    """Positions of the manifest's tensors in the model: by name, else by position."""
    if len(manifest_names) != len(model_names):
        raise FFTKError(f"{path}: the model has {len(model_names)} {kind} but the manifest lists "
                        f"{len(manifest_names)}")
    if sorted(manifest_names) == sorted(model_names):
        return [model_names.index(n) for n in manifest_names]
    return list(range(len(manifest_names)))
