"""The paper's central claim, measured: FF vs back-propagation training of the same network.

Same FF_tiny blocks, same batch size, same data. For each method, in a FRESH process:
seconds per training step (-> per epoch); peak RSS minus a baseline process that only builds
the model and one batch; peak RSS minus the same process's peak after two steps on 2 images
(code pages, thread pools and optimiser state already resident: what the batch costs); and the
bytes autograd keeps for backward (peak over the graph(s) alive at once: FF frees each chunk's
graph before the next chunk runs; BP keeps the whole network's).
Optionally trains the BP network for a few epochs to give its validation error for reference.

    python benchmarks/ff_vs_bp.py --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz \
        --steps 40 --out benchmarks/results/ff_vs_bp.json
    # the BP twin's error alone, added to the report above:
    python benchmarks/ff_vs_bp.py --skip-memory --bp-epochs 15 \
        --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz
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

from fftoolkit.models import ImprovedFFNet, load_spec
from fftoolkit.train.loop import TrainConfig, Trainer
from fftoolkit.train.memory import ru_maxrss_mb

VARIANTS = {
    # name: (method, channels_last, routine, compact_pool)
    "baseline": ("none", True, "chunked", True),
    "ff-chunked": ("ff", True, "chunked", True),
    "ff-greedy": ("ff", True, "greedy", True),
    "ff-chunked-stock-pool": ("ff", True, "chunked", False),
    "ff-chunked-nchw": ("ff", False, "chunked", True),
    "bp": ("bp", True, None, True),
    "bp-stock-pool": ("bp", True, None, False),
    "bp-nchw": ("bp", False, None, True),
}


class SavedBytes:
    """Peak bytes autograd holds for backward (parameters excluded: they exist anyway).

    Counted per storage: a tensor saved by two ops (ReLU's output is also MaxPool's input) or
    a view of a saved tensor costs its storage once. Every saved tensor is wrapped in a holder
    that dies with the graph keeping it, so `current` is exactly what the live graphs hold.
    """

    def __init__(self, params: list[torch.Tensor]):
        self.param_ptrs = {p.untyped_storage().data_ptr() for p in params}
        self.holders: dict[int, int] = {}  # storage address -> live holders
        self.current = 0
        self.peak = 0

    def pack(self, t: torch.Tensor) -> _Held:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        size = 0 if key in self.param_ptrs else storage.nbytes()
        self.holders[key] = self.holders.get(key, 0) + 1
        if self.holders[key] == 1:
            self.current += size
            self.peak = max(self.peak, self.current)
        return _Held(t, key, size, self)

    @staticmethod
    def unpack(held: _Held) -> torch.Tensor:
        return held.tensor

    def release(self, key: int, size: int) -> None:
        self.holders[key] -= 1
        if self.holders[key] == 0:
            del self.holders[key]
            self.current -= size


class _Held:
    def __init__(self, tensor: torch.Tensor, key: int, size: int, counter: SavedBytes):
        self.tensor, self.key, self.size, self.counter = tensor, key, size, counter

    def __del__(self) -> None:
        self.counter.release(self.key, self.size)


class BPNet(nn.Module):
    """The same blocks and one-pass head, trained end to end by back-propagation."""

    def __init__(self, ff_net: nn.Module):
        super().__init__()
        self.net = ff_net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.net.forward_features(x)[-2:])


def worker(variant: str, model: str, steps: int, batch: int) -> dict:
    method, channels_last, routine, compact_pool = VARIANTS[variant]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = ImprovedFFNet(load_spec(model), compact_pool=compact_pool)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    result: dict = {"variant": variant, "model": model, "method": method,
                    "channels_last": channels_last, "routine": routine,
                    "compact_pool": compact_pool, "batch": batch}
    if method == "none":
        net = net.to(memory_format=fmt)
        result["peak_rss_mb"] = ru_maxrss_mb()
        return result
    counter = SavedBytes(list(net.parameters()))
    gen = torch.Generator().manual_seed(0)
    if method == "ff":
        cfg = TrainConfig(model=model, routine=routine).resolved(net.spec)
        trainer = Trainer(net, cfg, torch.device("cpu"))
        if not channels_last:
            trainer.net.to(memory_format=torch.contiguous_format)
        def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
            trainer.train_step(xb, yb, gen)
    else:
        bp_net = BPNet(net).to(memory_format=fmt)
        opt = torch.optim.Adam(bp_net.parameters(), lr=1e-3)

        def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
            loss = nn.functional.cross_entropy(bp_net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    # Two steps on 2 images first: the code paths, thread pools and optimiser state are then
    # resident, so what the full batch adds on top is the memory the training method needs.
    for _ in range(2):
        step(x[:2], y[:2])
    warm_rss = ru_maxrss_mb()
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        for _ in range(3):  # warm-up: allocator and oneDNN primitive caches
            step(x, y)
        t0 = time.perf_counter()
        for _ in range(steps):
            step(x, y)
        dt = (time.perf_counter() - t0) / steps
    result.update(step_ms=round(1000 * dt, 1), s_per_epoch_45k=round(dt * 45000 / batch, 1),
                  saved_tensor_mb=round(counter.peak / 2**20, 2), peak_rss_mb=ru_maxrss_mb(),
                  peak_rss_over_warm_mb=round(ru_maxrss_mb() - warm_rss, 1))
    return result


def bp_reference_error(dataset: str, epochs: int, batch: int) -> dict:
    """Train the BP twin with the FF run's data, augmentation and Adam (lr 1e-3, constant);
    validation error (%) after every epoch."""
    from tqdm import tqdm

    from fftoolkit.data import channel_stats, load_dataset
    from fftoolkit.ff.predict import to_float
    from fftoolkit.train.augment import random_crop_flip
    from fftoolkit.train.evaluate import error_rates

    torch.manual_seed(0)
    train_ds, val_ds = load_dataset(dataset, "train"), load_dataset(dataset, "val")
    mean, std = channel_stats(train_ds.images)
    model = BPNet(ImprovedFFNet(load_spec("ff_tiny"))).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.from_numpy(train_ds.images), torch.from_numpy(train_ds.labels)
    gen = torch.Generator().manual_seed(0)
    curve, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        for s in tqdm(range(0, len(order), batch), desc=f"BP epoch {epoch + 1}/{epochs}"):
            idx = order[s:s + batch]
            xb = random_crop_flip(to_float(images[idx], mean, std), gen)
            loss = nn.functional.cross_entropy(model(xb.contiguous(
                memory_format=torch.channels_last)), labels[idx].long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        # BPNet's prediction is its network's one-pass head: fftk's own evaluator measures it
        one_pass_error, _ = error_rates(model.net, val_ds.images, val_ds.labels, mean, std)
        curve.append(round(one_pass_error, 2))
        print(f"BP epoch {epoch + 1}: val error {curve[-1]:.2f} %", file=sys.stderr)
    return {"dataset": dataset, "split": "val", "n": len(val_ds.labels), "bp_epochs": epochs,
            "optimizer": f"Adam lr 1e-3 constant, batch {batch}, crop+flip",
            "bp_val_error": curve[-1], "bp_val_error_per_epoch": curve,
            "bp_train_seconds": round(time.perf_counter() - t0, 1)}


def measure_memory(model: str, variants: list[str], steps: int, batch: int) -> dict:
    """Each variant in a fresh process (peak RSS is per process); FF/BP ratios."""
    rows = []
    for variant in variants:
        out = subprocess.run([sys.executable, __file__, "--worker", variant, "--model", model,
                              "--steps", str(steps), "--batch", str(batch)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    by = {r["variant"]: r for r in rows}
    base = by["baseline"]["peak_rss_mb"]
    for r in rows:
        if r["method"] != "none":
            r["peak_rss_over_baseline_mb"] = round(r["peak_rss_mb"] - base, 1)

    def ratios(ff: dict, bp: dict) -> dict:
        return {
            "peak_rss_over_baseline": round(ff["peak_rss_over_baseline_mb"]
                                            / bp["peak_rss_over_baseline_mb"], 3),
            "peak_rss_over_warm": round(ff["peak_rss_over_warm_mb"]
                                        / bp["peak_rss_over_warm_mb"], 3),
            "saved_tensor_bytes": round(ff["saved_tensor_mb"] / bp["saved_tensor_mb"], 3),
            "seconds_per_epoch": round(ff["s_per_epoch_45k"] / bp["s_per_epoch_45k"], 3),
        }

    return {"rows": rows, "ff_over_bp": ratios(by["ff-chunked"], by["bp"]),
            "ff_over_bp_stock_pool": ratios(by["ff-chunked-stock-pool"], by["bp-stock-pool"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=list(VARIANTS))
    parser.add_argument("--model", default="ff_tiny", help="an improved-FF zoo model")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset (baseline, ff-chunked, bp and their "
                             "-stock-pool twins are needed for the ratios)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dataset", help="train the BP twin on this dataset for --bp-epochs")
    parser.add_argument("--bp-epochs", type=int, default=0)
    parser.add_argument("--skip-memory", action="store_true",
                        help="only train the BP twin; keep the memory rows already in --out")
    parser.add_argument("--out", default="benchmarks/results/ff_vs_bp.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.steps, args.batch)))
        return
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}  # each part updates its keys
    machine = (f"{platform.processor() or platform.machine()}, {platform.platform()}, "
               f"torch {torch.__version__}")
    command = " ".join([Path(sys.executable).name, *sys.argv])
    if not args.skip_memory:
        report.update(command=command, machine=machine + ", 2 threads",
                      **measure_memory(args.model, args.variants.split(","), args.steps,
                                       args.batch))
        print(json.dumps(report["ff_over_bp"], indent=2))
    if args.dataset and args.bp_epochs:
        report["bp_reference"] = {"command": command,
                                  "machine": f"{machine}, {torch.get_num_threads()} threads",
                                  **bp_reference_error(args.dataset, args.bp_epochs, args.batch)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
