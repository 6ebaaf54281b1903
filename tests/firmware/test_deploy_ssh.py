"""fftk deploy through a real OpenSSH server on 127.0.0.1: copy, install, benchmark and
inference on a temp "board" directory, logs fetched back; and every way it can fail.

The board's install.sh runs with `--site-packages-of` this Python, so it builds a real venv and
installs the real wheel but downloads nothing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fftk_cli import cli_env, fftk, one_line_error
from fftk_sshd import Server
from loopback import free_port


# `fftk deploy` logs its steps ([1/5] connecting ...) on stderr: an error found on the board is
# the last line (one_line_error(..., last_line=True)); one found before connecting is the only one.
def deploy(server: Server, deploy_dir: Path, *args: object, identity: Path | None = None,
           known_hosts: Path | None = None, accept_new: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return fftk("deploy", deploy_dir, server.destination, "--port", server.port,
                "--identity", identity or server.key,
                "--known-hosts", known_hosts or server.known_hosts,
                *(["--accept-new-host-key"] if accept_new else []),
                "--remote-python", sys.executable,
                f"--install-arg=--site-packages-of={sys.executable}", *args, env=env)


@pytest.fixture(scope="module")
def deployed(sshd, rpi4_dir, val_images, tmp_path_factory):
    """One full deploy: the board directory, the local results folder and the CLI result."""
    root = tmp_path_factory.mktemp("deployed")
    board, results = root / "board" / "tiny", root / "results"
    result = deploy(sshd, rpi4_dir, "--remote-dir", board, "--results", results,
                    "--formats", "tflite-int8,onnx-fp32", "--threads", "1", "--runs", "5",
                    "--warmup", "1", "--input", val_images, "--fftk-arg=--no-probe")
    assert result.returncode == 0, result.stdout + result.stderr
    return board, results, result


@pytest.mark.slow
def test_deploy_benchmarks_on_the_board_and_fetches_the_logs(deployed, sshd):
    board, results, result = deployed
    for fmt in ("tflite-int8", "onnx-fp32"):
        assert f"| {fmt}" in result.stdout
    (fetched,) = results.iterdir()
    records = [json.loads(p.read_text()) for p in sorted(fetched.glob("*.json"))]
    assert sorted(r["format"] for r in records) == ["onnx-fp32", "tflite-int8"]
    for r in records:
        assert r["model"] == "ff_tiny" and r["threads"] == 1 and r["count"] == 5
        assert r["n_eval"] == 80 and r["hostname"] == socket.gethostname()
        assert r["p50_ms"] > 0 and 0 <= r["error"] <= 100
        for fact in ("board", "soc_temp_before_c", "soc_temp_after_c", "throttled_before",
                     "throttled_after"):  # board facts travel back (None on a PC)
            assert fact in r, fact
    with (fetched / "bench.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2
    assert f"logs: {fetched}/" in result.stdout

    # the board really runs the wheel in its own venv, and got its systemd units
    where = subprocess.run([str(board / ".venv/bin/python"), "-c",
                            "import fftoolkit; print(fftoolkit.__file__)"],
                           capture_output=True, text=True, env=cli_env(), cwd=board).stdout
    assert where.startswith(str(board / ".venv")), where
    unit = (board / "systemd" / "fftk-bench.service").read_text()
    assert f'ExecStart="{board}/.venv/bin/python" "{board}/fftk_board.py" bench' in unit
    assert "@" not in unit
    stored = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f",
                             str(sshd.known_hosts)], capture_output=True, text=True)
    assert stored.returncode == 0 and "ssh-ed25519" in stored.stdout  # accept-new stored it


@pytest.mark.slow
def test_install_sh_is_idempotent(deployed):
    board = deployed[0]
    again = subprocess.run(["sh", "install.sh", "--python", sys.executable,
                            f"--site-packages-of={sys.executable}"], cwd=board,
                           capture_output=True, text=True, env=cli_env())
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout and "installing" not in again.stdout


@pytest.mark.slow
def test_run_mode_classifies_on_the_board_over_scp(deployed, sshd, rpi4_dir, val_images,
                                                   tmp_path):
    """--run run, with no rsync on this side: the scp path copies and fetches."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("ssh", "scp"):
        os.symlink(shutil.which(tool), tools / tool)
    board = deployed[0]
    result = deploy(sshd, rpi4_dir, "--remote-dir", board, "--results", tmp_path / "results",
                    "--run", "run", "--skip-install", "--input", val_images,
                    env=cli_env(PATH=str(tools)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "80 image(s), tflite-int8 on litert" in result.stdout
    (fetched,) = (tmp_path / "results").iterdir()
    run = json.loads((fetched / "run-tflite-int8.json").read_text())
    assert run["n"] == 80 and len(run["predictions"]) == 80
    assert {p["label"] for p in run["predictions"]} == {f"class{k}" for k in range(10)}


@pytest.mark.slow
def test_board_missing_a_runtime_package(deployed, sshd, rpi4_dir, tmp_path):
    """A venv without the reused packages (a broken or half-done install)."""
    broken = tmp_path / "broken"
    shutil.copytree(deployed[0], broken, symlinks=True)
    (reuse,) = broken.glob(".venv/lib/python*/site-packages/fftk-reuse.pth")
    reuse.unlink()
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", broken, "--skip-install"),
                          last_line=True)
    assert "lacks the runtime package(s) numpy" in line and "onnxruntime" in line
    assert "without --skip-install" in line


def test_unreachable_board(sshd, rpi4_dir, tmp_path):
    closed = Server(sshd.proc, free_port(), sshd.user, sshd.key, sshd.other_key,
                    sshd.known_hosts, sshd.log)
    line = one_line_error(deploy(closed, rpi4_dir, "--remote-dir", tmp_path / "b"),
                          last_line=True)
    assert "cannot reach the board" in line and "Connection refused" in line
    assert "--port" in line


def test_rejected_key(sshd, rpi4_dir, tmp_path):
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b",
                                 identity=sshd.other_key), last_line=True)
    assert "authentication failed" in line and "ssh-copy-id" in line
    assert not (tmp_path / "b").exists()


