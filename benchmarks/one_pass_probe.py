"""Why the original FF's one-pass head falls behind multi-pass: linear probes on frozen layers.

For each checkpoint (e.g. the same run saved at several epochs), a fresh softmax classifier is
trained on the length-normalised activities of chosen layers under a chosen label overlay, on
`--train` training images, and its error measured on the validation split. The shipped
one-pass head reads layers 2..L under the neutral label (0.1 in every label pixel); if a probe
on other features does much better, the representation is there and the head's input is the
problem (a remedy), if no probe does, the layers have lost it.

    python benchmarks/one_pass_probe.py --dataset ../shared/data/mnist \
        runs/mnist_mlp_hinton/last.pt ... --out benchmarks/results/one-pass-probe.json

Probes (features -> error): `neutral 2..L` (the shipped head's input), `neutral 1..L`, `zero 2..L`
(an all-zero label), `zero 1..L`. Each probe: Adam, 30 full passes over the features, the
same seed; the activity counts how many units of each layer are silent (zero for every val image)
under the neutral label.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fftoolkit.data import load_dataset
from fftoolkit.ff.predict import to_float
from fftoolkit.models import build_network_from_state, load_checkpoint
from fftoolkit.models.nets import length_normalize
from fftoolkit.sampling import seeded_subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_results import machine  # noqa: E402

LABELS = {"neutral": None, "zero": 0.0}  # label pixels: 1/J each (the shipped one), or 0
PROBE_EPOCHS = 30


@torch.no_grad()
def features(net: torch.nn.Module, images: torch.Tensor, norm: dict, label: str,
             batch: int = 1000) -> list[torch.Tensor]:
    """Every layer's activity (N, units) with the label pixels set as `label` says."""
    j = net.spec.num_classes
    out: list[list[torch.Tensor]] = [[] for _ in net.units]
    for start in range(0, len(images), batch):
        x = to_float(images[start:start + batch], **norm).flatten(1)
        x[:, :j] = 1.0 / j if LABELS[label] is None else LABELS[label]
        for i, f in enumerate(net.forward_features(x.view(-1, *net.spec.input))):
            out[i].append(f.flatten(1))
    return [torch.cat(f) for f in out]


def probe_error(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                val_y: torch.Tensor) -> float:
    """Val error % of a softmax classifier trained on (train_x, train_y)."""
    torch.manual_seed(0)
    head = torch.nn.Linear(train_x.shape[1], int(train_y.max()) + 1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    for _ in range(PROBE_EPOCHS):
        for idx in torch.randperm(len(train_x)).split(100):
            opt.zero_grad()
            F.cross_entropy(head(train_x[idx]), train_y[idx]).backward()
            opt.step()
    with torch.no_grad():
        return round(100.0 * float((head(val_x).argmax(1) != val_y).float().mean()), 2)


def probe(checkpoint: Path, dataset: str, n_train: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    net = build_network_from_state(ckpt, str(checkpoint))
    train = load_dataset(dataset, "train")
    val = load_dataset(dataset, "val")
    keep = seeded_subset(len(train.labels), n_train, 0)
    sets = {"train": (torch.from_numpy(train.images[keep]), torch.from_numpy(train.labels[keep])),
            "val": (torch.from_numpy(val.images), torch.from_numpy(val.labels))}
    row: dict = {"checkpoint": str(checkpoint), "epoch": ckpt.epochs_done,
                 "val_one_pass_error": (ckpt.metrics or [{}])[-1].get("val_one_pass_error"),
                 "val_multi_pass_error": (ckpt.metrics or [{}])[-1].get("val_multi_pass_error"),
                 "probes": {}}
    for label in LABELS:
        feats = {k: features(net, images, ckpt.normalization, label)
                 for k, (images, _) in sets.items()}
        if label == "neutral":
            row["silent_units_per_layer"] = [int((f.amax(0) == 0).sum()) for f in feats["val"]]
        for first in (0, 1):
            x = {k: torch.cat([length_normalize(f) for f in feats[k][first:]], dim=1) for k in sets}
            name = f"{label} {first + 1}..L"
            row["probes"][name] = probe_error(x["train"], sets["train"][1].long(),
                                              x["val"], sets["val"][1].long())
            print(f"{checkpoint} epoch {row['epoch']}: {name}: {row['probes'][name]} %",
                  flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--dataset", required=True)
    p.add_argument("--train", type=int, default=10000, help="training images for each probe")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    rows = [probe(c, args.dataset, args.train) for c in args.checkpoints]
    command = "python benchmarks/one_pass_probe.py " + " ".join(sys.argv[1:])
    args.out.write_text(json.dumps({"command": command, "machine": machine(),
                                    "seconds": round(time.time() - start, 1),
                                    "probe": f"softmax, Adam lr 1e-3, batch 100, "
                                             f"{PROBE_EPOCHS} epochs, {args.train} train images",
                                    "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
