"""Where a bundle's int8 TFLite loses accuracy: its fused int8 and fp32 TFLite files run side by
side on real images (TFLite's reference kernels, every tensor kept), compared op by op.

    python benchmarks/int8_tensor_probe.py BUNDLE --dataset ../shared/data/mnist \\
        [--split test] [--images 1000] [--json OUT]

Ops are matched in order (the int8 file's extra QUANTIZE / DEQUANTIZE ops skipped). Per op:
`rel_err`, the int8 output's error against the fp32 one (norm of the difference over the norm
of the fp32 output, all images); `kernel_steps`, the largest gap in output steps between the int8
op and the same maths in float on its own int8 inputs (elementwise and reduction ops: a kernel
that is not doing what its scales say); `lost`, images whose int8 output is all zero point
while the fp32 one is not (a per-sample quantity under half a step).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from training_results import machine

from fftoolkit.data import load_dataset
from fftoolkit.export.calib import normalise
from fftoolkit.runtime.manifest import load_manifest
from fftoolkit.sampling import seeded_subset

SKIP = ("QUANTIZE", "DEQUANTIZE", "DELEGATE")


def _ideal(name: str, a: list[np.ndarray], axis: np.ndarray | None) -> np.ndarray | None:
    """The op's maths in float64 on its dequantized int8 inputs (None: not modelled here)."""
    ax = tuple(int(v) for v in np.atleast_1d(axis)) if axis is not None else None
    maths = {"MUL": lambda: a[0] * a[1], "ADD": lambda: a[0] + a[1],
             "DIV": lambda: a[0] / a[1], "MAXIMUM": lambda: np.maximum(a[0], a[1]),
             "SQRT": lambda: np.sqrt(a[0]), "MEAN": lambda: a[0].mean(axis=ax, keepdims=True),
             "SUM": lambda: a[0].sum(axis=ax, keepdims=True),
             "REDUCE_MIN": lambda: a[0].min(axis=ax, keepdims=True)}
    return maths[name]() if name in maths else None


class _Model:
    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType
                              .BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.it.allocate_tensors()
        self.tensors = {d["index"]: d for d in self.it.get_tensor_details()}
        self.ops = [o for o in self.it._get_ops_details() if o["op_name"] not in SKIP]
        self.input = self.it.get_input_details()[0]

    def run(self, x_nhwc: np.ndarray) -> None:
        scale, zero = self.input["quantization"]
        if scale:
            x_nhwc = np.clip(np.round(x_nhwc / scale + zero), -128, 127).astype(np.int8)
        self.it.set_tensor(self.input["index"], x_nhwc.astype(self.input["dtype"]))
        self.it.invoke()

    def value(self, index: int) -> np.ndarray:
        """A tensor's value, dequantized (float64)."""
        raw = self.it.get_tensor(index).astype(np.float64)
        scale, zero = self.tensors[index]["quantization"]
        return (raw - zero) * scale if scale else raw


def probe(bundle: Path, dataset: str, split: str, n: int) -> list[dict[str, Any]]:
    manifest = load_manifest(bundle)
    q = _Model(bundle / manifest.artifacts["tflite-int8"].fused.file)
    f = _Model(bundle / manifest.artifacts["tflite-fp32"].fused.file)
    if [o["op_name"] for o in q.ops] != [o["op_name"] for o in f.ops]:
        raise SystemExit("the int8 and fp32 files have different ops: cannot match them")
    ds = load_dataset(dataset, split)
    images = np.asarray(ds.images)[seeded_subset(len(ds), n, 0)]
    x = normalise(images, manifest.normalization).transpose(0, 2, 3, 1)
    stats = [{"op": o["index"], "name": o["op_name"], "err2": 0.0, "ref2": 0.0,
              "kernel_steps": 0, "lost": 0} for o in q.ops]
    for i in range(len(x)):
        q.run(x[i:i + 1])
        f.run(x[i:i + 1])
        for s, qo, fo in zip(stats, q.ops, f.ops, strict=True):
            out = qo["outputs"][0]
            got, ref = q.value(out), f.value(fo["outputs"][0])
            s["err2"] += float(((got - ref) ** 2).sum())
            s["ref2"] += float((ref ** 2).sum())
            scale, zero = q.tensors[out]["quantization"]
            if not scale:
                continue
            s["scale"] = float(scale)
            s["lost"] += int(not got.any() and bool(ref.any()))
            ins = [j for j in qo["inputs"] if j >= 0]
            axis = q.it.get_tensor(ins[1]) if s["name"] in ("MEAN", "SUM", "REDUCE_MIN") else None
            ideal = _ideal(s["name"], [q.value(j) for j in ins], axis)
            if ideal is not None:
                want = np.clip(np.round(ideal / scale) + zero, -128, 127).reshape(got.shape)
                gap = np.abs(q.it.get_tensor(out).astype(np.int64) - want).max()
                s["kernel_steps"] = max(s["kernel_steps"], int(gap))
    for s in stats:
        s["rel_err"] = round(np.sqrt(s.pop("err2") / max(s.pop("ref2"), 1e-30)), 4)
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    stats = probe(args.bundle, args.dataset, args.split, args.images)
    print(f"{'op':>4} {'name':16} {'scale':>10} {'rel_err':>8} {'kernel':>6} {'lost':>5}")
    for s in stats:
        print(f"{s['op']:>4} {s['name']:16} {s.get('scale', 0):>10.4g} {s['rel_err']:>8.4f} "
              f"{s['kernel_steps']:>6} {s['lost']:>5}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": f"python benchmarks/int8_tensor_probe.py BUNDLE --dataset {args.dataset} "
                       f"--split {args.split} --images {args.images}",
            "machine": machine(), "images": args.images, "ops": stats}, indent=2) + "\n")


if __name__ == "__main__":
    main()