def test_unknown_host_key_is_refused_without_accept_new(sshd, rpi4_dir, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b",
                                 known_hosts=empty, accept_new=False), last_line=True)
    assert "host key unknown or changed" in line and "--accept-new-host-key" in line
    assert empty.read_text() == ""


def test_board_without_python(sshd, rpi4_dir, tmp_path):
    result = fftk("deploy", rpi4_dir, sshd.destination, "--port", sshd.port, "--identity",
                  sshd.key, "--known-hosts", sshd.known_hosts, "--accept-new-host-key",
                  "--remote-dir", tmp_path / "b", "--remote-python", "/nonexistent/bin/python3")
    line = one_line_error(result, last_line=True)
    assert "no Python at '/nonexistent/bin/python3'" in line and "--remote-python" in line


def test_board_without_the_runtime(sshd, rpi4_dir, tmp_path):
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b",
                                 "--skip-install"), last_line=True)
    assert "no fftk runtime on the board" in line and "without --skip-install" in line
    assert (tmp_path / "b" / "install.sh").is_file()  # the copy happened; nothing installed


def test_deploy_refuses_a_directory_not_made_by_firmware(sshd, tmp_path):
    line = one_line_error(deploy(sshd, tmp_path, "--remote-dir", tmp_path / "b"))
    assert "deploy.json" in line and "fftk firmware" in line


def test_deploy_will_not_overwrite_a_folder_it_did_not_make(sshd, rpi4_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", home), last_line=True)
    assert "holds other files" in line and "--remote-dir" in line
    assert [p.name for p in home.iterdir()] == ["thesis.tex"]


@pytest.mark.slow
def test_hostile_remote_dir_stays_data_on_the_board(sshd, rpi4_dir, val_images, tmp_path):
    """The remote folder reaches install.sh and the systemd units; metacharacters in it (the
    sed `e` command of issue 10 ran a program through `|`) must stay part of the path."""
    marker = tmp_path / "PWNED"
    board = tmp_path / f"x|e touch {marker}|;$(touch {marker})%n" / "tiny"
    result = deploy(sshd, rpi4_dir, "--remote-dir", board, "--results", tmp_path / "results",
                    "--formats", "tflite-int8", "--threads", "1", "--runs", "5", "--warmup", "0",
                    "--input", val_images, "--fftk-arg=--no-probe")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    unit = (board / "systemd" / "fftk-bench.service").read_text()
    escaped = str(board).replace("%", "%%").replace("$", "$$")
    assert f'ExecStart="{escaped}/.venv/bin/python" "{escaped}/fftk_board.py" bench' in unit


def test_deploy_refuses_a_tampered_or_linked_deploy_directory(sshd, rpi4_dir, tmp_path):
    """What would be shipped is checked before connecting: bundle hashes, deploy.json, links."""
    tampered = tmp_path / "tampered"
    shutil.copytree(rpi4_dir, tampered)
    model = tampered / "bundle" / "model.int8.tflite"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    line = one_line_error(deploy(sshd, tampered, "--remote-dir", tmp_path / "b1"))
    assert "model.int8.tflite" in line and "sha256" in line

    linked = tmp_path / "linked"
    shutil.copytree(rpi4_dir, linked)
    (linked / "id_ed25519").symlink_to(sshd.key)
    line = one_line_error(deploy(sshd, linked, "--remote-dir", tmp_path / "b2"))
    assert "id_ed25519" in line and "symlink" in line

    renamed = tmp_path / "renamed"
    shutil.copytree(rpi4_dir, renamed)
    cfg = json.loads((renamed / "deploy.json").read_text())
    cfg["model"] = "../../escape"
    (renamed / "deploy.json").write_text(json.dumps(cfg))
    line = one_line_error(deploy(sshd, renamed))
    assert "deploy.json" in line and "not a safe name" in line
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b3",
                                 "--expect-sha256", "0" * 64))
    assert "not the expected" in line
    assert not any((tmp_path / b).exists() for b in ("b1", "b2", "b3"))
