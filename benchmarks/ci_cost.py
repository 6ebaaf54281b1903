"""What `.ci/run` costs on this machine, from a fresh clone, with a cold emulated-board cache;
and how much of it the emulated-board tests (tests/boards) take.

    python benchmarks/ci_cost.py [--commit HEAD] [--out benchmarks/results/ci-cost.json]

Clones the commit into a temp folder, runs its `.ci/run` with FFTK_BOARD_CACHE pointing at an
empty folder (so the arm64 root is built by debootstrap, as on a clean CI machine),
FFTK_SHARED_DATA at this checkout's ../shared/data and
PYTEST_ADDOPTS asking pytest for a JUnit XML report; then sums the test times (setup + call +
teardown, as pytest reports them) per top-level test folder. The board's root builds in the
background while the other tests run, so its cost shows both in tests/boards (waiting for it)
and as a slowdown of the rest; the total wall time is the figure that must stay < 30 min.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def folder_times(junit: Path) -> dict[str, float]:
    """Seconds per tests/<folder> (or top-level test file)."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        key = parts[1] if len(parts) > 2 else parts[-1]
        totals[key] += float(case.get("time", 0))
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                        "ci-cost.json")
    ns = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", ns.commit],
                            capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="fftk-ci-") as tmp:
        clone, cache, junit = Path(tmp) / "clone", Path(tmp) / "board-cache", Path(tmp) / "j.xml"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        env = dict(os.environ, FFTK_BOARD_CACHE=str(cache),
                   PYTEST_ADDOPTS=f"--junitxml={junit}")
        shared = Path(os.environ.get("FFTK_SHARED_DATA") or REPO.parent / "shared" / "data")
        if shared.is_dir():  # the clone is not beside ../shared: point its tests at the data
            env["FFTK_SHARED_DATA"] = str(shared.resolve())
        started = time.monotonic()
        done = subprocess.run([str(clone / ".ci" / "run")], cwd=clone, env=env)
        wall = time.monotonic() - started
        built = next(cache.glob("*/.fftk-complete"), None)
        report = {
            "command": f"python benchmarks/ci_cost.py --commit {commit}",
            "commit": commit, "exit_status": done.returncode, "wall_s": round(wall, 1),
            "cpu_model": cpu_model(), "cores": os.cpu_count(),
            "board_root_build_s": round(json.loads(built.read_text())["built_s"], 1)
            if built else None,
            "test_seconds_by_folder": {k: round(v, 1) for k, v in folder_times(junit).items()}
            if junit.exists() else {},
        }
    ns.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
