"""The paper's central claim, measured: FF vs back-propagation training of the same network.

Same FF_tiny blocks, same batch size, same data. For each method, in a FRESH process:
seconds per training step (-> per epoch), peak RSS minus a baseline process that only builds
the model and one batch, and the bytes autograd keeps for backward (peak over the graph(s) alive
at once: FF frees each chunk's graph before the next chunk runs; BP keeps the whole network's).
Optionally trains the BP network for a few epochs to give its validation error for reference.

    python benchmarks/ff_vs_bp.py --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz \
        --steps 40 --out benchmarks/results/ff_vs_bp.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from fftoolkit.models import create_model
from fftoolkit.train.loop import TrainConfig, Trainer
from fftoolkit.train.memory import peak_rss_mb

VARIANTS = {
    # name: (method, channels_last, routine)
    "baseline": ("none", True, "chunked"),
    "ff-chunked": ("ff", True, "chunked"),
    "ff-greedy": ("ff", True, "greedy"),
    "ff-chunked-nchw": ("ff", False, "chunked"),
    "bp": ("bp", True, "chunked"),
    "bp-nchw": ("bp", False, "chunked"),
}


class SavedBytes:
    """Peak bytes autograd holds for backward (parameters excluded: they exist anyway).

    Every saved tensor is wrapped in a holder; the holder dies with the graph that keeps it,
    so `current` is exactly what the live graphs hold.
    """

    def __init__(self, params: list[torch.Tensor]):
        self.param_ptrs = {p.data_ptr() for p in params}
        self.current = 0
        self.peak = 0

    def pack(self, t: torch.Tensor) -> _Held:
        size = 0 if t.data_ptr() in self.param_ptrs else t.numel() * t.element_size()
        self.current += size
        self.peak = max(self.peak, self.current)
        return _Held(t, size, self)

    @staticmethod
    def unpack(held: _Held) -> torch.Tensor:
        return held.tensor


class _Held:
    def __init__(self, tensor: torch.Tensor, size: int, counter: SavedBytes):
        self.tensor, self.size, self.counter = tensor, size, counter

    def __del__(self) -> None:
        self.counter.current -= self.size


class BPNet(nn.Module):
    """The same blocks and one-pass head, trained end to end by back-propagation."""

    def __init__(self, ff_net: nn.Module):
        super().__init__()
        self.net = ff_net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.net.forward_features(x)[-2:])


def worker(variant: str, steps: int, batch: int) -> dict:
    method, channels_last, routine = VARIANTS[variant]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = create_model("ff_tiny")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    result: dict = {"variant": variant, "method": method, "channels_last": channels_last,
                    "routine": routine if method == "ff" else None, "batch": batch}
    if method == "none":
        net = net.to(memory_format=fmt)
        result["peak_rss_mb"] = peak_rss_mb()
        return result
    counter = SavedBytes(list(net.parameters()))
    gen = torch.Generator().manual_seed(0)
    if method == "ff":
        cfg = TrainConfig(model="ff_tiny", routine=routine).resolved(net.spec)
        trainer = Trainer(net, cfg, torch.device("cpu"))
        if not channels_last:
            trainer.net.to(memory_format=torch.contiguous_format)
        step = lambda: trainer.train_step(x, y, gen)  # noqa: E731
    else:
        model = BPNet(net).to(memory_format=fmt)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        for _ in range(3):  # warm-up: allocator and oneDNN primitive caches
            step()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        dt = (time.perf_counter() - t0) / steps
    result.update(step_ms=round(1000 * dt, 1), s_per_epoch_45k=round(dt * 45000 / batch, 1),
                  saved_tensor_mb=round(counter.peak / 2**20, 2), peak_rss_mb=peak_rss_mb())
    return result


def bp_reference_error(dataset: str, epochs: int, batch: int) -> dict:
    """Train the BP twin briefly with the FF run's augmentation; validation error (%)."""
    from fftoolkit.data import channel_stats, load_dataset
    from fftoolkit.train.augment import random_crop_flip, to_float

    torch.manual_seed(0)
    train_ds, val_ds = load_dataset(dataset, "train"), load_dataset(dataset, "val")
    mean, std = channel_stats(train_ds.images)
    model = BPNet(create_model("ff_tiny")).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.from_numpy(train_ds.images), torch.from_numpy(train_ds.labels)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            xb = random_crop_flip(to_float(images[idx], mean, std), gen)
            loss = nn.functional.cross_entropy(model(xb.contiguous(
                memory_format=torch.channels_last)), labels[idx].long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(to_float(torch.from_numpy(val_ds.images[s:s + 500]), mean, std))
                          .argmax(1) for s in range(0, len(val_ds.labels), 500)])
    err = 100 * float((pred.numpy() != val_ds.labels).mean())
    return {"bp_epochs": epochs, "bp_val_error": round(err, 2),
            "bp_train_seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dataset", help="train the BP twin on this dataset for --bp-epochs")
    parser.add_argument("--bp-epochs", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/ff_vs_bp.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.batch)))
        return
    rows = []
    for variant in VARIANTS:  # each in a fresh process: peak RSS is per process
        out = subprocess.run([sys.executable, __file__, "--worker", variant, "--steps",
                              str(args.steps), "--batch", str(args.batch)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    base = rows[0]["peak_rss_mb"]
    for r in rows[1:]:
        r["peak_rss_over_baseline_mb"] = round(r["peak_rss_mb"] - base, 1)
    by = {r["variant"]: r for r in rows}
    ff, bp = by["ff-chunked"], by["bp"]
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, {platform.platform()}, "
                   f"torch {torch.__version__}, 2 threads",
        "rows": rows,
        "ff_over_bp": {
            "peak_rss_over_baseline": round(ff["peak_rss_over_baseline_mb"]
                                            / bp["peak_rss_over_baseline_mb"], 3),
            "saved_tensor_bytes": round(ff["saved_tensor_mb"] / bp["saved_tensor_mb"], 3),
            "seconds_per_epoch": round(ff["s_per_epoch_45k"] / bp["s_per_epoch_45k"], 3),
        },
    }
    if args.dataset and args.bp_epochs:
        report["bp_reference"] = bp_reference_error(args.dataset, args.bp_epochs, args.batch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report["ff_over_bp"], indent=2))


if __name__ == "__main__":
    main()
