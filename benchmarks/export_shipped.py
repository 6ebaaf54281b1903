"""The int8 cost of every shipped checkpoint, as a user gets it: `fftk export W --target all
--quantize int8` on each weights file, read from the bundle's own report.json (fp32 torch vs
each int8 format on held-back validation images of the checkpoint's training dataset).

    python benchmarks/export_shipped.py [WEIGHTS ...] [--eval-samples 1000]

Default: every models/weights/*.safetensors. Rows for other weights already in the JSON are
kept. Writes benchmarks/results/export-shipped.{json,md}; benchmarks/export_int8.md links it.
Target (issue 15): int8 costs <= 1.0 point in both modes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from training_results import machine

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "export-shipped.json"
INT8 = ("onnx-int8", "tflite-int8")


def export_report(weights: Path, eval_samples: int) -> dict:
    """The accuracy part of report.json of a fresh `fftk export` of `weights`."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        subprocess.run(["fftk", "export", str(weights), "--target", "all", "--quantize", "int8",
                        "--eval-samples", str(eval_samples), "--out", str(bundle), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads((bundle / "report.json").read_text())["accuracy"]


def row(weights: Path, accuracy: dict, eval_samples: int) -> dict:
    rows = accuracy["rows"]
    fp32 = rows["torch-fp32"]
    drops = {fmt: {mode: round(rows[fmt][f"{mode}_error"] - fp32[f"{mode}_error"], 2)
                   for mode in ("one_pass", "multi_pass")} for fmt in INT8 if fmt in rows}
    return {"weights": str(weights.relative_to(REPO)), "dataset": accuracy["dataset"],
            "split": accuracy["split"], "images": accuracy["images"], "fp32": fp32,
            "int8_minus_fp32": drops,
            "command": f"fftk export {weights.relative_to(REPO)} --target all --quantize int8 "
                       f"--eval-samples {eval_samples} --out BUNDLE",
            "worst_drop": max(v for d in drops.values() for v in d.values())}


def markdown(report: dict) -> str:
    lines = ["# int8 cost of the shipped checkpoints (`fftk export --target all --quantize int8`)",
             "", f"Command: `{report['command']}`  ", f"Machine: {report['machine']}", "",
             "Δ = int8 error minus fp32 torch error, percentage points, on the bundle's own "
             "held-back validation images (report.json). Target: ≤ 1.0 in both modes.", "",
             "| weights | images | fp32 one-pass / goodness % | onnx-int8 Δ | tflite-int8 Δ | "
             "≤ 1.0 |", "|---|---:|---|---|---|---|"]
    for r in report["rows"]:
        d = r["int8_minus_fp32"]
        cell = {f: f"{d[f]['one_pass']:+.2f} / {d[f]['multi_pass']:+.2f}" if f in d else "-"
                for f in INT8}
        lines.append(f"| `{r['weights']}` | {r['images']} | {r['fp32']['one_pass_error']:.2f} / "
                     f"{r['fp32']['multi_pass_error']:.2f} | {cell['onnx-int8']} | "
                     f"{cell['tflite-int8']} | {'yes' if r['worst_drop'] <= 1.0 else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="*", type=Path)
    ap.add_argument("--eval-samples", type=int, default=1000)
    args = ap.parse_args()
    weights = [w.resolve() for w in args.weights] or sorted((REPO / "models" / "weights")
                                                             .glob("*.safetensors"))
    old = json.loads(OUT.read_text())["rows"] if OUT.exists() else []
    new = {}
    for w in weights:
        print(f"exporting {w.name} ...", file=sys.stderr)
        r = row(w, export_report(w, args.eval_samples), args.eval_samples)
        new[r["weights"]] = r
    rows = sorted([r for r in old if r["weights"] not in new] + list(new.values()),
                  key=lambda r: r["weights"])
    report = {"command": " ".join(["python", *sys.argv]), "machine": machine(), "rows": rows}
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    OUT.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
