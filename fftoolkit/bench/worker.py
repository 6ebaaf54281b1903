"""One benchmark configuration, run in a fresh process: `python -m fftoolkit.bench.worker CFG`.

A fresh process per configuration keeps runtimes from sharing caches, threads or memory, so
peak RSS (VmHWM) is that configuration's alone. Prints one JSON object on stdout. For
`torch-fp32` it imports `fftoolkit.reference`, which registers the torch graph opener.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.bench.child import report
from fftoolkit.bench.memory import peak_rss_mb
from fftoolkit.bench.stats import latency_summary
from fftoolkit.bench.sysinfo import board_state
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.backends import BACKENDS, GRAPH_OPTIMIZATION
from fftoolkit.runtime.formats import get_format
from fftoolkit.runtime.images import decode_image
from fftoolkit.runtime.predictor import error_percent, softmax
from fftoolkit.runtime.runner import Loaded, open_bundle

TIMING_POOL = 32  # distinct preprocessed images cycled through by the timed runs


def _ms(t0: int) -> float:
    return (time.perf_counter_ns() - t0) / 1e6


def bench_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Load, first inference, warm-up, timed batch-1 runs, end-to-end, accuracy, throughput."""
    out: dict[str, Any] = {"board_before": board_state()}
    backend = cfg["backend"]
    t0 = time.perf_counter_ns()
    module = BACKENDS[backend].module  # "" for the C engine: a program, not a module
    try:
        if module:
            importlib.import_module(module)
    except ImportError:
        pass  # open_bundle reports the missing package in one line
    out["import_ms"] = _ms(t0)
    t0 = time.perf_counter_ns()
    if get_format(cfg["format"]).family == "torch":  # registers the torch-fp32 graph opener
        importlib.import_module("fftoolkit.reference")
    loaded = open_bundle(cfg["bundle"], backend=backend, fmt=cfg["format"],
                         threads=cfg["threads"], per_block=cfg["per_block"],
                         expect_sha256=cfg["bundle_sha256"])
    out["init_ms"] = _ms(t0)
    info = loaded.graph.info
    out.update(format=cfg["format"], backend=backend, precision=loaded.fmt.precision,
               inference=cfg["inference"], threads=cfg["threads"], per_block=cfg["per_block"],
               runtime=info.runtime, runtime_version=info.version, delegate=info.delegate,
               artifact=info.artifact, size_bytes=info.size_bytes, graph_opt=GRAPH_OPTIMIZATION)

    with np.load(cfg["inputs"], allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    predictor, inference = loaded.predictor, cfg["inference"]
    pool = loaded.preprocess(images[:TIMING_POOL])

    t0 = time.perf_counter_ns()
    predictor.scores(pool[:1], inference)
    out["first_ms"] = _ms(t0)
    for i in range(cfg["warmup"]):
        predictor.scores(pool[i % len(pool)][None], inference)
    samples = []
    for i in range(cfg["runs"]):
        x = pool[i % len(pool)][None]
        t0 = time.perf_counter_ns()
        predictor.scores(x, inference)
        samples.append(_ms(t0))
    out.update(latency_summary(samples))
    out["samples_ms"] = [round(s, 4) for s in samples]

    out.update(_end_to_end(loaded, images, cfg.get("paths"), inference, cfg["e2e_runs"]))
    out.update(_accuracy(loaded, images, labels, inference))
    out["peak_rss_mb"] = peak_rss_mb(info.helper_pids)
    out.update(_throughput(cfg, loaded, pool))
    out["board_after"] = board_state()
    return out


def _end_to_end(loaded: Loaded, images: np.ndarray, paths: list[str] | None, inference: str,
                runs: int) -> dict[str, Any]:
    """Per image: decode (file inputs) + preprocess + inference + postprocess, what a user feels."""
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "infer": [], "post": []}
    total, shown = [], []
    n = len(paths) if paths else len(images)
    for i in range(min(runs, n) if n else 0):
        t0 = time.perf_counter_ns()
        image = decode_image(paths[i]) if paths else images[i]
        t1 = time.perf_counter_ns()
        x = loaded.preprocess([image])
        t2 = time.perf_counter_ns()
        scores = loaded.predictor.scores(x, inference)
        t3 = time.perf_counter_ns()
        shown.append((int(scores.argmax()), float(softmax(scores).max())))  # as `fftk run`
        t4 = time.perf_counter_ns()
        for key, a, b in (("decode", t0, t1), ("preprocess", t1, t2), ("infer", t2, t3),
                          ("post", t3, t4)):
            stages[key].append((b - a) / 1e6)
        total.append((t4 - t0) / 1e6)
    if not total:
        return {}
    e2e = latency_summary(total, prefix="e2e_")
    return {
        "e2e_p50_ms": e2e["e2e_p50_ms"], "e2e_p95_ms": e2e["e2e_p95_ms"],
        "e2e_mean_ms": e2e["e2e_mean_ms"], "e2e_count": e2e["e2e_count"],
        "e2e_decode": "image files" if paths else "none (uint8 arrays)",
        **{f"e2e_{k}_ms": float(np.mean(v)) for k, v in stages.items()},
    }


def _accuracy(loaded: Loaded, images: np.ndarray, labels: np.ndarray,
              inference: str) -> dict[str, Any]:
    """Error (%) on the whole input set for both modes; `error` is the chosen mode's."""
    scores: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), 256):
        x = loaded.preprocess(images[start:start + 256])
        for mode, s in loaded.predictor.scores_both(x).items():
            scores.setdefault(mode, []).append(s)
    errors = {m: error_percent(np.concatenate(s), labels) for m, s in scores.items()}
    return {"error": errors[inference], "error_one_pass": errors["one-pass"],
            "error_multi_pass": errors["multi-pass"], "n_eval": int(len(labels))}


def _throughput(cfg: dict[str, Any], loaded: Loaded, pool: np.ndarray) -> dict[str, Any]:
    """Images per second at batch N; fixed-batch models use their `-b<N>` variant if shipped."""
    batch = int(cfg["batch"])
    predictor = loaded.predictor
    if loaded.graph.info.batch not in (None, batch):
        try:
            predictor = open_bundle(cfg["bundle"], backend=cfg["backend"], fmt=cfg["format"],
                                    threads=cfg["threads"], per_block=cfg["per_block"],
                                    batch=batch).predictor
        except FFTKError:
            pass
    model_batch = predictor.graph.info.batch
    x = np.concatenate([pool] * (batch // len(pool) + 1))[:batch]
    predictor.scores(x, cfg["inference"])  # warm-up at this shape
    done, t0 = 0, time.perf_counter()
    while done < cfg["throughput_images"]:
        predictor.scores(x, cfg["inference"])
        done += batch
    seconds = time.perf_counter() - t0
    return {"throughput_ips": done / seconds, "throughput_batch": batch,
            "throughput_model_batch": model_batch or batch,
            "throughput_artifact": predictor.graph.info.artifact}


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    return report(lambda: bench_config(cfg))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
