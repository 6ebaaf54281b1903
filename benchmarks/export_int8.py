"""What each int8 lever buys: error and class agreement of int8 ONNX / TFLite vs fp32 torch.

Uses the exporter's own building blocks (the folded graphs, the ONNX and TFLite quantizers)
on each checkpoint given, runs every variant with the runtime as a one-artifact bundle on
held-back (val) images, and writes benchmarks/export_int8.json + benchmarks/export_int8.md.

    python benchmarks/export_int8.py CHECKPOINT [CHECKPOINT ...] [--dataset D] [--val 1000]
    e.g. FFTK_DATA=~/.cache/fftk OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python \
         benchmarks/export_int8.py runs/ff_tiny-cifar10/last.pt runs/ff_tiny_mnist/last.pt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.export.bundle import read_onnx_file, read_tflite_file, runtime_predictions
from fftoolkit.export.calib import default_dataset, load_images, normalise
from fftoolkit.export.graphs import build_graphs
from fftoolkit.export.onnx_export import export_onnx
from fftoolkit.export.quantize import OnnxQuantOptions, quantize_onnx
from fftoolkit.export.tflite_export import export_tflite, quantize_tflite
from fftoolkit.ff.predict import predict_both
from fftoolkit.models import Checkpoint, build_network_from_state, load_checkpoint
from fftoolkit.runtime.manifest import Artifact, Manifest, sha256_file

HERE = Path(__file__).resolve().parent

# (name, graph, goodness, ranges, calibration images): the TFLite rows. Graphs: "plain" = BN
# folded exactly, BN0 merged into the normalisation; "pixel" = + exact pixel-centred int8 input;
# "eq" = + scale equalisation; "lean" = + head outlier columns split out (what ships). The
# first row is the naive PTQ the issue measured (quantizer defaults, goodness in the graph).
TFLITE_ROWS = [
    ("naive: in-graph goodness, moving-average ranges, 200 img", "plain", "in-graph",
     "moving-average", 200),
    ("in-graph goodness, global min/max ranges, 256 img", "plain", "in-graph", "minmax", 256),
    ("from-features goodness, moving-average, 200 img", "plain", "from-features",
     "moving-average", 200),
    ("from-features goodness, global min/max, 256 img", "plain", "from-features", "minmax", 256),
    ("+ pixel-centred exact int8 input", "pixel", "from-features", "minmax", 256),
    ("+ scale equalisation", "eq", "from-features", "minmax", 256),
    ("+ head outlier columns split (shipped)", "lean", "from-features", "minmax", 256),
    ("shipped graph, 64 img", "lean", "from-features", "minmax", 64),
    ("shipped graph, 1000 img", "lean", "from-features", "minmax", 1000),
    ("shipped graph, in-graph goodness", "lean", "in-graph", "minmax", 256),
]
GRAPHS = {"plain": {"pixel_input": False, "equalize": False, "split_head": False},
          "pixel": {"equalize": False, "split_head": False},
          "eq": {"split_head": False},
          "lean": {}}
# (name, options, calibration images): the ONNX rows.
ONNX_ROWS = [
    ("S8 activations, S8 weights (SPEC pitfall config)",
     OnnxQuantOptions(activation="QInt8", weight="QInt8"), 256),
    ("U8 activations, S8 weights", OnnxQuantOptions(weight="QInt8"), 256),
    ("U8 activations, S8 weights, reduce_range (7-bit weights)",
     OnnxQuantOptions(weight="QInt8", reduce_range=True), 256),
    ("U8 activations, U8 weights, goodness quantized too",
     OnnxQuantOptions(keep_goodness_float=False), 256),
    ("U8 activations, U8 weights, goodness in float, MinMax, 256 img (shipped)",
     OnnxQuantOptions(), 256),
    ("U8/U8, Percentile 99.999", OnnxQuantOptions(method="Percentile"), 256),
    ("U8/U8, MinMax, 1000 img", OnnxQuantOptions(), 1000),
]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def score(one: np.ndarray, multi: np.ndarray, labels: np.ndarray,
          ref: tuple[np.ndarray, np.ndarray], ref_err: tuple[float, float]) -> dict[str, float]:
    err = (100.0 * float((one != labels).mean()), 100.0 * float((multi != labels).mean()))
    return {"one_pass_error": round(err[0], 2), "multi_pass_error": round(err[1], 2),
            "one_pass_delta_pp": round(err[0] - ref_err[0], 2),
            "multi_pass_delta_pp": round(err[1] - ref_err[1], 2),
            "one_pass_agreement": round(100.0 * float((one == ref[0]).mean()), 2),
            "multi_pass_agreement": round(100.0 * float((multi == ref[1]).mean()), 2)}


def _run(tmp: Path, model: Path, key: str, art: Artifact, graphs: Any, state: Checkpoint,
         checkpoint: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one-pass, multi-pass) classes from the runtime, with `model` as a one-artifact bundle."""
    folder = tmp / model.stem
    folder.mkdir()
    (folder / model.name).write_bytes(model.read_bytes())
    spec = state.spec
    Manifest(model_name=spec["name"], algorithm=spec["algorithm"], spec=spec,
             classes=list(state.classes), input_shape=list(spec["input"]),
             normalization=graphs.normalization, goodness_blocks=graphs.goodness_blocks,
             head_blocks=graphs.head_blocks, multi_pass=graphs.multi_pass,
             artifacts={key: art}, source_checkpoint_sha256=sha256_file(checkpoint)).write(folder)
    return runtime_predictions(folder, key, images)


