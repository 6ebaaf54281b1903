"""`export_bundle`: checkpoint -> one bundle directory (manifest, ONNX/TFLite files, report).

Reads top to bottom: load and check everything a user can get wrong (checkpoint, target,
output dir, calibration data) before any work, then build every artifact in a temp directory
that is renamed into place only when all of it succeeded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fftoolkit import __version__
from fftoolkit.atomic import atomic_dir, refuse_overlap
from fftoolkit.data.loader import dataset_record
from fftoolkit.errors import FFTKError
from fftoolkit.export.calib import Images, default_dataset, load_images, normalise
from fftoolkit.export.formats import Planned, for_network, plan
from fftoolkit.export.graphs import ExportGraphs, build_graphs
from fftoolkit.export.onnx_export import export_onnx
from fftoolkit.export.quantize import OnnxQuantOptions, quantize_onnx
from fftoolkit.export.report import accuracy_row, build_report, format_report
from fftoolkit.export.tflite_export import export_tflite, quantize_tflite, signature_io
from fftoolkit.ff.predict import predict_both
from fftoolkit.models import Checkpoint, build_network_from_state, load_checkpoint, macs_per_image
from fftoolkit.models.checkpoint import export_weights
from fftoolkit.runtime.formats import FORMATS, artifact_format
from fftoolkit.runtime.manifest import (
    C_KEY,
    Artifact,
    Manifest,
    ModelFile,
    SourceFile,
    TensorInfo,
    sha256_file,
)
from fftoolkit.runtime.runner import open_bundle

EDGETPU_HELP = ("edgetpu_compiler is not on PATH, so no Edge TPU model was built: install it "
                "on an x86-64 Linux machine from https://coral.ai/docs/edgetpu/compiler/ "
                "(apt package edgetpu-compiler) and export again; the CPU-ready int8 model is "
                "{file} in this bundle")


@dataclass
class ExportOptions:
    target: str = "all"
    quantize: str = "none"
    calib_dataset: str | None = None  # default: the dataset the checkpoint was trained on
    calib_samples: int = 256
    eval_samples: int = 1000  # held-back (val) images for the fp32-vs-int8 accuracy report
    batch: int = 1
    force: bool = False
    seed: int = 0
    tflite_ranges: str = "minmax"
    onnx_quant: OnnxQuantOptions = field(default_factory=OnnxQuantOptions)
    threads: int = 1  # runtime threads for calibration and the accuracy check


@dataclass
class ExportResult:
    out: Path
    manifest: Manifest
    report: dict[str, Any]

    def summary(self) -> str:
        return format_report(self.report)


def _load_net(checkpoint: Path) -> tuple[Checkpoint, torch.nn.Module]:
    state = load_checkpoint(checkpoint)
    return state, build_network_from_state(state, source=str(checkpoint))


def _activations(graphs: ExportGraphs, x: np.ndarray) -> list[np.ndarray]:
    """Float NCHW inputs of every block, then the last block's output (fp32 torch)."""
    acts, t = [x], torch.from_numpy(x)
    with torch.no_grad():
        for block in graphs.blocks:
            t = torch.cat([block(t[i:i + 256]) for i in range(0, len(t), 256)])
            acts.append(t.numpy())
    return acts


def read_onnx_file(bundle: Path, name: str) -> ModelFile:
    import onnxruntime as ort

    path = bundle / name
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def info(v: Any) -> TensorInfo:
        return TensorInfo(v.name, [d if isinstance(d, int) else None for d in v.shape], "float32")

    return ModelFile(name, sha256_file(path), [info(v) for v in sess.get_inputs()],
                     [info(v) for v in sess.get_outputs()])


def read_tflite_file(bundle: Path, name: str) -> ModelFile:
    path = bundle / name
    ins, outs = signature_io(path)

    def info(d: dict[str, Any]) -> TensorInfo:
        scale, zero = (d.get("quantization") or (0.0, 0))[:2]
        quant = {"scale": float(scale), "zero_point": int(zero)} if scale else None
        return TensorInfo(d["name"], [int(s) for s in d["shape"]], np.dtype(d["dtype"]).name,
                          quant)

    return ModelFile(name, sha256_file(path), [info(d) for d in ins], [info(d) for d in outs])


