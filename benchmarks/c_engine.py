"""The generated C engine on the host, per shipped improved-FF model: latency of the C engine
(`cc -O3`, as `fftk run --backend c` builds it) vs the TFLite Micro interpreter (the
`tflite-micro` package: TFLM's reference kernels) vs LiteRT int8 (XNNPACK), on the same int8
images; the C engine's error on the validation split (CIFAR-10: the `val` split `fftk train`
holds out; MNIST: its test set), LiteRT's beside it; the RAM the engine plans against TFLM's
arena for the same model.

    python benchmarks/c_engine.py [--models ff_tiny-cifar10,...] [--latency-images 200] \\
        [--eval-images 5000] [--out benchmarks/results/c-engine.json]

Each model: `fftk export WEIGHTS --target c --quantize int8` calibrated on 256 training images
(mcu_cortex_m4.export_c, so both benchmarks measure the same engines). Latency: the first
--latency-images evaluation images, quantized with the manifest's input parameters; the C
engine runs them all in one `fftk_infer` process, ms/image = (wall(N) - wall(1)) / (N - 1),
median of 3; TFLM and LiteRT (1 thread) time each invoke(), the median image. The C engine's
int8 outputs are compared with TFLM's on those images (equal where TFLM computes the model
correctly); errors, and the classes' agreement with LiteRT's, come from the runtime's own path
(`runtime_predictions`: what `fftk run` computes). One core of a shared machine: run it under
`nice`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mcu_cortex_m4 import MODELS, REPO, WEIGHTS, dataset_of, export_c, write_results

EVAL_SPLIT = {"mnist": "test"}  # else "val"


def eval_images(name: str, data: Path, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Up to n images of the model's evaluation split (uint8 NHWC) and their labels."""
    from fftoolkit.export.calib import load_images
    from fftoolkit.models import build_network_from_state, load_checkpoint

    dataset = dataset_of(name)
    split = EVAL_SPLIT.get(dataset, "val")
    state = load_checkpoint(WEIGHTS / f"{name}.safetensors")
    held = load_images(str(data / dataset), split, n, state, build_network_from_state(state).spec)
    return held.images, held.labels, f"{dataset}:{split}"


def int8_inputs(bundle: Path, images: np.ndarray) -> np.ndarray:
    """The images as the C engine and the int8 TFLite model take them."""
    from fftoolkit.runtime.manifest import C_KEY, load_manifest
    from fftoolkit.runtime.preprocess import Preprocessor
    from fftoolkit.runtime.quant import quantize

    m = load_manifest(bundle)
    art = m.artifacts[C_KEY]
    return quantize(Preprocessor(m.input_shape, m.normalization, art.layout)(images),
                    art.fused.inputs[0])


def c_engine(bundle: Path) -> Path:
    """The engine's host binary, built as `fftk run --backend c` builds it (cc -O3, cached)."""
    from fftoolkit.runtime.c_backend import build_engine, read_c_sources
    from fftoolkit.runtime.manifest import load_manifest

    return build_engine(read_c_sources(bundle, load_manifest(bundle)), str(bundle / "c"))


def time_c(binary: Path, x: np.ndarray) -> tuple[float, bytes]:
    """ms per image of the engine on all of x in one process (start-up subtracted), and its
    output bytes."""
    def wall(data: bytes) -> tuple[float, bytes]:
        start = time.perf_counter()
        out = subprocess.run([binary], input=data, capture_output=True, check=True).stdout
        return time.perf_counter() - start, out

    runs = []
    for _ in range(3):
        one, _ = wall(x[:1].tobytes())
        all_, out = wall(x.tobytes())
        runs.append((all_ - one) / (len(x) - 1) * 1e3)
    return float(np.median(runs)), out


def time_tflm(model: Path, x: np.ndarray, n_out: int) -> tuple[float, list[np.ndarray]]:
    """Median ms per invoke() of the TFLM interpreter, and its outputs per image."""
    import tflite_micro

    interp = tflite_micro.runtime.Interpreter.from_file(str(model), arena_size=4 << 20)
    times, outs = [], []
    for image in x:
        interp.set_input(image[None], 0)
        start = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - start)
        outs.append([interp.get_output(k)[0] for k in range(n_out)])
    return float(np.median(times)) * 1e3, outs


