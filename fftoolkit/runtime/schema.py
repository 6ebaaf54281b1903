"""JSON documents checked against dataclasses: the first wrong field is a one-line error.

Used for files fftk did not necessarily write (a bundle's manifest, a deploy folder's
deploy.json): every field is checked against its type hint once, at load, so later code can
trust the types. Unknown fields are refused too (a typo or a newer format, never ignored).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from fftoolkit.errors import FFTKError


def from_json(cls: type, raw: Any, path: Path) -> Any:
    """An instance of dataclass `cls` built from parsed JSON, or an `FFTKError` naming the
    file and the first bad field."""
    return _build(cls, raw, "", path)


def bad_field(path: Path, where: str, expected: str, value: Any) -> FFTKError:
    """The one-line error for a field whose value is wrong (the value shown cut short)."""
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return FFTKError(f"{path}: field '{where}' must be {expected}, got {shown}")


def _build(cls: type, raw: Any, where: str, path: Path) -> Any:
    """An instance of dataclass `cls` from `raw`, every field checked against its type hint."""
    if not isinstance(raw, dict):
        raise bad_field(path, where or "(top)", "an object", raw)
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(k for k in raw if k not in known)
    if unknown:
        raise FFTKError(f"{path}: unknown field '{_join(where, str(unknown[0]))}'")
    kwargs = {}
    for f in fields(cls):
        here = _join(where, f.name)
        if f.name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                raise FFTKError(f"{path}: missing field '{here}'")
            continue
        kwargs[f.name] = typed(hints[f.name], raw[f.name], here, path)
    return cls(**kwargs)


def typed(hint: Any, value: Any, where: str, path: Path) -> Any:
    """`value` checked against `hint` (str, int, float, bool, Any, list, dict, X | None, and
    dataclasses), built into dataclasses where the hint says so."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, UnionType):
        if value is None and NoneType in args:
            return None
        options = [a for a in args if a is not NoneType]
        if len(options) == 1:
            return typed(options[0], value, where, path)
        raise TypeError(f"schema hint {hint} is ambiguous")  # a bug in the schema, not the file
    if is_dataclass(hint):
        return _build(hint, value, where, path)
    if origin is list:
        if not isinstance(value, list):
            raise bad_field(path, where, "a list", value)
        return [typed(args[0], v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad_field(path, where, "an object", value)
        return {k: typed(args[1], v, _join(where, k), path) for k, v in value.items()}
    return _scalar(hint, value, where, path)


def _scalar(hint: Any, value: Any, where: str, path: Path) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad_field(path, where, "true or false", value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad_field(path, where, "an integer", value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return value  # an int stays an int (zero points)
        raise bad_field(path, where, "a finite number", value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad_field(path, where, "a string", value)
    raise TypeError(f"schema hint {hint} is not supported")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
