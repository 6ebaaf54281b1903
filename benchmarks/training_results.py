"""Evaluate trained checkpoints and write the training table of benchmarks/RESULTS.md.

Every figure comes from `fftk eval`'s library call on the named split, with the command that
trained the checkpoint rebuilt from the arguments stored inside it.

    python benchmarks/training_results.py NAME=CHECKPOINT@DATASET:SPLIT ...
    e.g. mnist_mlp=runs/mnist_mlp/last.pt@../shared/data/mnist:test

Rows already in benchmarks/results/training.json for other names are kept.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from fftoolkit.models import load_checkpoint
from fftoolkit.train import evaluate_checkpoint


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def train_command(args: dict) -> str:
    """The command of a run from its checkpoint's train_args (runs from before --loss,
    --lr-schedule and `--augment none|basic|strong` lack the first two and store a bool)."""
    parts = ["fftk train", args["model"], "--dataset", str(args["dataset"]), "--epochs",
             str(args["epochs"]), "--batch-size", str(args["batch_size"]), "--lr", str(args["lr"]),
             "--routine", str(args["routine"])]
    if args.get("loss"):
        parts += ["--loss", args["loss"]]
    if args.get("lr_schedule", "step") == "step":
        parts += ["--milestones", ",".join(map(str, args["milestones"])), "--gamma",
                  str(args["gamma"])]
    else:  # milestones and gamma belong to the step schedule
        parts += ["--lr-schedule", args["lr_schedule"]]
    parts += ["--seed", str(args["seed"])]
    augment = {True: "basic", False: "none"}.get(args["augment"], args["augment"])
    parts.append({"basic": "--augment", "none": "--no-augment"}.get(augment,
                                                                     f"--augment {augment}"))
    return " ".join(parts)


def row(name: str, checkpoint: str, dataset: str, split: str) -> dict:
    state = load_checkpoint(checkpoint)
    result = evaluate_checkpoint(checkpoint, dataset, split=split)
    metrics = state.metrics or []
    return {
        "name": name,
        "checkpoint": checkpoint,
        "dataset": dataset,
        "split": split,
        "one_pass_error": round(result.one_pass_error, 2),
        "multi_pass_error": round(result.multi_pass_error, 2),
        "n": result.n,
        "epochs": len(metrics),
        "train_hours": round(sum(m["epoch_seconds"] for m in metrics) / 3600, 2),
        "train_command": train_command(state.train_args) if state.train_args is not None else None,
        "eval_command": f"fftk eval {checkpoint} --dataset {dataset} --split {split} --json",
    }


def main() -> None:
    out = Path("benchmarks/results/training.json")
    # Rows of runs not named on this command line are kept: one run can be added at a time.
    by_name = {r["name"]: r for r in json.loads(out.read_text())["rows"]} if out.exists() else {}
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        checkpoint, rest = rest.split("@", 1)
        dataset, split = rest.rsplit(":", 1)
        by_name[name] = row(name, checkpoint, dataset, split)
        print(by_name[name], file=sys.stderr)
    rows = list(by_name.values())
    report = {"machine": machine(), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    lines = ["| run | split | images | one-pass error % | multi-pass error % | epochs | "
             "train wall (h) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['split']} | {r['n']} | {r['one_pass_error']:.2f} | "
                     f"{r['multi_pass_error']:.2f} | {r['epochs']} | {r['train_hours']} |")
    lines.append("")
    for r in rows:
        lines.append(f"- {r['name']}: `{r['train_command']}`; measured with `{r['eval_command']}`")
    lines.append(f"\nMachine: {report['machine']}.")
    Path("benchmarks/results/training.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
