"""Fill systemd unit templates on the board, escaping every value for the place it goes.

The unit files run as the user (often enabled at boot), and their values come from outside
the template: the deploy folder's path (any directory the user chose), the user name, the
model name from deploy.json. Each `@NAME@` placeholder is filled with one of two escapings:

- a *word* of a command line (`ExecStart=`): double-quoted, with `\\`, `"` escaped for
  systemd's C-style unquoting, `%` doubled (specifiers) and `$` doubled (variable expansion);
- *text* (`Description=`, `User=`): `%` doubled.

Control characters (a newline would start a new setting) and surrounding whitespace cannot
be expressed safely in either and are refused, so a filled unit has exactly the template's
lines. Runs on the board (standard library only); `fftk_board.py units` calls it.
"""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

from fftoolkit.errors import FFTKError

PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")
UNITS = ("fftk-bench.service", "fftk-bench.timer")
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\$?")


def _checked(value: str, what: str) -> str:
    if not value or value != value.strip() or not value.isprintable():
        raise FFTKError(f"{what} {value!r} cannot go into a systemd unit (empty, surrounding "
                        "spaces or a control character)")
    return value


def exec_word(value: str, what: str) -> str:
    """One argument of `ExecStart=`, quoted so systemd gives back exactly `value`."""
    _checked(value, what)
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def unit_text(value: str, what: str) -> str:
    """A plain-text setting value (`Description=`, `User=`): specifiers escaped."""
    return _checked(value, what).replace("%", "%%")


def fill_unit(template: str, words: dict[str, str], texts: dict[str, str]) -> str:
    """Replace every `@NAME@`; a name in neither table is an error (a template bug)."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in words:
            return exec_word(words[name], name.lower())
        if name in texts:
            return unit_text(texts[name], name.lower())
        raise FFTKError(f"unit template: no value for @{name}@")

    return PLACEHOLDER.sub(one, template)


def write_units(deploy_dir: Path, model: str, python: Path) -> list[Path]:
    """`systemd/<unit>` for each `<unit>.in` of the deploy folder, for this folder and user."""
    user = pwd.getpwuid(os.getuid()).pw_name
    if not USER_NAME.fullmatch(user):
        raise FFTKError(f"user name {user!r} is not one systemd's User= takes")
    words = {"PYTHON": str(python), "BOARD_SCRIPT": str(deploy_dir / "fftk_board.py"),
             "LOG_DIR": str(deploy_dir / "logs" / "service")}
    texts = {"MODEL": model, "USER": user}
    filled = {unit: fill_unit((deploy_dir / f"{unit}.in").read_text(), words, texts)
              for unit in UNITS}
    out = deploy_dir / "systemd"
    out.mkdir(exist_ok=True)
    written = []
    for unit, text in filled.items():
        tmp = out / f".{unit}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / unit)
        written.append(out / unit)
    return written
