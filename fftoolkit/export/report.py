"""The size/compute report of a bundle: what `fftk export` prints and stores as report.json.

Rows are keyed by artifact name, never by position. No timings: the report is part of the
bundle, and exporting twice must give identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.models import deployed_params, macs_per_image, table3_params
from fftoolkit.models.spec import ModelSpec
from fftoolkit.runtime.manifest import Artifact, artifact_files


def artifact_sizes(bundle: Path, art: Artifact) -> dict[str, Any]:
    sizes = {name: (bundle / name).stat().st_size for name in artifact_files(art)}
    return {"fused_bytes": sizes[art.fused.file], "total_bytes": sum(sizes.values()),
            "files": sizes}


def accuracy_row(one: np.ndarray, multi: np.ndarray, labels: np.ndarray,
                 ref: tuple[np.ndarray, np.ndarray] | None) -> dict[str, float]:
    """Error % per mode, and % class agreement with the fp32 torch predictions."""
    row = {"one_pass_error": round(100.0 * float((one != labels).mean()), 3),
           "multi_pass_error": round(100.0 * float((multi != labels).mean()), 3)}
    if ref is not None:
        row["one_pass_agreement"] = round(100.0 * float((one == ref[0]).mean()), 3)
        row["multi_pass_agreement"] = round(100.0 * float((multi == ref[1]).mean()), 3)
    return row


def build_report(spec: ModelSpec, bundle: Path, artifacts: dict[str, Artifact],
                 accuracy: dict[str, Any] | None, notes: list[str]) -> dict[str, Any]:
    sizes = {key: artifact_sizes(bundle, art) for key, art in artifacts.items()}
    ratios = {}
    for key in sizes:
        fp32 = key.replace("-int8", "-fp32")
        if "-int8" in key and fp32 in sizes and not key.startswith("edgetpu"):
            ratios[key] = round(sizes[key]["fused_bytes"] / sizes[fp32]["fused_bytes"], 4)
    return {
        "model": spec.name,
        "algorithm": spec.algorithm,
        "parameters": {"deployed": deployed_params(spec), "table3": table3_params(spec)},
        "macs_per_image": macs_per_image(spec),
        "files": sizes,
        "int8_to_fp32_fused_size": ratios,
        "accuracy": accuracy,
        "notes": notes,
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary for the terminal."""
    p = report["parameters"]
    lines = [f"{report['model']} ({report['algorithm']} FF): {p['deployed']:,} parameters "
             f"(Table III count {p['table3']:,}), "
             f"{report['macs_per_image'] / 1e6:.2f} M MACs/image",
             "", f"{'artifact':<18}{'fused':>12}{'all files':>12}{'vs fp32':>9}"]
    for key, s in report["files"].items():
        ratio = report["int8_to_fp32_fused_size"].get(key)
        kb = f"{s['fused_bytes'] / 1024:>10.1f}KB{s['total_bytes'] / 1024:>10.1f}KB"
        lines.append(f"{key:<18}{kb}{f'{ratio:.2f}x' if ratio else '':>9}")
    acc = report["accuracy"]
    if acc:
        src = acc["dataset"]  # {"name", and "sha256" or "path"}: data.loader.dataset_record
        lines += ["", f"error % on {acc['images']} held-back images "
                  f"({src.get('path', src['name'])}, {acc['split']}); agreement % with fp32 torch",
                  f"{'artifact':<18}{'one-pass':>10}{'multi-pass':>12}{'agree 1p':>10}"
                  f"{'agree mp':>10}"]
        for key, r in acc["rows"].items():
            agree = (f"{r['one_pass_agreement']:>10.2f}{r['multi_pass_agreement']:>10.2f}"
                     if "one_pass_agreement" in r else "")
            lines.append(f"{key:<18}{r['one_pass_error']:>10.2f}{r['multi_pass_error']:>12.2f}"
                         + agree)
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