def measure(checkpoint: str, dataset: str | None, n_val: int) -> dict[str, Any]:
    """Every row of TFLITE_ROWS and ONNX_ROWS on one checkpoint."""
    t0 = time.time()
    state = load_checkpoint(checkpoint)
    net = build_network_from_state(state, source=checkpoint)
    spec = net.spec
    dataset = dataset or default_dataset(state, spec)
    variants = {k: build_graphs(net, state.normalization, **v) for k, v in GRAPHS.items()}
    graphs = variants["lean"]
    held = load_images(dataset, "val", n_val, state, spec)
    norm = state.normalization
    ref = predict_both(net, held.images, norm["mean"], norm["std"])
    ref_err = (100.0 * float((ref[0] != held.labels).mean()),
               100.0 * float((ref[1] != held.labels).mean()))
    calib_images = {n: load_images(dataset, "train", n, state, spec).images
                    for n in sorted({r[-1] for r in TFLITE_ROWS + ONNX_ROWS})}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fftk-bench-int8-") as tmp_dir:
        tmp = Path(tmp_dir)
        shape = graphs.block_inputs[0]
        for kind, mode in sorted({(r[1], r[2]) for r in TFLITE_ROWS}):
            export_tflite(variants[kind].fused[mode], [shape], 1, tmp / f"{kind}-{mode}.tflite")
        export_onnx(graphs.fused["in-graph"], {"image": shape}, ["logits", "goodness"],
                    tmp / "model.onnx")
        for i, (name, kind, mode, ranges, n) in enumerate(TFLITE_ROWS):
            g, src, path = variants[kind], tmp / f"{kind}-{mode}.tflite", tmp / f"t{i}.tflite"
            quantize_tflite(src, path, [normalise(calib_images[n], g.normalization)], ranges,
                            g.input_range)
            art = Artifact("tflite", "int8", "NHWC", 1, read_tflite_file(tmp, path.name),
                           goodness=mode)
            one, multi = _run(tmp, path, "tflite-int8", art, g, state, checkpoint, held.images)
            rows.append({"format": "tflite-int8", "config": name, "calib_images": n,
                         "size_ratio": round(path.stat().st_size / src.stat().st_size, 3),
                         **score(one, multi, held.labels, ref, ref_err)})
            print(rows[-1], flush=True)
        for i, (name, opts, n) in enumerate(ONNX_ROWS):
            path = tmp / f"o{i}.onnx"
            quantize_onnx(tmp / "model.onnx", path,
                          {"image": normalise(calib_images[n], graphs.normalization)}, opts)
            art = Artifact("onnx", "int8", "NCHW", None, read_onnx_file(tmp, path.name))
            one, multi = _run(tmp, path, "onnx-int8", art, graphs, state, checkpoint,
                              held.images)
            size = path.stat().st_size / (tmp / "model.onnx").stat().st_size
            rows.append({"format": "onnx-int8", "config": name, "calib_images": n,
                         "options": asdict(opts), "size_ratio": round(size, 3),
                         **score(one, multi, held.labels, ref, ref_err)})
            print(rows[-1], flush=True)
    return {
        "checkpoint": checkpoint, "checkpoint_sha256": sha256_file(checkpoint),
        "epoch": (state.metrics or [{}])[-1].get("epoch"),
        "model": spec.name, "dataset": dataset, "split": "val", "images": int(len(held.labels)),
        "fp32_torch": {"one_pass_error": round(ref_err[0], 2),
                       "multi_pass_error": round(ref_err[1], 2)},
        "rows": rows, "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT")
    ap.add_argument("--dataset", help="default: the dataset each checkpoint was trained on")
    ap.add_argument("--val", type=int, default=1000, help="held-back images")
    ap.add_argument("--out", default=str(HERE / "export_int8"), help="output path stem")
    args = ap.parse_args()
    result = {"machine": machine(),
              "results": [measure(c, args.dataset, args.val) for c in args.checkpoints]}
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(markdown(result))
    print(f"wrote {args.out}.json and {args.out}.md")


