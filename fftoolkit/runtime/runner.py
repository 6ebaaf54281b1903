"""`fftk run` as a library call: load a bundle with a backend, classify images, score them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import Format, auto_backend, format_for, get_format
from fftoolkit.runtime.graph import open_graph
from fftoolkit.runtime.images import Inputs
from fftoolkit.runtime.manifest import Manifest, load_manifest
from fftoolkit.runtime.predictor import Predictor, softmax
from fftoolkit.runtime.preprocess import Preprocessor


@dataclass
class Loaded:
    """A bundle opened for one format and backend, ready to classify uint8 images."""

    bundle: Path
    manifest: Manifest
    fmt: Format
    backend: str
    graph: Any
    predictor: Predictor
    preprocess: Preprocessor


def open_bundle(bundle: str | Path, backend: str = "auto", precision: str = "int8",
                fmt: str | None = None, threads: int = 1, per_block: bool = False,
                batch: int | None = None, expect_sha256: str | None = None) -> Loaded:
    """Read the manifest, pick the format (from `fmt`, or backend + precision), load the model.

    `expect_sha256` pins the manifest (the CLI's --expect-sha256, or the one the bench parent
    checked, so every worker process runs the same bundle)."""
    bundle = Path(bundle)
    manifest = load_manifest(bundle, expect_sha256)
    chosen, backend = choose_format(manifest, backend, precision, fmt)
    graph = open_graph(bundle, manifest, chosen, backend, threads, per_block, batch)
    pre = Preprocessor(manifest.input_shape, graph.info.normalization, graph.info.layout)
    return Loaded(bundle, manifest, chosen, backend, graph, Predictor(manifest, graph, bundle),
                  pre)


def choose_format(manifest: Manifest, backend: str = "auto", precision: str = "int8",
                  fmt: str | None = None) -> tuple[Format, str]:
    """(format, backend) that `open_bundle` opens: `fmt` with its default backend, or
    the backend (auto: what the bundle and this machine have) at `precision`."""
    if fmt is not None:
        chosen = get_format(fmt)
        return chosen, chosen.backend if backend == "auto" else backend
    backend = auto_backend(manifest) if backend == "auto" else backend
    return format_for(backend, "fp32" if backend == "torch" else precision), backend


@dataclass
class RunResult:
    """Predictions for every input, and the error rate where labels are known."""

    names: list[str]
    predictions: list[int]
    confidences: list[float]
    labels: list[int]
    classes: list[str]
    inference: str
    format: str
    backend: str
    runtime: str
    notes: list[str] = field(default_factory=list)
    scores: list[list[float]] | None = None  # class probabilities per image, when asked for

    @property
    def n(self) -> int:
        return len(self.predictions)

    @property
    def error(self) -> float | None:
        """Error in percent over the labelled inputs (None without labels)."""
        known = [(p, y) for p, y in zip(self.predictions, self.labels, strict=True) if y >= 0]
        if not known:
            return None
        return 100.0 * sum(p != y for p, y in known) / len(known)

    def to_json(self) -> dict[str, Any]:
        """`fftk run --json`; each prediction carries its `scores` (the class probabilities,
        which host-vs-board parity compares) only when classify kept them."""
        predictions = [
            {"input": name, "class": self.classes[p], "index": p, "confidence": c,
             "label": self.classes[y] if y >= 0 else None}
            for name, p, c, y in zip(self.names, self.predictions, self.confidences,
                                     self.labels, strict=True)
        ]
        if self.scores is not None:
            for record, probs in zip(predictions, self.scores, strict=True):
                record["scores"] = probs
        return {
            "error": self.error, "n": self.n, "format": self.format, "backend": self.backend,
            "runtime": self.runtime, "inference": self.inference, "notes": self.notes,
            "predictions": predictions,
        }


def classify(loaded: Loaded, inputs: Inputs, inference: str = "one-pass",
             chunk: int = 256, progress: Any = None, keep_scores: bool = False) -> RunResult:
    """Classify `inputs` in chunks (bounded memory); `progress(n)` is told after each chunk.

    `keep_scores` keeps every image's class probabilities (N x classes floats), not just the
    top one: only `fftk run --scores` (host-vs-board parity) asks for them."""
    if len(inputs) == 0:
        raise FFTKError("no images to classify")
    notes = []
    note = loaded.preprocess.resize_note(inputs.images, inputs.names)
    if note:
        notes.append(note)
    preds: list[int] = []
    confs: list[float] = []
    kept: list[list[float]] | None = [] if keep_scores else None
    for start in range(0, len(inputs), chunk):
        x = loaded.preprocess(inputs.images[start:start + chunk])
        scores = loaded.predictor.scores(x, inference)
        probs = softmax(scores)
        preds.extend(int(i) for i in scores.argmax(axis=1))
        confs.extend(float(c) for c in probs.max(axis=1))
        if kept is not None:
            kept.extend([float(v) for v in row] for row in probs)
        if progress is not None:
            progress(len(x))
    return RunResult(inputs.names, preds, confs, [int(v) for v in inputs.labels],
                     list(loaded.manifest.classes), inference, loaded.fmt.name, loaded.backend,
                     f"{loaded.graph.info.runtime} {loaded.graph.info.version}".strip(), notes,
                     kept)
