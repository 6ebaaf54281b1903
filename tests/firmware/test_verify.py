"""fftk deploy --verify: the same images classified on the board and on the host, compared per
format. Here the "board" is this machine through a real sshd (tests/firmware/conftest.py), so
every format must agree exactly: 100 % of the predicted classes, a score difference of 0.0.

One full deploy (install included) serves the agreement checks; the threshold and strict checks
re-deploy to the same folder with --skip-install (which also proves a re-deploy, whose rsync
--delete removes the earlier verify/ folder, still ships the images).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from fftk_cli import cli_env, one_line_error, screen_lines
from test_deploy_ssh import deploy

from fftoolkit.errors import FFTKError
from fftoolkit.firmware import verify as parity
from fftoolkit.runtime.images import load_inputs
from fftoolkit.runtime.runner import RunResult

N = 40  # of the 80 val images: the subset path is exercised, and the runs stay short


@pytest.fixture(scope="module")
def verified(sshd, rpi4_dir, val_images, tmp_path_factory):
    """One deploy with --verify: the board folder, the fetched results folder, the CLI result."""
    root = tmp_path_factory.mktemp("verified")
    board, results = root / "board" / "tiny", root / "results"
    result = deploy(sshd, rpi4_dir, "--remote-dir", board, "--results", results, "--run", "run",
                    "--threads", "1", "--input", val_images, "--verify", "--verify-input",
                    val_images, "--verify-images", N)
    assert result.returncode == 0, result.stdout + result.stderr
    (fetched,) = results.iterdir()
    return board, fetched, result


@pytest.mark.slow
def test_board_and_host_agree_exactly_on_the_same_machine(verified, rpi4_dir, val_images):
    board, fetched, result = verified
    report = json.loads((fetched / "verify.json").read_text())
    formats = json.loads((rpi4_dir / "deploy.json").read_text())["formats"]
    assert [r["format"] for r in report["rows"]] == formats  # one row per board format
    for row in report["rows"]:
        assert row["n"] == N
        assert row["agreement_pct"] == 100.0 and row["max_abs_score_diff"] == 0.0, row
        assert row["error_pct_board"] == row["error_pct_host"] is not None
        assert row["board_runtime"] == row["host_runtime"] and row["host_runtime"]
        assert row["flagged"] is False and row["note"] is None and row["disagreements"] == []
    assert report["flagged"] == [] and report["threshold_pct"] == 99.0
    assert report["images"]["n"] == N and report["images"]["of"] == 80
    assert report["threads"] == 1 and report["inference"] == "one-pass"
    assert report["board"]["python"] and not report["board"]["missing"]  # the check report
    assert report["host"]["hostname"] and report["host"]["fftk_version"]

    # the board's own records: fftk run --json --scores, fetched with the run log
    for fmt in formats:
        rec = json.loads((fetched / "verify" / f"verify-{fmt}.json").read_text())
        assert rec["format"] == fmt and rec["n"] == N
        for p in rec["predictions"]:
            assert len(p["scores"]) == 10 and abs(sum(p["scores"]) - 1) < 1e-5
            assert p["confidence"] == max(p["scores"])
    assert json.loads((fetched / "run-tflite-int8.json").read_text())["n"] == 80

    # the board got the seeded subset that --limit 40 uses, as one .npz
    sent = load_inputs(board / "verify" / "images.npz", [f"class{k}" for k in range(10)])
    expected = load_inputs(val_images, sent.classes).subset(N)
    assert np.array_equal(np.stack(sent.images), np.stack(expected.images))
    assert np.array_equal(sent.labels, expected.labels)

    # the table, after the run's own summary line (which the verify records do not join)
    assert result.stdout.count("image(s), ") == 1
    lines = result.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| format"))
    assert "agree %" in lines[head] and "max |Δscore|" in lines[head] and "flag" in lines[head]
    rows = lines[head + 2:head + 2 + len(formats)]
    for fmt, line in zip(formats, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:4] == [fmt, str(N), "100.00", "0"] and cells[-1] == "ok", line
    assert f"verify: {fetched / 'verify.json'}" in result.stdout
    assert "[6/6] fetching" in result.stderr


@pytest.mark.slow
def test_threshold_flags_rows_and_strict_exits_1(verified, sshd, rpi4_dir, val_images,
                                                 tmp_path):
    board = verified[0]
    formats = ["tflite-int8", "onnx-fp32"]
    common = ("--remote-dir", board, "--run", "run", "--skip-install", "--threads", "1",
              "--input", val_images, "--formats", ",".join(formats), "--verify",
              "--verify-input", val_images, "--verify-images", "10", "--verify-threshold", "101")

    flagged = deploy(sshd, rpi4_dir, *common, "--results", tmp_path / "flagged")
    assert flagged.returncode == 0, flagged.stdout + flagged.stderr
    (fetched,) = (tmp_path / "flagged").iterdir()
    report = json.loads((fetched / "verify.json").read_text())
    assert report["flagged"] == formats and report["threshold_pct"] == 101
    assert all(r["flagged"] and r["agreement_pct"] == 100.0 for r in report["rows"])
    assert flagged.stdout.count("< 101%") == 2
    assert "warning: board and host agree on fewer than 101%" in flagged.stderr

    # strict, and over scp (no rsync on this side): the images still reach the board
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("ssh", "scp"):
        os.symlink(shutil.which(tool), tools / tool)
    strict = deploy(sshd, rpi4_dir, *common, "--results", tmp_path / "strict",
                    "--verify-strict", env=cli_env(PATH=str(tools)))
    out = f"exit {strict.returncode}\n{strict.stdout}\n{strict.stderr}"
    assert strict.returncode == 1, out
    last = screen_lines(strict.stderr)[-1]
    assert last.startswith("error: ") and "--verify-strict" in last, out
    assert "tflite-int8 (100.00%)" in last and "onnx-fp32 (100.00%)" in last
    assert "Traceback" not in strict.stderr
    (fetched,) = (tmp_path / "strict").iterdir()
    assert json.loads((fetched / "verify.json").read_text())["flagged"] == formats


def test_bad_verify_input_fails_before_connecting(sshd, rpi4_dir, tmp_path):
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b", "--verify",
                                 "--verify-input", tmp_path / "missing"))
    assert "missing" in line and "no such file or folder" in line
    (tmp_path / "empty").mkdir()
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b", "--verify",
                                 "--verify-input", tmp_path / "empty"))
    assert "no images" in line
    line = one_line_error(deploy(sshd, rpi4_dir, "--remote-dir", tmp_path / "b",
                                 "--verify-images", "5"))
    assert "--verify-images goes with --verify" in line
    assert not (tmp_path / "b").exists()


def test_prepare_writes_the_seeded_subset(tiny_bundle, val_images, tmp_path):
    images = parity.prepare(tiny_bundle, parity.VerifyOptions(val_images, 7, 95.0), tmp_path)
    assert images.npz == tmp_path / "verify" / "images.npz" and images.threshold == 95.0
    expected = load_inputs(val_images, [f"class{k}" for k in range(10)]).subset(7)
    assert images.names == expected.names and images.total == 80
    with np.load(images.npz) as data:
        assert np.array_equal(data["images"], np.stack(expected.images))
        assert list(data["classes"]) == [f"class{k}" for k in range(10)]
    with pytest.raises(FFTKError, match="--verify-input"):  # the demo set is CIFAR-10's
        parity.prepare(tiny_bundle, parity.VerifyOptions(), tmp_path / "demo")


# ------------------------------------------------------------------ comparison, by hand


def record(indices: list[int], scores: list[list[float]], error: float | None = 0.0,
           fmt: str = "tflite-int8") -> dict:
    return {"format": fmt, "error": error, "runtime": "litert 2.3.0",
            "predictions": [{"input": f"images.npz[{i}]", "index": k, "class": f"c{k}",
                             "confidence": max(s), "scores": s}
                            for i, (k, s) in enumerate(zip(indices, scores, strict=True))]}


def test_compare_identical_predictions():
    scores = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    row = parity.compare(record([0, 1, 0], scores), record([0, 1, 0], scores), 99.0)
    assert row["agreement_pct"] == 100.0 and row["max_abs_score_diff"] == 0.0
    assert row["n"] == 3 and not row["flagged"] and row["disagreements"] == []


def test_compare_a_disagreement_lowers_agreement_and_the_max_diff_is_the_largest():
    board = record([0, 1, 0, 1], [[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.3, 0.7]], 25.0)
    host = record([0, 1, 1, 1], [[0.85, 0.15], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]], 50.0)
    row = parity.compare(board, host, 99.0, names=["a.png", "b.png", "c.png", "d.png"])
    assert row["agreement_pct"] == 75.0 and row["flagged"]
    assert row["max_abs_score_diff"] == pytest.approx(0.15)
    assert row["disagreements"] == [{"input": "c.png", "board": "c0", "host": "c1"}]
    assert row["error_pct_board"] == 25.0 and row["error_pct_host"] == 50.0
    assert not parity.compare(board, host, 75.0)["flagged"]  # at the threshold is not below it


def test_compare_refuses_mismatched_records():
    one = record([0], [[0.6, 0.4]])
    with pytest.raises(FFTKError, match="1 image"):
        parity.compare(one, record([0, 0], [[0.6, 0.4], [0.6, 0.4]]), 99.0)
    old_board = record([0], [[0.6, 0.4]])
    del old_board["predictions"][0]["scores"]
    with pytest.raises(FFTKError, match="no scores"):
        parity.compare(old_board, one, 99.0)


def test_table_and_flagged_line():
    rows = [parity.compare(record([0, 1], [[0.9, 0.1], [0.1, 0.9]]),
                    record([0, 0], [[0.9, 0.1], [0.6, 0.4]]), 99.0),
            parity.not_on_host(record([0], [[1.0, 0.0]], fmt="edgetpu-int8"), "no Edge TPU here")]
    report = {"threshold_pct": 99.0, "rows": rows}
    text = parity.table(report).splitlines()
    assert text[0].startswith("| format") and len(text) == 4
    assert "50.00" in text[2] and "< 99%" in text[2]
    assert "edgetpu-int8" in text[3] and "not on host" in text[3] and "| -" in text[3]
    assert parity.flagged_line(report) == ("board and host agree on fewer than 99% of the "
                                    "predictions for tflite-int8 (50.00%)")
    assert parity.flagged_line({"threshold_pct": 99.0, "rows": rows[1:]}) is None


def test_run_result_keeps_scores_only_when_asked():
    result = RunResult(["x"], [1], [0.7], [1], ["a", "b"], "one-pass", "onnx-fp32",
                       "onnxruntime", "onnxruntime 1.0")
    assert "scores" not in result.to_json()["predictions"][0]
    result.scores = [[0.3, 0.7]]
    assert result.to_json()["predictions"][0]["scores"] == [0.3, 0.7]