def markdown(result: dict[str, Any]) -> str:
    lines = ["# int8 export: what each lever buys", "",
             "The int8 cost of every shipped checkpoint as `fftk export --target all --quantize "
             "int8` makes it: [results/export-shipped.md](results/export-shipped.md) "
             "(`python benchmarks/export_shipped.py`).", "",
             "Δ = int8 error minus fp32 torch error (percentage points); agreement = % of "
             "held-back images where int8 predicts the same class as fp32 torch; size = int8 / "
             "fp32 fused file. Targets (issue 4): |Δ| <= 1.0 pp and agreement >= 97 % in both "
             "modes. TFLite graphs: \"plain\" = BN folded exactly, BN0 merged into the input "
             "normalisation; \"pixel\" = int8 input is the pixel - 128 (exact), checkpoint "
             "normalisation and BN0 folded into block 0; \"equalisation\" = internal blocks "
             "carry the next BN's |scale|; \"head outlier columns split\" = the folded head "
             "Linear's outlier columns get int8 scales of their own (see "
             "fftoolkit/export/fold.py). ONNX rows use the shipped graph.", ""]
    for r in result["results"]:
        lines += section(r)
    lines += [f"Machine: {result['machine']}. Reproduce: `python benchmarks/export_int8.py "
              + " ".join(r["checkpoint"] for r in result["results"])
              + "` (see the script's docstring).", ""]
    return "\n".join(lines)


def section(r: dict[str, Any]) -> list[str]:
    fp = r["fp32_torch"]
    lines = [
        f"## {r['model']}, epoch {r['epoch']}",
        "",
        f"Checkpoint `{r['checkpoint']}` (sha256 `{r['checkpoint_sha256'][:12]}`), "
        f"{r['images']} held-back images of `{r['dataset']}` ({r['split']} split). fp32 torch "
        f"error: one-pass {fp['one_pass_error']:.2f} %, multi-pass (goodness) "
        f"{fp['multi_pass_error']:.2f} %. {r['seconds']:.0f} s.",
        "",
        "| format | configuration | Δ one-pass | Δ multi-pass | agree one-pass | "
        "agree multi-pass | size |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['format']} | {row['config']} | {row['one_pass_delta_pp']:+.2f} | "
            f"{row['multi_pass_delta_pp']:+.2f} | {row['one_pass_agreement']:.1f} % | "
            f"{row['multi_pass_agreement']:.1f} % | {row['size_ratio']:.2f} |")
    return lines + [""]


if __name__ == "__main__":
    main()
