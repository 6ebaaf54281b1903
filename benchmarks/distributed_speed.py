"""Training throughput of the ways to use two CPU cores: one process on 1 and on 2 threads,
2 data-parallel ranks and a 2-rank block pipeline (1 thread each), for each model.

    python benchmarks/distributed_speed.py --dataset CIFAR10_TAR_GZ \
        --models ff_tiny,ff_deep --batches 40 --out benchmarks/results/distributed-speed.json

CIFAR10_TAR_GZ: ../shared/data/cifar10/cifar10-train-jpeg.tar.gz. Each setting is one
`fftk train` epoch of `--batches` batches (a seeded `--limit` subset) in a fresh run directory;
the figure is the metrics row's `images_per_s` (all images trained over the epoch's wall time,
the epoch-end collective included). Needs an otherwise idle machine: a busy core slows the
multi-process settings most.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# name: (threads per process, extra `fftk train` arguments)
SETTINGS: dict[str, tuple[int, list[str]]] = {
    "1x1-thread": (1, []),
    "1x2-threads": (2, []),
    "2-ranks-data": (1, ["--nproc", "2", "--parallel", "data"]),
    "2-ranks-blocks": (1, ["--nproc", "2", "--parallel", "blocks"]),
}


def measure(model: str, setting: str, args: argparse.Namespace, root: Path) -> float:
    threads, extra = SETTINGS[setting]
    out = root / f"{model}-{setting}"
    cmd = [sys.executable, "-m", "fftoolkit", "train", model, "--dataset", args.dataset,
           "--out", str(out), "--epochs", "1", "--batch-size", str(args.batch_size),
           "--limit", str(args.batches * args.batch_size), "--threads", str(threads),
           "--device", "cpu", "--precision", "fp32", *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return float(row["images_per_s"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--models", default="ff_tiny,ff_deep")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            results[model] = {s: measure(model, s, args, Path(tmp))
                              for s in args.settings.split(",")}
    text = json.dumps({"settings": {k: str(v) for k, v in vars(args).items() if k != "out"},
                       "images_per_s": results}, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