class _Builder:
    """Writes the files of each planned artifact into the temp bundle directory."""

    def __init__(self, tmp: Path, graphs: ExportGraphs, calib: np.ndarray | None,
                 opts: ExportOptions, bar: tqdm):
        self.tmp, self.graphs, self.opts, self.bar = tmp, graphs, opts, bar
        self.acts = _activations(graphs, calib) if calib is not None else None
        heads = graphs.head_blocks
        self.head_inputs = {graphs.feature_names[k]: graphs.block_inputs[i + 1]
                            if i + 1 < len(graphs.blocks) else self._last_shape()
                            for k, i in enumerate(heads)}

    def _last_shape(self) -> tuple[int, ...]:
        with torch.no_grad():
            x = torch.zeros(1, *self.graphs.block_inputs[-1])
            return tuple(self.graphs.blocks[-1](x).shape[1:])

    def _head_calib(self) -> list[np.ndarray]:
        assert self.acts is not None
        return [self.acts[i + 1] for i in self.graphs.head_blocks]

    def _step(self, what: str) -> None:
        self.bar.set_description(what)
        self.bar.update(1)

    def _goodness(self, preferred: str) -> str:
        return preferred if preferred in self.graphs.fused else "in-graph"

    def build(self, p: Planned) -> Artifact:
        fmt, g = p.fmt, self.graphs
        goodness = self._goodness(fmt.goodness)
        names = {"fused": fmt.file_name("model", p.batch),
                 "blocks": [fmt.file_name(f"block_{i}") for i in range(len(g.blocks))],
                 "head": fmt.file_name("head")}
        with_blocks = fmt.blocks and p.batch is None
        BUILDERS[fmt.name](self, names, goodness, p.batch or 1, with_blocks)
        read = read_onnx_file if fmt.family == "onnx" else read_tflite_file
        return Artifact(
            format=fmt.family, precision=fmt.precision, layout=fmt.layout,
            batch=None if fmt.dynamic_batch else (p.batch or 1),
            fused=read(self.tmp, names["fused"]),
            blocks=[read(self.tmp, b) for b in names["blocks"]] if with_blocks else [],
            head=read(self.tmp, names["head"]) if with_blocks else None, goodness=goodness)

    # Each builder writes one format's files: (names, goodness mode, batch, with_blocks).

    def _onnx_fp32(self, names: dict[str, Any], goodness: str, batch: int,
                   with_blocks: bool) -> None:
        g = self.graphs
        outputs = ["logits", "goodness"] if goodness == "in-graph" else ["logits", *g.feature_names]
        self._step(names["fused"])
        export_onnx(g.fused[goodness], {"image": g.block_inputs[0]}, outputs,
                    self.tmp / names["fused"])
        if not with_blocks:
            return
        for block, shape, name in zip(g.blocks, g.block_inputs, names["blocks"], strict=True):
            self._step(name)
            export_onnx(block, {"input": shape}, ["output"], self.tmp / name)
        self._step(names["head"])
        export_onnx(g.head, self.head_inputs, ["logits"], self.tmp / names["head"])

    def _onnx_int8(self, names: dict[str, Any], goodness: str, batch: int,
                   with_blocks: bool) -> None:
        assert self.acts is not None
        src = FORMATS["onnx-fp32"]
        q = self.opts.onnx_quant
        self._step(names["fused"])
        quantize_onnx(self.tmp / src.file_name("model"), self.tmp / names["fused"],
                      {"image": self.acts[0]}, q)
        if not with_blocks:
            return
        for i, name in enumerate(names["blocks"]):
            self._step(name)
            quantize_onnx(self.tmp / src.file_name(f"block_{i}"), self.tmp / name,
                          {"input": self.acts[i]}, q)
        self._step(names["head"])
        quantize_onnx(self.tmp / src.file_name("head"), self.tmp / names["head"],
                      dict(zip(self.head_inputs, self._head_calib(), strict=True)), q)

    def _tflite_fp32(self, names: dict[str, Any], goodness: str, batch: int,
                     with_blocks: bool) -> None:
        g = self.graphs
        self._step(names["fused"])
        export_tflite(g.fused[goodness], [g.block_inputs[0]], batch, self.tmp / names["fused"])
        if not with_blocks:
            return
        for block, shape, name in zip(g.blocks, g.block_inputs, names["blocks"], strict=True):
            self._step(name)
            export_tflite(block, [shape], 1, self.tmp / name)
        self._step(names["head"])
        export_tflite(g.head, list(self.head_inputs.values()), 1, self.tmp / names["head"])

    def _tflite_int8(self, names: dict[str, Any], goodness: str, batch: int,
                     with_blocks: bool) -> None:
        assert self.acts is not None
        src = FORMATS["tflite-fp32"]
        ranges = self.opts.tflite_ranges
        self._step(names["fused"])
        image_range = self.graphs.input_range
        quantize_tflite(self.tmp / src.file_name("model", batch if batch > 1 else None),
                        self.tmp / names["fused"], [self.acts[0]], ranges, image_range)
        if not with_blocks:
            return
        for i, name in enumerate(names["blocks"]):
            self._step(name)
            quantize_tflite(self.tmp / src.file_name(f"block_{i}"), self.tmp / name,
                            [self.acts[i]], ranges, image_range if i == 0 else None)
        self._step(names["head"])
        quantize_tflite(self.tmp / src.file_name("head"), self.tmp / names["head"],
                        self._head_calib(), ranges)


