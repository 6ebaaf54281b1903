"""The end of a benchmark child process: one JSON line on stdout for the parent to read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fftoolkit.errors import FFTKError


def report(measure: Callable[[], dict[str, Any]]) -> int:
    """Print measure()'s result as one JSON line; a user error becomes {"failed": ...}, exit 2."""
    try:
        result = measure()
    except FFTKError as exc:
        print(json.dumps({"failed": str(exc)}))
        return 2
    print(json.dumps(result))
    return 0
