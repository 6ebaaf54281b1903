"""Run a freshly written artifact on held-back images with the real runtimes (ONNX Runtime,
LiteRT) to measure what export and quantization cost, per inference mode.

This is the exporter's own check, kept minimal; `fftoolkit.runtime` is the device-side runner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.runtime.goodness import dequantize, goodness_from_features, overlay_goodness
from fftoolkit.runtime.manifest import Artifact, TensorInfo

Predict = Callable[[np.ndarray], list[np.ndarray]]  # one float input batch -> float outputs


def normalise(images: np.ndarray, normalization: dict[str, list[float]]) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW, (p / 255 - mean) / std per channel."""
    x = images.astype(np.float32) / np.float32(255.0)
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


def onnx_runner(path: Path, threads: int = 1) -> Predict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


def tflite_runner(path: Path, inputs: list[TensorInfo], outputs: list[TensorInfo],
                  threads: int = 1) -> Predict:
    """NCHW float in -> float outputs (NHWC for 4-D ones), quantizing/dequantizing int8 I/O."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    in_idx = {d["name"]: d["index"] for d in it.get_input_details()}
    out_idx = {d["name"]: d["index"] for d in it.get_output_details()}
    spec = inputs[0]

    def run(x: np.ndarray) -> list[np.ndarray]:
        x = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
        if spec.quant is not None:
            q = np.round(x / spec.quant["scale"]) + spec.quant["zero_point"]
            info = np.iinfo(np.dtype(spec.dtype))
            x = np.clip(q, info.min, info.max)
        it.set_tensor(in_idx[spec.name], np.ascontiguousarray(x, dtype=np.dtype(spec.dtype)))
        it.invoke()
        return [dequantize(it.get_tensor(out_idx[o.name]), o.quant) for o in outputs]

    return run


def artifact_runner(bundle: Path, art: Artifact, threads: int = 1) -> tuple[Predict, int]:
    """A predictor for the artifact's fused model and the batch it needs (0 = any)."""
    path = bundle / art.fused.file
    if art.format == "onnx":
        return onnx_runner(path, threads), 0
    return tflite_runner(path, art.fused.inputs, art.fused.outputs, threads), int(art.batch or 1)


def goodness_of(art: Artifact, outs: list[np.ndarray], multi_pass: dict[str, Any]) -> np.ndarray:
    """Per-class goodness (N, J) from the fused model's outputs, whichever way it gives it."""
    if art.goodness == "in-graph":
        return outs[1]
    if multi_pass["kind"] == "channel-groups":
        layout = "NCHW" if art.format == "onnx" else "NHWC"
        return goodness_from_features(outs[1], outs[2], multi_pass["groups"], layout)
    return overlay_goodness(outs[1:], multi_pass["num_classes"], multi_pass["goodness"])


def predict_classes(bundle: Path, art: Artifact, images: np.ndarray,
                    normalization: dict[str, list[float]], multi_pass: dict[str, Any],
                    chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """(one-pass, multi-pass) predicted classes of uint8 NHWC images through the fused model."""
    run, batch = artifact_runner(bundle, art)
    step = batch or chunk
    one, multi = [], []
    for start in range(0, len(images), step):
        x = normalise(images[start:start + step], normalization)
        n = len(x)
        if batch and n < batch:  # a static batch: pad the last chunk, drop the padding after
            x = np.concatenate([x, np.zeros((batch - n, *x.shape[1:]), np.float32)])
        outs = run(x)
        if batch and n < batch:
            outs = _unpad(outs, n, batch, art.goodness == "from-features" and
                          multi_pass["kind"] == "label-overlay")
        one.append(outs[0].argmax(1))
        multi.append(goodness_of(art, outs, multi_pass).argmax(1))
    return np.concatenate(one), np.concatenate(multi)


def _unpad(outs: list[np.ndarray], n: int, batch: int, label_major: bool) -> list[np.ndarray]:
    """Drop the padded samples of a static batch; label-major (J*batch, ...) outputs keep the
    first n of every label's block."""
    kept = [outs[0][:n]]
    for o in outs[1:]:
        if label_major:
            o = o.reshape(-1, batch, *o.shape[1:])[:, :n].reshape(-1, *o.shape[1:])
            kept.append(o)
        else:
            kept.append(o[:n])
    return kept