# format -> the builder that writes its files (edgetpu-int8 is compiled from tflite-int8)
BUILDERS = {
    "onnx-fp32": _Builder._onnx_fp32, "onnx-int8": _Builder._onnx_int8,
    "tflite-fp32": _Builder._tflite_fp32, "tflite-int8": _Builder._tflite_int8,
}


def _edgetpu(tmp: Path, int8: Artifact) -> tuple[Artifact | None, str | None]:
    """Compile the int8 TFLite for the Edge TPU when the compiler is installed."""
    compiler = shutil.which("edgetpu_compiler")
    if compiler is None:
        return None, EDGETPU_HELP.format(file=int8.fused.file)
    done = subprocess.run([compiler, "-s", "-o", str(tmp), str(tmp / int8.fused.file)],
                          capture_output=True, text=True, check=False)
    name = FORMATS["edgetpu-int8"].file_name("model")
    if done.returncode != 0 or not (tmp / name).is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FFTKError(f"edgetpu_compiler failed on {int8.fused.file}: {last[0]}")
    fused = ModelFile(name, sha256_file(tmp / name), int8.fused.inputs, int8.fused.outputs)
    return Artifact("edgetpu", "int8", int8.layout, int8.batch, fused,
                    goodness=int8.goodness), None


def _c_engine(tmp: Path, manifest: Manifest, target: str) -> tuple[Artifact | None, str | None]:
    """Generate c/ from the int8 TFLite just written (no compiler needed) and list its files.
    Under `--target all` a model the engine cannot express is a note, not a failed export."""
    from fftoolkit.export.c_engine import bundle_engine_spec, write_c_engine

    src = manifest.artifacts["tflite-int8"]
    folder = tmp / "c"
    try:
        write_c_engine(tmp / src.fused.file, folder, bundle_engine_spec(manifest))
    except FFTKError as exc:
        if target == "c":
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"no C engine (c-int8): {exc}"
    entries = sorted(folder.iterdir())
    if any(not p.is_file() or p.is_symlink() for p in entries):  # one folder level, files only
        raise FFTKError(f"{folder}: the C engine wrote something other than plain files")
    sources = [SourceFile(f"c/{p.name}", sha256_file(p)) for p in entries]
    main = next(s for s in sources if s.file == "c/fftk_model.c")
    fused = ModelFile(main.file, main.sha256, src.fused.inputs, src.fused.outputs)
    return Artifact("c", "int8", "NHWC", 1, fused, goodness="from-features",
                    sources=sources), None


