"""Host-vs-board parity (`fftk deploy --verify`): the same images classified on the board and
on this machine, format by format, and compared.

A board can run a bundle and still get it wrong (another runtime build, a broken int8 kernel
under emulation, an Edge TPU fallback); the latency table cannot show that. Here the host picks
the images (the seeded subset every `--limit N` uses), ships them as one .npz, the board's
`fftk_board.py verify` writes `fftk run --json --scores` per format, and the host classifies the
same array with the same format and threads and compares: predicted-class agreement, the largest
class-probability difference, and the error on both sides. Runtime and standard library only.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import fftoolkit
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.demo_set import demo_set_path
from fftoolkit.runtime.formats import FORMATS
from fftoolkit.runtime.images import Inputs, load_inputs
from fftoolkit.runtime.manifest import load_manifest, manifest_sha256
from fftoolkit.runtime.runner import classify, open_bundle

VERIFY_DIR = "verify"  # <remote-dir>/verify/images.npz on the board; <logs>/verify/ fetched back
IMAGES_NPZ = "images.npz"
REPORT_NAME = "verify.json"  # in the fetched results folder
INFERENCE = "one-pass"  # what `fftk run` does by default, on both sides
MAX_LISTED = 20  # disagreeing images listed per format in verify.json


@dataclass
class VerifyOptions:
    """`--verify-input`, `--verify-images`, `--verify-threshold`."""

    input: Path | None = None  # images on this machine; default: the bundled demo set
    images: int | None = None  # a seeded subset of N (as --limit); default: all
    threshold: float = 99.0  # agreement % below which a format is flagged


@dataclass
class VerifySet:
    """The images both sides classify, written to `staging/verify/images.npz` for the copy."""

    staging: Path  # holds the `verify/` folder that is copied into the board's deploy folder
    names: list[str]  # where each image came from (the .npz only numbers them)
    source: str
    total: int  # images in the source before the subset
    bundle: Path
    sha256: str  # the bundle's manifest, pinned for the host runs
    threshold: float  # agreement % below which a format is flagged

    @property
    def npz(self) -> Path:
        return self.staging / VERIFY_DIR / IMAGES_NPZ


def prepare(bundle: Path, opts: VerifyOptions, staging: Path) -> VerifySet:
    """Pick the images and write them as one .npz; a bad `--verify-input` fails here, before
    anything connects to the board."""
    classes = load_manifest(bundle).classes
    if opts.input is not None:
        inputs, source = load_inputs(opts.input, classes), str(opts.input)
    else:
        try:
            inputs = load_inputs(demo_set_path(), classes)
        except FFTKError as exc:
            raise FFTKError(f"{exc}; the bundled demo set is CIFAR-10: pass --verify-input "
                            "PATH with images for this model") from None
        source = "bundled demo set"
    chosen = inputs.subset(opts.images)
    if not len(chosen):
        raise FFTKError(f"{source}: no images to verify with")
    shapes = sorted({im.shape for im in chosen.images})
    if len(shapes) > 1:
        raise FFTKError(f"{source}: --verify sends the images as one array, but they differ in "
                        f"size ({shapes[0]} and {shapes[1]}); resize them or pass an .npz")
    out = staging / VERIFY_DIR / IMAGES_NPZ
    out.parent.mkdir(parents=True)
    np.savez(out, images=np.stack(chosen.images), labels=np.asarray(chosen.labels, np.int64),
             classes=np.array(classes))
    return VerifySet(staging, list(chosen.names), source, len(inputs), bundle,
                     manifest_sha256(bundle), opts.threshold)


def board_args(log_dir: str, threads: int, formats: list[str]) -> list[str]:
    """`fftk_board.py verify ...`: the records go to `<log_dir>/verify/`, fetched with the logs."""
    args = ["verify", "--input", f"{VERIFY_DIR}/{IMAGES_NPZ}", "--log-dir",
            f"{log_dir}/{VERIFY_DIR}", "--threads", str(threads)]
    return args + (["--formats", ",".join(formats)] if formats else [])


def read_board_records(folder: Path) -> list[dict[str, Any]]:
    """The board's `verify-<format>.json` files (`fftk run --json --scores` output), checked
    for the fields compared: they come from another machine."""
    records = []
    for path in sorted(folder.glob("verify-*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FFTKError(f"{path}: not valid JSON ({exc})") from None
        if (not isinstance(record, dict) or record.get("format") not in FORMATS
                or not isinstance(record.get("predictions"), list)
                or not all(isinstance(p, dict) for p in record["predictions"])):
            raise FFTKError(f"{path}: not an `fftk run --json` record (format, predictions)")
        records.append(record)
    if not records:
        raise FFTKError(f"{folder}: the board wrote no verify-<format>.json")
    return records


def host_run(images: VerifySet, fmt: str, threads: int) -> dict[str, Any]:
    """`fftk run --json --scores` of the same .npz here, in this process."""
    loaded = open_bundle(images.bundle, fmt=fmt, threads=threads,
                         expect_sha256=images.sha256)
    inputs: Inputs = load_inputs(images.npz, list(loaded.manifest.classes))
    return classify(loaded, inputs, INFERENCE, keep_scores=True).to_json()


def compare(board: dict[str, Any], host: dict[str, Any], threshold: float,
            names: list[str] | None = None) -> dict[str, Any]:
    """One row: predicted-class agreement %, max |probability difference| over every image and
    class, error % on both sides; `flagged` when agreement < threshold. `names` label the
    disagreeing images (default: the records' own input names)."""
    bp, hp = board["predictions"], host["predictions"]
    if len(bp) != len(hp):
        raise FFTKError(f"{board['format']}: the board classified {len(bp)} image(s), this "
                        f"machine {len(hp)}")
    if not hp:
        raise FFTKError(f"{board['format']}: no images were classified")
    names = names or [p.get("input", str(i)) for i, p in enumerate(hp)]
    agree, diff, listed = 0, 0.0, []
    for i, (b, h) in enumerate(zip(bp, hp, strict=True)):
        if b.get("index") == h["index"]:
            agree += 1
        elif len(listed) < MAX_LISTED:
            listed.append({"input": names[i], "board": b.get("class"), "host": h["class"]})
        bs, hs = b.get("scores"), h.get("scores")
        if not isinstance(bs, list) or hs is None or len(bs) != len(hs):
            raise FFTKError(f"{board['format']}: image {i} has no scores (or a different "
                            "number of them) on the board; is the board's fftk older than "
                            "this one? Re-deploy without --skip-install")
        diff = max(diff, max((abs(float(x) - float(y)) for x, y in zip(bs, hs, strict=True)),
                             default=0.0))
    agreement = 100.0 * agree / len(hp)
    return {
        "format": board["format"], "n": len(hp), "agreement_pct": agreement,
        "max_abs_score_diff": diff, "error_pct_board": board.get("error"),
        "error_pct_host": host.get("error"), "board_runtime": board.get("runtime"),
        "host_runtime": host.get("runtime"), "flagged": agreement < threshold, "note": None,
        "disagreements": listed,
    }


def not_on_host(board: dict[str, Any], why: str) -> dict[str, Any]:
    """A row for a format this machine cannot run (an Edge TPU model): the board's side only."""
    return {
        "format": board["format"], "n": len(board["predictions"]), "agreement_pct": None,
        "max_abs_score_diff": None, "error_pct_board": board.get("error"),
        "error_pct_host": None, "board_runtime": board.get("runtime"), "host_runtime": None,
        "flagged": False, "note": f"not run on this machine: {why}", "disagreements": [],
    }


def host_facts() -> dict[str, Any]:
    """This machine, in the key names of the benchmark logs (firmware may not import bench)."""
    return {"hostname": socket.gethostname(), "arch": platform.machine(),
            "cpu_model": platform.processor() or platform.machine(), "cores": os.cpu_count() or 0,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "fftk_version": fftoolkit.__version__}


def parity_report(images: VerifySet, fetched: Path, threads: int, board: dict[str, Any],
                  wanted: list[str]) -> dict[str, Any]:
    """Compare the fetched board records with host runs; the report that is verify.json.

    `wanted` are the formats asked for (deploy.json's or --formats): an Edge TPU format the
    board replaced by its CPU int8 model gets a note."""
    records = read_board_records(fetched / VERIFY_DIR)
    order = {name: i for i, name in enumerate(wanted)}
    records.sort(key=lambda r: order.get(r["format"], len(order)))
    rows = []
    for record in records:
        try:
            host = host_run(images, record["format"], threads)
        except FFTKError as exc:
            rows.append(not_on_host(record, str(exc)))
            continue
        rows.append(compare(record, host, images.threshold, images.names))
    ran = {r["format"] for r in rows}
    notes = [f"{name}: the board ran tflite-int8 instead (its Edge TPU was not usable)"
             for name in wanted if name not in ran and name.startswith("edgetpu")
             and "tflite-int8" in ran]
    return {
        "threshold_pct": images.threshold, "inference": INFERENCE, "threads": threads,
        "images": {"source": images.source, "n": len(images.names), "of": images.total,
                   "subset": "seeded (as --limit)", "sent_as": f"{VERIFY_DIR}/{IMAGES_NPZ}"},
        "rows": rows, "flagged": [r["format"] for r in rows if r["flagged"]], "notes": notes,
        "board": board, "host": host_facts(),
    }


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(report: dict[str, Any]) -> str:
    """The rows for people: one line per format, the flag last."""
    head = ["format", "n", "agree %", "max |Δscore|", "error % board", "error % host",
            "board runtime", "host runtime", "flag"]
    below = f"< {report['threshold_pct']:g}%"
    lines = [[r["format"], str(r["n"]), _num(r["agreement_pct"], 2),
              "-" if r["max_abs_score_diff"] is None else f"{r['max_abs_score_diff']:.3g}",
              _num(r["error_pct_board"], 2), _num(r["error_pct_host"], 2),
              r["board_runtime"] or "-", r["host_runtime"] or "-",
              below if r["flagged"] else ("not on host" if r["note"] else "ok")]
             for r in report["rows"]]
    widths = [max(len(c) for c in col) for col in zip(head, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(head), sep, *map(fmt, lines)])


def flagged_line(report: dict[str, Any]) -> str | None:
    """One line naming the formats below the threshold, or None."""
    rows = [r for r in report["rows"] if r["flagged"]]
    if not rows:
        return None
    which = ", ".join(f"{r['format']} ({r['agreement_pct']:.2f}%)" for r in rows)
    return (f"board and host agree on fewer than {report['threshold_pct']:g}% of the "
            f"predictions for {which}")
