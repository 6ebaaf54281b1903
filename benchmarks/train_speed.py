"""Training-speed levers side by side (issue 15): seconds per epoch of the real training step
for fp32 (channels-last, today's path), bf16 autocast (--precision bf16) and torch.compile of
every block, on FF_tiny and FF_optimal, in one run on this machine.

    python benchmarks/train_speed.py [--models ff_tiny,ff_optimal] [--steps 12] [--threads 1] \\
        [--out benchmarks/results/train_speed.json]

Each variant builds the network from its spec (seed 0) and runs `Trainer.train_step` on real
CIFAR-10 images (the bundled demo set, batch 128, augmented as in training), timing `--steps`
steps after the first two. An epoch is 45,000 training images = 352 steps; compile time (the
first steps' excess over the steady step) is added once, so "epoch s" is what a whole epoch
costs with that lever (inductor's cache starts empty, as on a first run). The data path
(index, normalise, augment) is timed apart, as its share of a step. Ratios are only meaningful
within one run: the JSON names the CPU and threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fftoolkit.ff.predict import to_float
from fftoolkit.models import create_model, load_spec
from fftoolkit.runtime.demo_set import demo_set_path
from fftoolkit.runtime.images import load_arrays
from fftoolkit.train.augment import random_crop_flip
from fftoolkit.train.loop import TrainConfig, Trainer
from fftoolkit.train.precision import native_bf16

REPO = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 352  # ceil(45,000 / 128)
BATCH = 128
VARIANTS = ("fp32", "bf16", "compile")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def batches(steps: int, generator: torch.Generator):
    """(x, y) batches of real CIFAR-10 images, normalised and augmented as in training."""
    images, labels, _ = load_arrays(demo_set_path())
    images, labels = torch.from_numpy(images), torch.from_numpy(labels).long()
    mean, std = [0.4914, 0.4822, 0.4466], [0.2454, 0.2430, 0.2608]
    for _ in range(steps):
        idx = torch.randint(len(images), (BATCH,), generator=generator)
        t0 = time.perf_counter()
        x = random_crop_flip(to_float(images[idx], mean, std), generator)
        yield x.contiguous(memory_format=torch.channels_last), labels[idx], \
            time.perf_counter() - t0


def measure(model: str, variant: str, steps: int) -> dict:
    torch.manual_seed(0)
    spec = load_spec(model)
    net = create_model(spec)
    cfg = TrainConfig(model=model, epochs=1, batch_size=BATCH, lr=1e-3, routine="chunked",
                      milestones=[], gamma=1.0, precision="bf16" if variant == "bf16" else "fp32")
    trainer = Trainer(net, cfg, torch.device("cpu"))
    if variant == "compile":
        torch._dynamo.reset()  # blocks share one forward: recompiles of another model count
        # one graph per block and input kind (the first block's input needs no grad): more
        # than dynamo's default limit of 8 on deeper nets, which would silently run eager
        torch._dynamo.config.recompile_limit = 64
        for i, unit in enumerate(net.units):
            net.units[i] = torch.compile(unit)
    generator = torch.Generator().manual_seed(0)
    times, data = [], []
    for x, y, data_s in batches(steps + 2, generator):
        t0 = time.perf_counter()
        trainer.train_step(x, y, generator)
        times.append(time.perf_counter() - t0)
        data.append(data_s)
    steady = float(np.median(times[2:]))
    warmup_excess = max(0.0, times[0] + times[1] - 2 * steady)
    return {"model": model, "variant": variant, "steady_step_s": round(steady, 4),
            "first_two_steps_s": round(times[0] + times[1], 2),
            "compile_s": round(warmup_excess, 2) if variant == "compile" else None,
            "epoch_s": round(STEPS_PER_EPOCH * steady
                             + (warmup_excess if variant == "compile" else 0.0), 1),
            "data_share_pct": round(100 * float(np.median(data)) / (steady + float(
                np.median(data))), 2)}


def main() -> None:
    # a fresh inductor cache: the compile time is that of a user's first run, not a re-run's
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="fftk-inductor-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="ff_tiny,ff_optimal")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                        "train_speed.json")
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    rows = []
    for model in ns.models.split(","):
        for variant in VARIANTS:
            print(f"{model} {variant} ...", flush=True)
            rows.append(measure(model, variant, ns.steps))
            print(rows[-1], flush=True)
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["variant"] == "fp32")
        row["speedup_vs_fp32"] = round(base["epoch_s"] / row["epoch_s"], 2)
    native, what = native_bf16(torch.device("cpu"))
    report = {"command": f"python benchmarks/train_speed.py --models {ns.models} --steps "
                         f"{ns.steps} --threads {ns.threads}",
              "cpu_model": cpu_model(), "cores": os.cpu_count(), "threads": ns.threads,
              "native_bf16": native, "cpu_bf16": what, "torch": torch.__version__,
              "rows": rows}
    ns.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| model | lever | steady s/step | compile s | epoch s | vs fp32 | data share % |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['variant']} | {r['steady_step_s']:.3f} | "
              f"{r['compile_s'] if r['compile_s'] is not None else '-'} | {r['epoch_s']:.0f} | "
              f"{r['speedup_vs_fp32']:.2f}x | {r['data_share_pct']:.1f} |")


if __name__ == "__main__":
    main()