def time_litert(model: Path, x: np.ndarray) -> float:
    """Median ms per invoke() of LiteRT (XNNPACK, 1 thread)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(str(model), num_threads=1)
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]
    times = []
    for image in x:
        interp.set_tensor(index, image[None])
        start = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def tflm_arena(model: Path) -> int:
    """TFLM's whole arena for the model, from its allocator's own report (stderr)."""
    import tflite_micro

    interp = tflite_micro.runtime.Interpreter.from_file(str(model), arena_size=4 << 20)
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(err.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        found = re.search(rb"Arena allocation total (\d+) bytes", err.read())
    if found is None:
        raise RuntimeError("tflite-micro printed no arena total")
    return int(found.group(1))


def same_as_tflm(out: bytes, tflm: list[list[np.ndarray]], zps: list[int], groups: int) -> int:
    """Images whose C logits and goodness sums equal TFLM's (its logits, and the same sums over
    its int8 features)."""
    n_logits = tflm[0][0].size
    rec = np.frombuffer(out, np.uint8).reshape(len(tflm), -1)
    same = 0
    for r, outs in zip(rec, tflm, strict=True):
        sums = [np.square(f.astype(np.int64) - zp).reshape(-1, groups, f.shape[-1] // groups)
                .sum(axis=(0, 2)) for f, zp in zip(outs[1:], zps[1:], strict=True)]
        same += bool((r[:n_logits].view(np.int8) == outs[0]).all()
                     and (r[n_logits:].copy().view("<i4") == np.concatenate(sums)).all())
    return same


def measure(name: str, data: Path, n_latency: int, n_eval: int, tmp: Path) -> dict:
    from fftoolkit.export.bundle import runtime_predictions
    from fftoolkit.runtime.manifest import load_manifest

    bundle = export_c(name, data, tmp / name)
    manifest = load_manifest(bundle)
    model = bundle / manifest.artifacts["tflite-int8"].fused.file
    images, labels, split = eval_images(name, data, n_eval)
    x = int8_inputs(bundle, images[:n_latency])
    binary = c_engine(bundle)
    c_ms, c_out = time_c(binary, x)
    zps = [int(t.quant["zero_point"]) for t in manifest.artifacts["tflite-int8"].fused.outputs]
    tflm_ms, tflm_outs = time_tflm(model, x, len(zps))
    errors, classes = {}, {}
    for key in ("c-int8", "tflite-int8"):
        classes[key] = runtime_predictions(bundle, key, images)
        errors[key] = {mode: round(100 * float((c != labels).mean()), 2)
                       for mode, c in zip(("one_pass", "multi_pass"), classes[key], strict=True)}
    agree = {mode: round(100 * float((a == b).mean()), 2) for mode, a, b in
             zip(("one_pass", "multi_pass"), classes["c-int8"], classes["tflite-int8"],
                 strict=True)}
    header = (bundle / "c" / "fftk_model.h").read_text()
    return {
        "model": name, "macs": manifest.extra["macs_per_image"],
        "latency_images": len(x), "eval_split": split, "eval_images": len(images),
        "c_ms": round(c_ms, 3), "tflm_ms": round(tflm_ms, 3),
        "litert_ms": round(time_litert(model, x), 3),
        "c_equal_to_tflm": same_as_tflm(c_out, tflm_outs, zps,
                                        int(manifest.multi_pass["groups"])),
        "error_pct": errors,
        "c_litert_class_agreement_pct": agree,
        "fftk_arena_bytes": int(re.search(r"FFTK_ARENA_SIZE (\d+)", header).group(1)),
        "input_bytes": int(x[0].size),
        "tflm_arena_bytes": tflm_arena(model),
        "c_compiler": subprocess.run(["cc", "--version"], capture_output=True, text=True)
        .stdout.splitlines()[0],
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| model | C engine ms | TFLM ms | LiteRT ms | C = TFLM | C error % (one / multi) "
             "| LiteRT error % | split | fftk arena B | TFLM arena B |",
             "| --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        c, lite = r["error_pct"]["c-int8"], r["error_pct"]["tflite-int8"]
        lines.append(f"| {r['model']} | {r['c_ms']} | {r['tflm_ms']} | {r['litert_ms']} | "
                     f"{r['c_equal_to_tflm']}/{r['latency_images']} | {c['one_pass']} / "
                     f"{c['multi_pass']} | {lite['one_pass']} / {lite['multi_pass']} | "
                     f"{r['eval_split']} ({r['eval_images']}) | {r['fftk_arena_bytes']:,} | "
                     f"{r['tflm_arena_bytes']:,} |")
    return "\n".join(lines)


def model_tables(rows: list[dict], mcu: dict) -> str:
    """One table per model: flash, RAM, host latency, Cortex-M4 instructions, error (item 8 of
    issue 13), from this benchmark's rows and mcu_cortex_m4.py's JSON."""
    by_model = {r["model"]: r for r in mcu.get("rows", [])}
    out = []
    for r in rows:
        m = by_model.get(r["model"], {})
        c, lite = r["error_pct"]["c-int8"], r["error_pct"]["tflite-int8"]
        out += [f"**{r['model']}** ({r['macs']:,} MACs per image)", "",
                "| figure | fftk C engine | TFLite Micro | LiteRT int8 |",
                "| --- | ---: | ---: | ---: |",
                f"| RAM: arena B | {r['fftk_arena_bytes']:,} (+ "
                f"{m.get('stack_high_water_bytes', '?')} stack, + {r['input_bytes']:,} input) | "
                f"{r['tflm_arena_bytes']:,} | - |",
                f"| flash B (Cortex-M4 image, {m.get('images', '?')} test images included) | "
                f"{m.get('flash_bytes', 0):,} | - | - |",
                f"| host ms per image | {r['c_ms']} | {r['tflm_ms']} | {r['litert_ms']} |",
                f"| Cortex-M4 instructions per image (emulated) | "
                f"{m.get('instructions_per_image', 0):,} | - | - |",
                f"| Cortex-M4 instructions per MAC (emulated) | "
                f"{m.get('instructions_per_mac', '?')} | - | - |",
                f"| error % one-pass / multi-pass, {r['eval_split']} ({r['eval_images']} images)"
                f" | {c['one_pass']} / {c['multi_pass']} | - | "
                f"{lite['one_pass']} / {lite['multi_pass']} |",
                f"| int8 outputs equal to TFLM's (latency images) | {r['c_equal_to_tflm']} / "
                f"{r['latency_images']} | | |",
                f"| classes equal to LiteRT's %, one-pass / multi-pass | "
                f"{r['c_litert_class_agreement_pct']['one_pass']} / "
                f"{r['c_litert_class_agreement_pct']['multi_pass']} | | |", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--latency-images", type=int, default=200)
    parser.add_argument("--eval-images", type=int, default=5000)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "c-engine.json")
    parser.add_argument("--mcu", type=Path,
                        default=REPO / "benchmarks" / "results" / "mcu-cortex-m4.json",
                        help="mcu_cortex_m4.py's JSON, for the per-model tables")
    parser.add_argument("--tables-only", action="store_true",
                        help="print the per-model tables from --out and --mcu, measure nothing")
    ns = parser.parse_args()
    mcu = json.loads(ns.mcu.read_text()) if ns.mcu.is_file() else {}
    if ns.tables_only:
        print(model_tables(json.loads(ns.out.read_text())["rows"], mcu))
        return 0
    data = Path(os.environ.get("FFTK_SHARED_DATA") or REPO.parent / "shared" / "data")
    with tempfile.TemporaryDirectory(prefix="fftk-c-engine-") as tmp:
        rows = [measure(name, data, ns.latency_images, ns.eval_images, Path(tmp))
                for name in ns.models.split(",")]
    rows = write_results(ns.out, "the generated C engine on the host: ms per image (C engine cc "
                         "-O3, one process over all images; TFLM interpreter and LiteRT int8 1 "
                         "thread, median invoke) on the same int8 images; error % on the "
                         "evaluation split through the runtime (fftk run's path); planned RAM vs "
                         "TFLM's arena", "c_engine.py", rows)
    print(markdown(rows))
    print(model_tables(rows, mcu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
