"""Predictions from a graph: batching to the model's batch size, and the two inference modes.

Improved FF (`channel-groups`): one pass gives both the head logits (one-pass) and the
per-class goodness (the paper's "multi-pass" = goodness prediction). Original FF
(`label-overlay`): one-pass runs the neutral overlay through the head; multi-pass runs the J
label overlays of every image (batched, J*N samples) and takes the label with most goodness.
The fused export and the torch reference overlay in-graph; with per-block files the runner
overlays here, so one-pass costs one pass and multi-pass J.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime import overlay
from fftoolkit.runtime.graph import BOTH, Need, Outputs
from fftoolkit.runtime.manifest import MANIFEST_NAME, Manifest
from fftoolkit.untrusted import read_verified

INFERENCE = ("one-pass", "multi-pass")


class Predictor:
    """Runs normalised float batches through a graph and turns its outputs into class scores."""

    def __init__(self, manifest: Manifest, graph: Any, bundle: Path, max_batch: int = 64):
        self.manifest, self.graph = manifest, graph
        self.fixed = graph.info.batch
        self.max_batch = self.fixed or max_batch
        self.num_classes = len(manifest.classes)
        self.patterns = _patterns(bundle, manifest)

    def forward(self, x: np.ndarray, need: Need = BOTH) -> Outputs:
        """(logits, goodness) for any batch size: chunks of the model's batch, last one padded;
        what `need` leaves out is None."""
        parts: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for start in range(0, len(x), self.max_batch):
            chunk = x[start:start + self.max_batch]
            n = len(chunk)
            if self.fixed and n < self.fixed:
                chunk = np.concatenate([chunk, np.zeros((self.fixed - n, *chunk.shape[1:]),
                                                        dtype=chunk.dtype)])
            for part, out in zip(parts, self.graph(chunk, need), strict=True):
                if out is not None:
                    part.append(out[:n])
        logits, good = (np.concatenate(p) if p else None for p in parts)
        return logits, good

    def scores(self, x: np.ndarray, inference: str) -> np.ndarray:
        """(N, J) class scores: head logits (one-pass) or goodness per class (multi-pass)."""
        if inference not in INFERENCE:
            raise FFTKError(f"unknown inference mode '{inference}' (one of {', '.join(INFERENCE)})")
        one = inference == "one-pass"
        if self.graph.info.overlays_in_graph:
            logits, good = self.forward(x, (one, not one))
            return logits if one else good
        layout = self.graph.info.layout
        kind = self.manifest.multi_pass["overlay"]
        if one:
            neutral = overlay.apply(kind, x, None, self.num_classes, layout, self.patterns)
            return self.forward(neutral, (True, False))[0]
        j, n = self.num_classes, len(x)
        labels = np.repeat(np.arange(j), n)  # (J*N,) label-major, as the torch predictor
        tiled = np.concatenate([x] * j)
        overlaid = overlay.apply(kind, tiled, labels, j, layout, self.patterns)
        good = self.forward(overlaid, (False, True))[1]  # (J*N,)
        return good.reshape(j, n).T

    def scores_both(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Scores for both modes; one call serves both unless the runner overlays labels."""
        if self.graph.info.overlays_in_graph:
            logits, good = self.forward(x)
            return {"one-pass": logits, "multi-pass": good}
        return {mode: self.scores(x, mode) for mode in INFERENCE}


def softmax(scores: np.ndarray) -> np.ndarray:
    """The confidence shown next to a prediction (for goodness: softmax over the classes)."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def error_percent(scores: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float((scores.argmax(axis=1) != labels).mean())


def _patterns(bundle: Path, manifest: Manifest) -> np.ndarray | None:
    """The fourier overlay patterns (J, H, W), read from bytes checked against their sha256."""
    listed = manifest.multi_pass.get("patterns")
    if not listed:
        return None
    path = bundle / listed["file"]
    data = read_verified(bundle, listed["file"], listed["sha256"], bundle / MANIFEST_NAME)
    try:
        patterns = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FFTKError(f"{path}: cannot read the overlay patterns ({exc})") from None
    want = (len(manifest.classes), *manifest.input_shape[1:])
    if patterns.shape != want or patterns.dtype.kind != "f":
        raise FFTKError(f"{path}: overlay patterns are {patterns.dtype} {patterns.shape}, "
                        f"expected float {want}")
    return patterns.astype(np.float32)
