"""What blocks mode's chunk cut costs in accuracy: one process, the chunked routine with its
chunks cut as for N block ranks (`--pipeline-stages N`, which 2 ranks of `--parallel blocks`
reproduce to 1e-6), against the uncut routine, same seeds, data and schedule.

    python benchmarks/blocks_cut_cost.py --model ff_tiny_mnist --dataset mnist --limit 4096 \
        --epochs 3 --stages 1,2,3 --seeds 0,1 --out benchmarks/results/blocks-cut.json

Writes one JSON object: per stage count and seed, the last epoch's val errors (one-pass and
multi-pass), and their means. One seed per setting is noise-level: compare means over seeds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from statistics import mean

from fftoolkit.models import load_checkpoint
from fftoolkit.train import TrainConfig, train


def run(args: argparse.Namespace, stages: int, seed: int, root: Path) -> dict[str, float]:
    ckpt = load_checkpoint(train(TrainConfig(
        model=args.model, dataset=args.dataset, out=str(root / f"s{stages}-seed{seed}"),
        epochs=args.epochs, limit=args.limit, seed=seed, threads=args.threads,
        val_split=args.val_split, pipeline_stages=stages), progress=False))
    last = ckpt.metrics[-1]
    return {"val_one_pass_error": last["val_one_pass_error"],
            "val_multi_pass_error": last["val_multi_pass_error"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ff_tiny_mnist")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--limit", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--val-split", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stages", default="1,2")
    p.add_argument("--seeds", default="0")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stages in map(int, args.stages.split(",")):
            runs = {seed: run(args, stages, seed, Path(tmp))
                    for seed in map(int, args.seeds.split(","))}
            results[str(stages)] = {"runs": runs, **{
                f"mean_{k}": round(mean(r[k] for r in runs.values()), 3)
                for k in ("val_one_pass_error", "val_multi_pass_error")}}
    report = {"settings": {k: v for k, v in vars(args).items() if k != "out"},
              "pipeline_stages": results}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
