"""What fftk generates for a board never turns outside text into shell or unit syntax.

Fuzzed: names with metacharacters through the exporter and `fftk firmware`, and deploy-folder
paths with metacharacters through the board's unit writer (`fftk_board.py units`). The
reference for systemd's quoting is its documentation (systemd.service(5), "Command lines";
systemd.unit(5), "Specifiers"): `unquote_exec` below implements that reading independently of
the escaping under test.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fftk_cli import cli_env, fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.firmware.systemd import exec_word, fill_unit, unit_text
from fftoolkit.firmware.templates import templates_dir
from fftoolkit.untrusted import NAME_PATTERN

METACHARACTERS = "|&;$`\\\"' %@{}()<>*?[]#~=!\t\n\r/.-:+,^"


def _fuzz_strings(seed: int, count: int, alphabet: str) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
            for _ in range(count)]


def unquote_exec(line: str) -> list[str]:
    """Split an ExecStart= value as systemd does: whitespace separates words, "..." groups
    with C escapes inside, %% is %, $$ is $ (no other specifier or variable may appear)."""
    words, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        word = []
        quoted = line[i] == '"'
        i += quoted
        while i < len(line) and (quoted or line[i] != " "):
            c = line[i]
            if quoted and c == '"':
                i += 1
                break
            if c == "\\":
                word.append(line[i + 1])
                i += 2
                continue
            if c in "%$":
                assert line[i + 1] == c, f"unescaped {c} in {line!r}"
                i += 1
            word.append(c)
            i += 1
        words.append("".join(word))
    return words


def test_exec_words_round_trip_through_systemds_unquoting() -> None:
    values = _fuzz_strings(0, 400, METACHARACTERS.replace("\n", "").replace("\r", "")
                           .replace("\t", "") + "aZ09é")
    for value in values:
        if value != value.strip():
            with pytest.raises(FFTKError):
                exec_word(value, "path")
            continue
        words = [exec_word(value, "path"), "bench", exec_word(value + "/x", "path")]
        assert unquote_exec(" ".join(words)) == [value, "bench", value + "/x"], value


@pytest.mark.parametrize("bad", ["a\nExecStartPre=+/bin/sh", "a\rb", "tab\there", " lead",
                                 "trail ", "", "nul\0"])
def test_values_that_cannot_be_expressed_are_refused(bad: str) -> None:
    for escape in (exec_word, unit_text):
        with pytest.raises(FFTKError, match="systemd unit"):
            escape(bad, "value")


def test_filled_units_keep_the_template_lines() -> None:
    """Whatever the folder, user and model: the same lines as the template, each setting's
    value exactly what was given (specifiers escaped)."""
    common = templates_dir() / "common"
    for unit in ("fftk-bench.service.in", "fftk-bench.timer.in"):
        template = (common / unit).read_text().replace("{{BOARD_TITLE}}", "Pi").replace(
            "{{BOARD}}", "rpi5").replace("{{BENCH_EVERY}}", "1h")
        for i, folder in enumerate(_fuzz_strings(1, 150, METACHARACTERS.replace("\n", "")
                                                 .replace("\r", "").replace("\t", "") + "ab")):
            folder = "/home/pi/" + folder.strip() + "x"
            words = {"PYTHON": folder + "/.venv/bin/python",
                     "BOARD_SCRIPT": folder + "/fftk_board.py", "LOG_DIR": folder + "/logs"}
            texts = {"MODEL": "m%i" if i % 2 else "ff_tiny", "USER": "pi"}
            filled = fill_unit(template, words, texts)
            lines, original = filled.splitlines(), template.splitlines()
            assert len(lines) == len(original)
            for got, want in zip(lines, original, strict=True):
                assert got.split("=", 1)[0] == want.split("=", 1)[0]
            for line in lines:
                if line.startswith("ExecStart="):
                    assert unquote_exec(line[len("ExecStart="):]) == [
                        words["PYTHON"], words["BOARD_SCRIPT"], "bench", "--log-dir",
                        words["LOG_DIR"]]
                if line.startswith("Description="):
                    assert texts["MODEL"].replace("%", "%%") in line


HOSTILE_FOLDERS = ["a b", "a|b", "x;id", "$(id)", "`id`", "p%n%%", "q\"uote", "back\\slash",
                   "it's", "e$HOME", "s|x|e id|"]


@pytest.mark.parametrize("name", HOSTILE_FOLDERS)
def test_board_writes_units_for_any_folder_path(rpi4_dir: Path, tmp_path: Path,
                                                name: str) -> None:
    """install.sh's last step, run in a folder whose path is full of metacharacters (the sed
    injection of issue 10 came from such a --remote-dir): the units hold the path as data."""
    board = tmp_path / name / "deploy"
    shutil.copytree(rpi4_dir, board)
    done = subprocess.run([sys.executable, "fftk_board.py", "units"], cwd=board,
                          capture_output=True, text=True, env=cli_env())
    assert done.returncode == 0, done.stderr
    here = board.resolve()
    for unit in ("fftk-bench.service", "fftk-bench.timer"):
        lines = (board / "systemd" / unit).read_text().splitlines()
        assert len(lines) == len((board / f"{unit}.in").read_text().splitlines())
    service = (board / "systemd" / "fftk-bench.service").read_text()
    exec_line = next(ln for ln in service.splitlines() if ln.startswith("ExecStart="))
    assert unquote_exec(exec_line[len("ExecStart="):]) == [
        str(here / ".venv/bin/python"), str(here / "fftk_board.py"), "bench", "--log-dir",
        str(here / "logs/service")]


def test_board_refuses_a_folder_path_systemd_cannot_take(rpi4_dir: Path, tmp_path: Path) -> None:
    board = tmp_path / "new\nline" / "deploy"
    shutil.copytree(rpi4_dir, board)
    done = subprocess.run([sys.executable, "fftk_board.py", "units"], cwd=board,
                          capture_output=True, text=True, env=cli_env())
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "systemd unit" in done.stderr and not (board / "systemd").exists()


def test_install_sh_and_units_never_hold_the_model_name(rpi4_dir: Path) -> None:
    for name in ("install.sh", "fftk-bench.service.in", "fftk-bench.timer.in"):
        text = (rpi4_dir / name).read_text()
        assert "ff_tiny" not in text, name
        assert "{{" not in text and "@DEPLOY_DIR@" not in text, name
    for name in ("install.sh", "fftk-bench.service.in", "fftk-bench.timer.in", "fftk_board.py"):
        assert "{{MODEL}}" not in (templates_dir() / "common" / name).read_text()


def _rename_in_manifest(bundle: Path, name: str) -> None:
    raw = json.loads((bundle / "manifest.json").read_text())
    raw["model_name"] = name
    (bundle / "manifest.json").write_text(json.dumps(raw))


def _template_lines(board: str) -> dict[str, list[str]]:
    files = {}
    for folder in (templates_dir() / "common", templates_dir() / board):
        for path in folder.iterdir():
            if path.is_file() and path.name != "board.json":
                files[path.name] = path.read_text().splitlines()
    return files


def test_random_names_through_export_and_firmware(tiny_bundle: Path, tmp_path: Path) -> None:
    """Names with metacharacters are refused with one line; names that pass the pattern
    render files whose lines are the template's lines, placeholders filled, nothing added."""
    names = _fuzz_strings(2, 12, METACHARACTERS + "abc") + ["ok_name-1.2", "Z", "a" * 100]
    templates = _template_lines("rpi5")
    for i, name in enumerate(names):
        bundle = tmp_path / f"b{i}"
        shutil.copytree(tiny_bundle, bundle)
        _rename_in_manifest(bundle, name)
        out = tmp_path / f"d{i}"
        result = fftk("firmware", bundle, "--board", "rpi5", "--out", out)
        if not NAME_PATTERN.fullmatch(name):
            assert "not a safe name" in one_line_error(result)
            assert not out.exists()
            continue
        assert result.returncode == 0, result.stderr
        for rel, want in templates.items():
            got = (out / rel).read_text().splitlines()
            assert len(got) == len(want), rel
            for line, template in zip(got, want, strict=True):
                pattern = re.escape(template)
                pattern = re.sub(r"\\\{\\\{[A-Z_]+\\\}\\\}", r"[^\\n]*", pattern)
                assert re.fullmatch(pattern, line), (rel, template, line)


@pytest.mark.parametrize("name", ["x\nrm -rf ~", "../up", "-rf", ".dot", "a b", "a|b"])
def test_export_refuses_a_checkpoint_with_an_unsafe_model_name(tiny_bundle: Path, tmp_path: Path,
                                                              name: str) -> None:
    import torch

    state = torch.load(tiny_bundle.parent / "last.pt", weights_only=True)
    state["spec"]["name"] = name
    torch.save(state, tmp_path / "evil.pt")
    result = fftk("export", tmp_path / "evil.pt", "--target", "onnx", "--out", tmp_path / "b")
    assert "not a safe name" in one_line_error(result)
    assert not (tmp_path / "b").exists()
