"""What each ingredient of the improved FF recipe buys: FF_tiny on CIFAR-10, short schedules.

Trains every variant with `fftk train` (resuming a partial run, skipping a finished one), then
writes the validation error of each variant after its last epoch, beside the 40-epoch runs of
the chunked and the overlapping recipe, to ablations.json and ablations.md (per-epoch curves in
ablations/):

    python benchmarks/ablations.py --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz

All variants share batch 128, Adam lr 1e-3, crop+flip (strong-aug-sched adds cutout),
the channel-wise loss (symba-sched: SymBa's) and the validation split (the last 500 training
images of each class). The test split is never used. Seed 0 unless a variant's name ends in
-seed1 (chunked-sched vs chunked-sched-seed1 is the seed-to-seed spread: 0.22 / 0.56 points).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from training_results import machine

# name: (what it isolates, extra `fftk train` arguments)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "greedy-const": ("greedy updates, constant LR (the naive recipe)",
                     ["--routine", "greedy", "--gamma", "1.0"]),
    "chunked-sched": ("chunked alternating updates, LR x0.25 at epochs 8, 12, 14",
                      ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25"]),
    "chunked-sched-seed1": ("the same as chunked-sched with seed 1: the seed-to-seed spread",
                           ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25",
                            "--seed", "1"]),
    "overlapping-sched": ("overlapping chunks, LR x0.25 at epochs 8, 12, 14",
                          ["--routine", "overlapping", "--milestones", "8,12,14", "--gamma",
                           "0.25"]),
    "symba-sched": ("SymBa's loss (alpha 4, hardest wrong class) instead of eq. 3; chunked, "
                    "LR x0.25 at epochs 8, 12, 14",
                    ["--routine", "chunked", "--loss", "symba", "--milestones", "8,12,14",
                     "--gamma", "0.25"]),
    "cosine": ("chunked, cosine LR decay to 1 % of 1e-3 over the epochs instead of steps",
               ["--routine", "chunked", "--lr-schedule", "cosine"]),
    "strong-aug-sched": ("crop+flip+cutout (8x8) instead of crop+flip; chunked, LR x0.25 at "
                         "epochs 8, 12, 14",
                         ["--routine", "chunked", "--augment", "strong", "--milestones",
                          "8,12,14", "--gamma", "0.25"]),
    # what the two ways of training on 2 ranks change, each reproduced in one process (tests:
    # 2-rank blocks mode = --pipeline-stages 2 within 1e-6, 2-rank data mode = --ghost-batches 2
    # within 1e-5), so the accuracy figures need no second core
    "blocks-cut-2": ("chunked-sched with chunks cut at the 2-rank pipeline boundary (what "
                     "--parallel blocks on 2 ranks trains)",
                     ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25",
                      "--pipeline-stages", "2"]),
    "blocks-cut-2-seed1": ("the same as blocks-cut-2 with seed 1",
                           ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25",
                            "--pipeline-stages", "2", "--seed", "1"]),
    "blocks-cut-2-overlapping": ("overlapping-sched with chunks cut at the 2-rank pipeline "
                                 "boundary (block 2 loses its (1,2) chunk and trains alone)",
                                 ["--routine", "overlapping", "--milestones", "8,12,14",
                                  "--gamma", "0.25", "--pipeline-stages", "2"]),
    "per-rank-bn-2": ("chunked-sched with BatchNorm statistics per half batch (what "
                      "--parallel data on 2 ranks trains)",
                      ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25",
                       "--ghost-batches", "2"]),
    "per-rank-bn-2-seed1": ("the same as per-rank-bn-2 with seed 1",
                            ["--routine", "chunked", "--milestones", "8,12,14", "--gamma", "0.25",
                             "--ghost-batches", "2", "--seed", "1"]),
}

# Full-length runs, trained and kept like the variants: (what, the constant-LR variant its first
# `--epochs` epochs are, or None, epochs, extra arguments). The LR of each stays at 1e-3 until
# its first milestone, so its first `--epochs` epochs are the constant-LR variant of its routine.
FULL_RUNS: dict[str, tuple[str, str | None, int, list[str]]] = {
    "chunked-sched-40": ("the recipe shipped until the overlapping one: chunked, 40 epochs, LR "
                         "x0.25 at 22, 31, 37", "chunked-const", 40,
                         ["--routine", "chunked", "--milestones", "22,31,37", "--gamma", "0.25"]),
    "overlapping-sched-40": ("overlapping, 40 epochs, LR x0.25 at 22, 31, 37 (shipped on "
                             "2026-11-30 before the 60-epoch run)",
                             "overlapping-const", 40,
                             ["--routine", "overlapping", "--milestones", "22,31,37", "--gamma",
                              "0.25"]),
    "overlapping-sched-60": ("the shipped recipe: overlapping, 60 epochs, LR x0.25 at 33, "
                             "46, 55 (the paper's longer schedule)", None, 60,
                             ["--routine", "overlapping", "--milestones", "33,46,55", "--gamma",
                              "0.25"]),
}


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []


def epochs_of(name: str, args: argparse.Namespace) -> int:
    return FULL_RUNS[name][2] if name in FULL_RUNS else args.epochs


def train_command(name: str, args: argparse.Namespace) -> list[str]:
    extra = FULL_RUNS[name][3] if name in FULL_RUNS else VARIANTS[name][1]
    return ["fftk", "train", "ff_tiny", "--dataset", args.dataset, "--epochs",
            str(epochs_of(name, args)), *extra, "--out", str(Path(args.runs) / name)]


def saved_curve(name: str, args: argparse.Namespace) -> Path:
    return Path(args.out).with_suffix("") / f"{name}.metrics.jsonl"


def train(name: str, args: argparse.Namespace) -> None:
    """Run, or finish, one variant."""
    out = Path(args.runs) / name
    command = train_command(name, args)
    done = max(len(read_metrics(out / "metrics.jsonl")), len(read_metrics(saved_curve(name, args))))
    if done < epochs_of(name, args):
        resume = ["--resume"] if (out / "last.pt").exists() else []
        threads = ["--threads", str(args.threads)] if args.threads else []
        subprocess.run([*command, *resume, *threads], check=True)


def curve(name: str, args: argparse.Namespace) -> list[dict]:
    """A finished run's per-epoch metrics, kept beside the report so they outlive runs/."""
    run, saved = Path(args.runs) / name / "metrics.jsonl", saved_curve(name, args)
    metrics, epochs = read_metrics(run), epochs_of(name, args)
    if len(metrics) >= epochs:
        saved.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run, saved)
    else:
        metrics = read_metrics(saved)
    if len(metrics) < epochs:
        print(f"{name}: {len(metrics)}/{epochs} epochs so far, left out", file=sys.stderr)
        return []
    return metrics


