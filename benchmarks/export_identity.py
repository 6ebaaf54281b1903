"""Is the restructure behaviour-preserving? Export shipped checkpoints with the code of a base
commit and with the current working tree, in one run on this machine, and compare the sha256
of every bundle file.

    python benchmarks/export_identity.py [--base eb2387a] [--models ff_tiny-cifar10 ...] \\
        [--out benchmarks/results/export_identity.json]

How (everything outside the repo, in one temp folder that is removed at the end):
- base: `git worktree add --detach TMP/base BASE`, run with cwd=TMP/base and PYTHONPATH=TMP/base
  (fftoolkit is installed editable from this repo; a preflight with the same interpreter, env and
  cwd records `fftoolkit.__file__` per side and refuses to go on if the base would import this
  tree). The worktree is removed at the end, also on failure or Ctrl-C / SIGTERM.
- head: the working tree as it is now (uncommitted edits included: "dirty" in the JSON), run
  from the repo root. It is exported TWICE before the base: a file that differs between the
  two head runs differs on the same code (timings, temp paths...) and is reported as
  "volatile", not as a difference. If the head's sources change while it runs (others
  editing), that classification cannot be trusted and the run fails saying so.
- every side runs the exact user command
  `python -m fftoolkit.cli export CKPT --target all --quantize int8 --calib-dataset DATA --out DIR`
  with OMP_NUM_THREADS=1 (export has no --threads option; it runs its checks with 1 runtime
  thread), the same checkpoint copies and the same absolute data paths (a base before issue 11's
  manifest change records the calibration dataset as given; since then manifest.json and
  report.json name it by name + sha256 / relative path, so against such a base those two files
  differ by design), and its own fresh decoded-data cache ($FFTK_DATA): a change in
  decoding would change the calibration images, so the cache is not shared between base and
  head (the two head runs share one: the second reads what the first decoded).
- the checkpoints are copied from the base commit's models/weights/ into TMP/inputs/ once and
  both sides export those copies (the JSON says if the head's copy differs).

Exit 1 (naming the files) if any file present on either side differs, is missing on one side,
or an export fails. Progress goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fftoolkit.data.fetch import sha256_of

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASE = "eb2387a"  # the commit before the restructure (issue 11)
DEFAULT_OUT = REPO / "benchmarks" / "results" / "export_identity.json"

# model -> (checkpoint in models/weights/, calibration data relative to the shared data root)
MODELS: dict[str, tuple[str, str]] = {
    "ff_tiny-cifar10": ("ff_tiny-cifar10.safetensors", "cifar10/cifar10-train-jpeg.tar.gz"),
    "ff_small-cifar10": ("ff_small-cifar10.safetensors", "cifar10/cifar10-train-jpeg.tar.gz"),
    "mnist_mlp-mnist": ("mnist_mlp-mnist.safetensors", "mnist"),
}
SIDES = ("head", "head2", "base")  # head twice first, to find files that vary on the same code
PREFLIGHT = ("import importlib.util, json, sys, fftoolkit; "
             "print(json.dumps({'fftoolkit': fftoolkit.__file__, "
             "'version': getattr(fftoolkit, '__version__', None), "
             "'cli': importlib.util.find_spec('fftoolkit.cli').origin, "
             "'sys_path0': sys.path[:2]}))")


def log(msg: str) -> None:
    print(f"[export_identity {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git(*args: str, cwd: Path = REPO, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_at_start": list(os.getloadavg())}


def tree_hashes(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root (the bundle folder)."""
    return {p.relative_to(root).as_posix(): sha256_of(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def source_fingerprint(root: Path) -> str:
    """One hash over fftoolkit/**/*.py of a tree: did the head's code change while it ran?"""
    h = hashlib.sha256()
    for p in sorted((root / "fftoolkit").rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:  # deleted mid-walk by someone else: that is a change too
            h.update(b"<gone>")
    return h.hexdigest()


def side_env(root: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(root), FFTK_DATA=str(cache), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def preflight(root: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PREFLIGHT], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"cannot import fftoolkit from {root}: {done.stderr.strip()[-2000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    inside = [Path(info[k]).resolve().is_relative_to(root.resolve()) for k in ("fftoolkit", "cli")]
    if not all(inside):
        raise SystemExit(f"{root}: python imports fftoolkit from {info['fftoolkit']} "
                         f"(cli: {info['cli']}), "
                         f"not from this tree (sys.path: {info['sys_path0']})")
    return info


def export_cmd(ckpt: Path, data: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "fftoolkit.cli", "export", str(ckpt), "--target", "all",
            "--quantize", "int8", "--calib-dataset", str(data), "--out", str(out), "--quiet",
            *extra]


def run_export(side: str, root: Path, env: dict[str, str], cmd: list[str],
               logfile: Path) -> dict[str, Any]:
    t0 = time.time()
    with logfile.open("w") as f:
        done = subprocess.run(cmd, cwd=root, env=env, stdout=f, stderr=subprocess.STDOUT,
                              check=False)
    tail = logfile.read_text(errors="replace").strip().splitlines()[-6:]
    return {"side": side, "returncode": done.returncode, "seconds": round(time.time() - t0, 1),
            "log_tail": tail}


def export_sides(model: str, ckpt: Path, data: Path, extra: list[str], roots: dict[str, Path],
                 envs: dict[str, dict[str, str]], tmp: Path
                 ) -> tuple[dict[str, Any], dict[str, dict[str, str] | None]]:
    """Export `model` with head, head again, then base: (runs, side -> file hashes or None)."""
    tag = "-".join([model, *extra]).replace("--", "")
    runs: dict[str, Any] = {}
    hashes: dict[str, dict[str, str] | None] = {}
    for side in SIDES:
        out = tmp / "out" / side / tag
        out.parent.mkdir(parents=True, exist_ok=True)
        before = source_fingerprint(roots[side]) if side != "base" else None
        log(f"{model}: exporting with {side} {' '.join(extra)}...")
        run = run_export(side, roots[side], envs[side], export_cmd(ckpt, data, out, extra),
                         tmp / f"{side}-{tag}.log")
        if side != "base":
            run["sources_sha256"] = before
            run["sources_changed_during_run"] = before != source_fingerprint(roots[side])
        runs[side] = run
        log(f"{model}: {side} done in {run['seconds']} s (exit {run['returncode']})")
        hashes[side] = tree_hashes(out) if run["returncode"] == 0 else None
    return runs, hashes


def compare(per_side: dict[str, dict[str, str] | None]) -> dict[str, Any]:
    """Per file: base/head/head2 sha, volatile (head != head2), equal (base == head)."""
    head, head2, base = (per_side.get(s) for s in SIDES)
    names = sorted(set(head or {}) | set(head2 or {}) | set(base or {}))
    files: dict[str, Any] = {}
    for name in names:
        b = base.get(name) if base is not None else None
        h = head.get(name) if head is not None else None
        h2 = head2.get(name) if head2 is not None else None
        volatile = h is not None and h2 is not None and h != h2
        files[name] = {"base_sha256": b, "head_sha256": h, "head2_sha256": h2,
                       "equal": b is not None and b == h, "volatile": volatile}
    return files


def verdict(files: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences that fail the run, volatile files only reported)."""
    bad, volatile = [], []
    for name, f in files.items():
        if f["base_sha256"] is None or f["head_sha256"] is None:
            side = "base" if f["base_sha256"] is None else "head"
            bad.append(f"{name} (missing on {side})")
        elif f["volatile"]:
            volatile.append(name)
            if not f["equal"]:
                continue  # differs between two head runs too: not evidence either way
        elif not f["equal"]:
            bad.append(name)
    return bad, volatile


def table(report: dict[str, Any]) -> str:
    rows = [("model", "file", "base", "head", "result")]
    for name, m in report["models"].items():
        model = name + (" [--eval-samples 0]" if m.get("default_flags") else "")
        if m.get("error"):
            rows.append((model, "-", "-", "-", f"EXPORT FAILED: {m['error']}"))
            continue
        for name, f in m["files"].items():
            res = ("volatile (head runs differ)" if f["volatile"]
                   else "equal" if f["equal"] else "DIFFERENT")
            rows.append((model, name, (f["base_sha256"] or "missing")[:12],
                         (f["head_sha256"] or "missing")[:12], res))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=DEFAULT_BASE, help="base commit (default %(default)s)")
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                    metavar="MODEL", help=f"subset of {', '.join(MODELS)} (default: all)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report")
    ap.add_argument("--calib-samples", type=int, default=None,
                    help="passed to both sides; default: export's own default (256)")
    ap.add_argument("--eval-samples", type=int, default=None,
                    help="passed to both sides; default: export's own default (1000)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (bundles, logs)")
    args = ap.parse_args()

    shared = Path(os.environ.get("FFTK_SHARED_DATA") or REPO / ".." / "shared" / "data").resolve()
    base_commit = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    head_commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    extra: list[str] = []
    for opt in ("calib_samples", "eval_samples"):
        if getattr(args, opt) is not None:
            extra += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]

    tmp = Path(tempfile.mkdtemp(prefix="fftk-export-identity-"))
    base_root = tmp / "base"
    worktree_added = False

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        log(f"git worktree add --detach {base_root} {base_commit[:12]}")
        git("worktree", "add", "--detach", str(base_root), base_commit)
        worktree_added = True
        roots = {"head": REPO, "head2": REPO, "base": base_root}
        caches = {"head": tmp / "cache-head", "head2": tmp / "cache-head",
                  "base": tmp / "cache-base"}
        envs = {s: side_env(roots[s], caches[s]) for s in SIDES}
        imports = {s: preflight(roots[s], envs[s]) for s in ("head", "base")}
        for s in ("head", "base"):
            log(f"{s}: fftoolkit imported from {imports[s]['fftoolkit']}")

        inputs = tmp / "inputs"
        inputs.mkdir()
        report: dict[str, Any] = {
            "what": "sha256 of every bundle file: `fftk export CKPT --target all --quantize int8 "
                    "--calib-dataset DATA` at the base commit vs the current working tree",
            "machine": machine(),
            "base": {"commit": base_commit, "ref": args.base, "fftoolkit_file": imports["base"]},
            "head": {"commit": head_commit, "dirty": bool(status),
                     "dirty_paths": status.splitlines(), "fftoolkit_file": imports["head"]},
            "command": " ".join(export_cmd(Path("CKPT"), Path("DATA"), Path("DIR"), extra)),
            "env": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "OPENBLAS_NUM_THREADS": "1",
                    "FFTK_DATA": "a fresh cache per side (the two head runs share one)"},
            "samples": {"calib_samples": args.calib_samples or "export default (256)",
                        "eval_samples": args.eval_samples or "export default (1000)",
                        "lowered": bool(extra), "same_on_both_sides": True},
            "shared_data": str(shared),
            "models": {},
        }
        failures: list[str] = []
        for model in args.models:
            ckpt_name, data_rel = MODELS[model]
            data = shared / data_rel
            src = base_root / "models" / "weights" / ckpt_name
            ckpt = inputs / ckpt_name
            shutil.copyfile(src, ckpt)
            head_ckpt = REPO / "models" / "weights" / ckpt_name
            m: dict[str, Any] = {
                "checkpoint": ckpt_name, "checkpoint_sha256": sha256_of(ckpt),
                "head_checkpoint_same": (head_ckpt.is_file()
                                         and sha256_of(head_ckpt) == sha256_of(ckpt)),
                "calib_dataset": str(data)}
            report["models"][model] = m
            if not data.exists():
                m["error"] = f"calibration data not found: {data} (set FFTK_SHARED_DATA)"
                failures.append(f"{model}: {m['error']}")
                continue
            runs, hashes = export_sides(model, ckpt, data, extra, roots, envs, tmp)
            m["runs"] = runs
            if hashes["base"] is None and "--eval-samples" not in extra:
                # The base itself fails with the user's flags, so there is no base bundle to
                # compare: say how each side ended, then compare the bundles written without the
                # accuracy check (--eval-samples 0 on every side).
                base_err, head_err = runs["base"]["log_tail"][-1:], runs["head"]["log_tail"][-1:]
                m["default_flags"] = {
                    "base_error": base_err,
                    "head_outcome": ("succeeded" if hashes["head"] is not None else
                                     "same error" if head_err == base_err else
                                     "different error: " + " | ".join(head_err)),
                    "note": "the base export fails with the default flags; bundles below were "
                            "written with --eval-samples 0 on every side (no accuracy check, so "
                            "report.json has no accuracy rows)",
                    "runs": runs}
                if m["default_flags"]["head_outcome"] != "same error":
                    failures.append(f"{model}: with the default flags the base fails "
                                    f"({' '.join(base_err)}) but the head "
                                    f"{m['default_flags']['head_outcome']}")
                log(f"{model}: base export fails with the default flags; "
                    "retrying every side with --eval-samples 0")
                runs, hashes = export_sides(model, ckpt, data, [*extra, "--eval-samples", "0"],
                                            roots, envs, tmp)
                m["runs"] = runs
            for side in SIDES:
                if hashes[side] is None:
                    failures.append(f"{model}: {side} export failed (exit "
                                    f"{runs[side]['returncode']}): "
                                    + " | ".join(runs[side]["log_tail"][-2:]))
            if any(h is None for h in hashes.values()):
                m["error"] = "; ".join(f"{s} exit {runs[s]['returncode']}"
                                       for s in SIDES if hashes[s] is None)
                if hashes["head"] is None or hashes["base"] is None:
                    continue
            m["files"] = compare(hashes)
            bad, volatile = verdict(m["files"])
            heads_changed = (runs["head"]["sources_changed_during_run"]
                             or runs["head2"]["sources_changed_during_run"]
                             or runs["head"]["sources_sha256"] != runs["head2"]["sources_sha256"])
            m["head_sources_changed"] = bool(heads_changed)
            m["different"], m["volatile"] = bad, volatile
            failures += [f"{model}: {name}" for name in bad]
            if heads_changed and volatile:
                failures.append(f"{model}: the head's sources changed between/during its two "
                                f"runs, so 'volatile' ({', '.join(volatile)}) is not trustworthy")
        report["head"]["dirty_paths_at_end"] = git("status", "--porcelain").splitlines()
        report["failures"] = failures
        report["identical"] = not failures
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(table(report))
        print(f"\nbase {base_commit[:12]} vs head {head_commit[:12]}"
              f"{' + uncommitted edits' if status else ''}; report: {args.out}")
        if failures:
            print("DIFFERENT:\n  " + "\n  ".join(failures))
            return 1
        print("all bundle files byte-identical")
        return 0
    finally:
        if worktree_added:
            log(f"git worktree remove {base_root}")
            done = subprocess.run(["git", "worktree", "remove", "--force", str(base_root)],
                                  cwd=REPO, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                log(f"worktree remove failed ({done.stderr.strip()}); deleting and pruning")
                shutil.rmtree(base_root, ignore_errors=True)
                git("worktree", "prune", check=False)
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
