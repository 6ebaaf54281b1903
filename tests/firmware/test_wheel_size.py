"""The deploy wheel (what `fftk firmware` ships to every board) stays small: it packs models/,
so a large set of shipped weights would ride to every board unasked. Weights too large for it
(Hinton's 4 x 2000 MLP, 27 MB in fp16) ship beside it, in weights/, and never enter it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fftoolkit.firmware.wheel import build_wheel

LIMIT_BYTES = 12 * 1024 * 1024  # today ~7.4 MB: the shipped weights + the 500-image demo set


def test_the_deploy_wheel_stays_small(tmp_path: Path):
    wheel = build_wheel(tmp_path, ["numpy==2.4.6"])
    size = wheel.stat().st_size
    with zipfile.ZipFile(wheel) as zf:
        largest = sorted(zf.infolist(), key=lambda i: -i.compress_size)[:3]
    what = ", ".join(f"{i.filename} {i.compress_size / 1e6:.1f} MB" for i in largest)
    assert size <= LIMIT_BYTES, f"deploy wheel is {size / 1e6:.1f} MB; largest: {what}"
    large = Path(__file__).resolve().parents[2] / "weights"
    with zipfile.ZipFile(wheel) as zf:
        packed = {Path(name).name for name in zf.namelist()}
    beside = [p.name for p in large.glob("*.safetensors")] if large.is_dir() else []
    assert not set(beside) & packed, f"{large} files in the deploy wheel: {set(beside) & packed}"