def row(name: str, what: str, metrics: list[dict], epoch: int, command: str) -> dict:
    m = metrics[epoch - 1]
    return {
        "variant": name, "what": what, "epochs": epoch,
        "val_one_pass_error": m["val_one_pass_error"],
        "val_multi_pass_error": m["val_multi_pass_error"],
        "best_val_one_pass_error": min(x["val_one_pass_error"] for x in metrics[:epoch]),
        "mean_epoch_seconds": round(sum(x["epoch_seconds"] for x in metrics[:epoch]) / epoch, 1),
        # metrics.jsonl's ru_maxrss_mb (named peak_rss_mb in runs trained before the rename)
        "ru_maxrss_mb": max(x.get("ru_maxrss_mb", x.get("peak_rss_mb", 0.0))
                            for x in metrics[:epoch]),
        "command": command,
    }


def markdown(report: dict) -> str:
    lines = [
        f"# FF_tiny ablations (CIFAR-10 JPEG copy, validation split, {report['epochs']} epochs)",
        "", f"Command: `{report['command']}`  ", f"Machine: {report['machine']}", "",
        "| variant | what it isolates | epochs | val one-pass % | val goodness % "
        "| best one-pass % | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['variant']} | {r['what']} | {r['epochs']} | "
                     f"{r['val_one_pass_error']:.2f} | {r['val_multi_pass_error']:.2f} | "
                     f"{r['best_val_one_pass_error']:.2f} | {r['mean_epoch_seconds']} |")
    lines += ["", "Each row's training command:", ""]
    lines += [f"- {r['variant']}: `{r['command']}`" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--runs", default="runs/ablate", help="one run directory per variant")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: auto)")
    parser.add_argument("--only", action="append", choices=[*VARIANTS, *FULL_RUNS],
                        help="train only this variant (repeatable); the report covers all")
    parser.add_argument("--out", default="benchmarks/results/ablations.json")
    args = parser.parse_args()

    for name in args.only or [*VARIANTS, *FULL_RUNS]:
        train(name, args)
    rows = []
    for name, (what, _) in VARIANTS.items():
        metrics = curve(name, args)
        if metrics:
            rows.append(row(name, what, metrics, args.epochs,
                            " ".join(train_command(name, args))))
    for name, (what, const_name, epochs, _) in FULL_RUNS.items():
        metrics = curve(name, args)
        if metrics:
            command = " ".join(train_command(name, args))
            if const_name:
                rows.append(row(const_name, f"constant LR: epochs 1-{args.epochs} of {name}",
                                metrics, args.epochs, command))
            rows.append(row(name, what, metrics, epochs, command))
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(),
              "epochs": args.epochs, "split": "val", "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
