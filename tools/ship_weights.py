"""Turn a training checkpoint into shipped weights: `python tools/ship_weights.py RUN/last.pt
models/weights/NAME-DATA.safetensors [--half]`.

The safetensors file keeps the spec, classes, normalisation, metrics and training arguments but
no optimiser or RNG state. `--half` stores float16 (half the bytes) for weights that are too
large to ship in fp32; measure the error of the result before shipping it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fftoolkit.errors import FFTKError  # noqa: E402
from fftoolkit.models import export_weights  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path, help="a .safetensors path")
    parser.add_argument("--half", action="store_true", help="store float16 weights")
    args = parser.parse_args()
    if args.out.suffix != ".safetensors":
        print(f"{args.out}: the shipped form is a .safetensors file", file=sys.stderr)
        return 2
    if args.out.resolve() == args.checkpoint.resolve():
        print(f"{args.out}: would overwrite the checkpoint it is made from; pick another path",
              file=sys.stderr)
        return 2
    try:
        export_weights(args.checkpoint, args.out, half=args.half)
    except FFTKError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