def _planned_steps(planned: list[Planned], n_blocks: int) -> int:
    return sum(1 + (n_blocks + 1 if p.fmt.blocks and p.batch is None else 0) for p in planned)


def export_bundle(checkpoint: str | Path, out: str | Path,
                  options: ExportOptions | None = None, progress: bool = True) -> ExportResult:
    """Export `checkpoint` into the bundle directory `out` (see fftoolkit/runtime/manifest.py)."""
    opts = options or ExportOptions()
    checkpoint, out = Path(checkpoint), Path(out)
    planned = plan(opts.target, opts.quantize, opts.batch)
    if out.exists() and not opts.force:
        raise FFTKError(f"{out}: already exists (pass --force to replace it)")
    if opts.quantize == "int8" and opts.calib_samples < opts.batch:
        raise FFTKError(f"--calib-samples {opts.calib_samples} is fewer than --batch {opts.batch}")
    state, net = _load_net(checkpoint)
    spec = net.spec
    planned, notes = for_network(planned, opts.target, spec.network, spec.name)
    dataset = opts.calib_dataset or default_dataset(state, spec)
    refuse_overlap(out, {"checkpoint": checkpoint, "calibration dataset": dataset})
    calib: Images | None = None
    if opts.quantize == "int8":
        calib = load_images(dataset, "train", opts.calib_samples, state, spec, opts.seed)
    held = _held_back(dataset, opts, state, spec, required=opts.calib_dataset is not None)
    source = dataset_record(dataset)  # by name, sha256 or relative path: never this machine's
    graphs = build_graphs(net, state.normalization)
    if held is None:
        notes.append("accuracy not measured: no held-back images from "
                     f"{source.get('path', source['name'])!r}")
    keys = {p.key for p in planned}
    evaluated = ([k for k in keys if k.split("-")[0] in ("onnx", "tflite")]
                 if held is not None else [])
    total = 2 + _planned_steps([p for p in planned if p.fmt.family != "edgetpu"],
                               len(graphs.blocks)) + len(evaluated)
    with tqdm(total=total, desc="export", unit="step", file=sys.stderr,
              disable=not progress) as bar, atomic_dir(out, force=opts.force) as tmp:
        bar.set_description("reference.safetensors")
        _write_reference(checkpoint, tmp, graphs)
        bar.update(1)
        x_calib = normalise(calib.images, graphs.normalization) if calib is not None else None
        builder = _Builder(tmp, graphs, x_calib, opts, bar)
        artifacts: dict[str, Artifact] = {}
        for p in planned:
            if p.fmt.family == "c":
                continue  # generated from the manifest's tflite-int8, below
            if p.fmt.family == "edgetpu":
                art, note = _edgetpu(tmp, artifacts["tflite-int8"])
                if art is not None:
                    artifacts[p.key] = art
                if note:
                    notes.append(note)
                continue
            artifacts[p.key] = builder.build(p)
        bar.set_description("manifest")
        manifest = _manifest(state, checkpoint, spec, graphs, artifacts, tmp, opts, calib,
                             source)
        if C_KEY in keys:
            bar.set_description("c/")
            art, note = _c_engine(tmp, manifest, opts.target)
            if art is not None:
                artifacts[C_KEY] = art  # the manifest's artifacts are this dict
            if note:
                notes.append(note)
            bar.update(1)
        manifest.write(tmp)
        accuracy = None
        if held is not None:  # the written bundle, opened as a board opens it
            accuracy = _accuracy(tmp, net, state, manifest, held, source, bar, opts.threads)
        report = build_report(spec, tmp, artifacts, accuracy, notes)
        (tmp / "report.json").write_text(json.dumps(report, indent=2))
        bar.update(1)
    return ExportResult(out, manifest, report)


def _held_back(dataset: str, opts: ExportOptions, state: Checkpoint, spec: Any,
               required: bool) -> Images | None:
    """Val images for the accuracy report. Required when int8 or a dataset was named;
    otherwise (fp32 export, default dataset not available here) the report says so."""
    if opts.eval_samples <= 0:
        return None
    try:
        return load_images(dataset, "val", opts.eval_samples, state, spec, opts.seed)
    except FFTKError:
        if required or opts.quantize == "int8":
            raise
        return None


