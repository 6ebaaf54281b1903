"""Training throughput of the ways to use two CPU cores: one process on 1 and on 2 threads,
2 data-parallel ranks and a 2-rank block pipeline (1 thread each), for each model.

    python benchmarks/distributed_speed.py --dataset CIFAR10_TAR_GZ \
        --models ff_tiny,ff_deep --batches 40 --out benchmarks/results/distributed-speed.json

CIFAR10_TAR_GZ: ../shared/data/cifar10/cifar10-train-jpeg.tar.gz. Each setting is one
`fftk train` epoch of `--batches` batches (a seeded `--limit` subset) in a fresh run directory;
the figure is the metrics row's `images_per_s` (all images trained over the epoch's wall time,
the epoch-end collective included). Needs an otherwise idle machine: a busy core slows the
multi-process settings most. The same rows give each rank's training payload sent per image
(`sent_bytes_per_image`, fftoolkit.train.distributed) and peak RSS (`ru_maxrss_mb_per_rank`),
which do not depend on the machine being idle; `--note` says what else was running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fftoolkit.bench.sysinfo import cpu_model  # the standard library only: no torch here

FIGURES = ("images_per_s", "sent_bytes_per_image", "ru_maxrss_mb_per_rank")  # of metrics rows

# name: (threads per process, extra `fftk train` arguments)
SETTINGS: dict[str, tuple[int, list[str]]] = {
    "1x1-thread": (1, []),
    "1x2-threads": (2, []),
    "2-ranks-data": (1, ["--nproc", "2", "--parallel", "data"]),
    "2-ranks-blocks": (1, ["--nproc", "2", "--parallel", "blocks"]),
}


def measure(model: str, setting: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """The FIGURES of one setting's epoch, from its metrics row."""
    threads, extra = SETTINGS[setting]
    out = root / f"{model}-{setting}"
    cmd = [sys.executable, "-m", "fftoolkit", "train", model, "--dataset", args.dataset,
           "--out", str(out), "--epochs", "1", "--batch-size", str(args.batch_size),
           "--limit", str(args.batches * args.batch_size), "--threads", str(threads),
           "--device", "cpu", "--precision", "fp32", *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return {k: row[k] for k in FIGURES}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--models", default="ff_tiny,ff_deep")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--note", help="what else the machine was doing (kept in the JSON)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    load_before = os.getloadavg()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            rows[model] = {s: measure(model, s, args, Path(tmp))
                           for s in args.settings.split(",")}
    result: dict[str, Any] = {
        "settings": {k: str(v) for k, v in vars(args).items() if k not in ("out", "note")},
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "load_avg": {"before": load_before, "after": os.getloadavg()}}
    if args.note:
        result["note"] = args.note
    for figure in FIGURES:
        result[figure] = {m: {s: r[figure] for s, r in by.items()} for m, by in rows.items()}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