def _write_reference(checkpoint: Path, tmp: Path, graphs: ExportGraphs) -> None:
    export_weights(checkpoint, tmp / "reference.safetensors")  # header sorted: reproducible
    if graphs.overlay_patterns is not None:
        np.save(tmp / "overlay.npy", graphs.overlay_patterns.numpy().astype(np.float32))


def _accuracy(tmp: Path, net: torch.nn.Module, state: Checkpoint, manifest: Manifest,
              held: Images, source: dict[str, str], bar: tqdm, threads: int) -> dict[str, Any]:
    """Error and agreement with the source network per artifact, each one run by the runtime
    from the bundle just written (so the report says what a board will do). `source`: the
    held-back images' dataset as `dataset_record` names it."""
    norm = state.normalization
    ref = predict_both(net, held.images, norm["mean"], norm["std"])
    rows = {"torch-fp32": accuracy_row(*ref, held.labels, None)}
    for key, art in manifest.artifacts.items():
        if art.format in ("edgetpu", "c"):  # need their hardware / a compiler: not at export
            continue
        bar.set_description(f"accuracy {key}")
        rows[key] = accuracy_row(*runtime_predictions(tmp, key, held.images, threads),
                                 held.labels, ref)
        bar.update(1)
    return {"dataset": source, "split": held.split, "images": int(len(held.labels)),
            "rows": rows}


def runtime_predictions(bundle: Path, key: str, images: np.ndarray,
                        threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(one-pass, multi-pass) classes of uint8 NHWC images, the artifact `key` of `bundle` run
    by the runtime's fused graph: the preprocessing, quantization and goodness of a board."""
    name, batch = artifact_format(key)
    loaded = open_bundle(bundle, fmt=name, threads=threads, batch=batch)
    logits, goodness = loaded.predictor.forward(loaded.preprocess(images))
    return logits.argmax(1), goodness.argmax(1)


def _manifest(state: Checkpoint, checkpoint: Path, spec: Any, graphs: ExportGraphs,
              artifacts: dict[str, Artifact], tmp: Path, opts: ExportOptions,
              calib: Images | None, source: dict[str, str]) -> Manifest:
    c, h, w = spec.input
    ref_io = ([TensorInfo("image", [None, c, h, w], "float32")],
              [TensorInfo("logits", [None, spec.num_classes], "float32"),
               TensorInfo("goodness", [None, spec.num_classes], "float32")])
    extra: dict[str, Any] = {"reference_normalization": state.normalization,
                             "macs_per_image": macs_per_image(spec)}
    if calib is not None:
        extra["calibration"] = {
            "dataset": source, "split": calib.split, "images": int(len(calib.labels)),
            "seed": opts.seed, "tflite_ranges": opts.tflite_ranges,
            "onnx": {"activation": opts.onnx_quant.activation,
                     "weight": opts.onnx_quant.weight,
                     "reduce_range": opts.onnx_quant.reduce_range,
                     "method": opts.onnx_quant.method,
                     "goodness_in_float": opts.onnx_quant.keep_goodness_float}}
    return Manifest(
        model_name=spec.name, algorithm=spec.algorithm, spec=state.spec,
        classes=list(state.classes), input_shape=[c, h, w],
        normalization=graphs.normalization, goodness_blocks=graphs.goodness_blocks,
        head_blocks=graphs.head_blocks, multi_pass=_multi_pass(graphs, tmp), artifacts=artifacts,
        source_checkpoint_sha256=sha256_file(checkpoint),
        reference=ModelFile("reference.safetensors", sha256_file(tmp / "reference.safetensors"),
                            *ref_io),
        fftk_version=__version__, extra=extra)


def _multi_pass(graphs: ExportGraphs, tmp: Path) -> dict[str, Any]:
    """The graphs' multi-pass description, with the overlay patterns' file and sha256."""
    name = graphs.multi_pass.get("patterns")
    if not name:
        return graphs.multi_pass
    return {**graphs.multi_pass, "patterns": {"file": name, "sha256": sha256_file(tmp / name)}}
