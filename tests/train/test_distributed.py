"""Data-parallel training on 2 gloo ranks over 127.0.0.1, on a few hundred real MNIST images:
equal to the single-process ghost-BatchNorm reference, written by rank 0 only, resumable at
another world size, and failing in one line (a dead rank, a busy port, differing arguments)."""

import json
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from fftk_cli import cli_env, fftk, one_line_error, screen_lines
from loopback import free_port

from fftoolkit.ff import chunk_schedule
from fftoolkit.models import create_model, load_checkpoint, load_spec
from fftoolkit.train import TrainConfig, evaluate_checkpoint, train

IMAGES = 256  # RUN_ARGS's --limit: the images one epoch trains, in 4 batches of 64
RUN_ARGS = ["--limit", "256", "--batch-size", "64", "--epochs", "1", "--no-augment",
            "--val-split", "10", "--threads", "1", "--seed", "1"]


@pytest.fixture(scope="module")
def mnist(shared_data):
    return str(shared_data / "mnist")


@pytest.fixture(scope="module")
def dist_run(mnist, tmp_path_factory):
    """`torchrun --standalone --nproc-per-node 2 -m fftoolkit train ...`: the run dir and output."""
    run = tmp_path_factory.mktemp("dist") / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "fftoolkit", "train", "ff_tiny_mnist", "--dataset", mnist, "--out", str(run),
         *RUN_ARGS], capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return run, proc


def reference(mnist, out, ghost_batches):
    """The same run on one process, BatchNorm seeing each batch as `ghost_batches` parts."""
    return load_checkpoint(train(TrainConfig(
        model="ff_tiny_mnist", dataset=mnist, out=str(out), limit=256, batch_size=64, epochs=1,
        augment=False, val_split=10, threads=1, seed=1, ghost_batches=ghost_batches),
        progress=False))


def max_difference(a, b):
    """Largest difference of the trained parameters (BatchNorm's running statistics are
    buffers: each rank keeps its own, the checkpoint their mean) and of the Adam states."""
    params = [k for k in a.model if not k.endswith(("running_mean", "running_var", "_tracked"))]
    diffs = [float((a.model[k] - b.model[k]).abs().max()) for k in params]
    for oa, ob in zip(a.trainer["optimizers"], b.trainer["optimizers"], strict=True):
        for sa, sb in zip(oa["state"].values(), ob["state"].values(), strict=True):
            diffs += [float((sa[k] - sb[k]).abs().max()) for k in ("exp_avg", "exp_avg_sq")]
    return max(diffs)


def test_data_parallel_equals_ghost_batchnorm_single_process(dist_run, mnist, tmp_path):
    run, _ = dist_run
    dist = load_checkpoint(run / "last.pt")
    ghost = reference(mnist, tmp_path / "ghost", ghost_batches=2)
    assert dist.trainer["step"] == ghost.trainer["step"] == 4
    assert max_difference(dist, ghost) < 1e-5
    # the tolerance is far below what per-rank BatchNorm changes: one BN batch of 64 differs
    assert max_difference(dist, reference(mnist, tmp_path / "plain", ghost_batches=1)) > 1e-3
    assert dist.metrics[0]["loss_per_block"] == pytest.approx(
        ghost.metrics[0]["loss_per_block"], abs=1e-4)


def test_rank_zero_alone_writes_and_prints(dist_run):
    run, proc = dist_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    assert rows[0]["world_size"] == 2 and rows[0]["images_per_s"] > 0
    assert sorted(p.name for p in run.iterdir()) == ["last.pt", "metrics.jsonl"]
    out = screen_lines(proc.stdout) + screen_lines(proc.stderr)
    assert sum(line.startswith("epoch 1/1  loss") for line in out) == 1, out
    assert sum(line.startswith("checkpoint: ") for line in out) == 1, out


def test_data_mode_sends_each_step_s_gradients_and_the_buffers(dist_run):
    """Each rank contributes every chunk's gradients and the head's to an all-reduce per step,
    and the BatchNorm buffers once at the epoch's end; both ranks record their peak RSS."""
    run, _ = dist_run
    ckpt = load_checkpoint(run / "last.pt")
    net = create_model(load_spec("ff_tiny_mnist"))
    units, head = net.units, sum(p.numel() for p in net.head.parameters())
    grads = sum(head + sum(p.numel() for chunk in chunk_schedule(
        len(units), step, ckpt.train_args["routine"]) for i in chunk.blocks
        for p in units[i].parameters()) for step in range(ckpt.trainer["step"]))
    buffers = sum(b.numel() for b in net.buffers() if b.is_floating_point())
    assert all(p.dtype == torch.float32 for p in net.parameters())  # 4 bytes an element
    row = ckpt.metrics[0]
    assert row["sent_bytes_per_image"] == pytest.approx(
        [4 * (grads + buffers) / IMAGES] * 2, abs=0.05)
    assert len(row["ru_maxrss_mb_per_rank"]) == 2 and min(row["ru_maxrss_mb_per_rank"]) > 0


def test_resume_a_distributed_run_on_one_process(dist_run, mnist, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dist_run[0], run)
    ckpt = train(TrainConfig(model="ff_tiny_mnist", out=str(run), epochs=2, resume=True),
                 progress=False)
    resumed = load_checkpoint(ckpt)
    assert [m["world_size"] for m in resumed.metrics] == [2, 1]
    assert resumed.metrics[1]["sent_bytes_per_image"] == [0.0]  # one process sends nothing
    assert len(resumed.metrics[1]["ru_maxrss_mb_per_rank"]) == 1
    assert resumed.trainer["step"] == 8
    assert evaluate_checkpoint(ckpt, mnist, split="test", limit=100).n == 100


def test_resume_a_single_process_run_on_two_ranks(mnist, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(model="ff_tiny_mnist", dataset=mnist, out=str(run), limit=256,
                      batch_size=64, epochs=1, augment=False, val_split=10, threads=1),
          progress=False)
    result = fftk("train", "ff_tiny_mnist", "--out", run, "--epochs", "2", "--resume",
                  "--nproc", "2", timeout=300)
    assert result.returncode == 0, result.stderr
    assert [m["world_size"] for m in load_checkpoint(run / "last.pt").metrics] == [1, 2]


def test_a_dead_rank_ends_the_run_in_one_line(mnist, tmp_path):
    run = tmp_path / "run"
    # rank 1 dies (os._exit) after the epoch's 4 steps, while rank 0 waits for it to add up;
    # a launcher that waited on the dead rank forever would hit the timeout and fail the test
    result = fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", run, *RUN_ARGS,
                  "--nproc", "2", env=cli_env(FFTK_TEST_RANK_EXIT="1:4"), timeout=120)
    one_line_error(result, "rank 1 exited with code 1", "the other ranks were stopped")
    assert not (run / "last.pt").exists()


def test_a_busy_rendezvous_port_is_one_line(mnist, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", tmp_path / "run",
                      "--nproc", "2", "--rdzv-port", port)
    one_line_error(result, f"--rdzv-port {port}", "busy")


def test_ranks_started_with_different_arguments_stop_in_one_line(mnist, tmp_path):
    """Two ranks as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT), --lr apart."""
    port = str(free_port())
    procs = [subprocess.Popen(
        [sys.executable, "-m", "fftoolkit", "train", "ff_tiny_mnist", "--dataset", mnist,
         "--out", str(tmp_path / "run"), *RUN_ARGS, "--lr", lr],
        env=cli_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                    MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank, lr in ((0, "0.001"), (1, "0.002"))]
    outputs = [p.communicate(timeout=120) for p in procs]
    results = [subprocess.CompletedProcess(p.args, p.returncode, *o)
               for p, o in zip(procs, outputs, strict=True)]
    one_line_error(results[0], "different arguments", "--lr", "rank 1")
    assert results[1].returncode == 2 and results[1].stderr == ""
    assert not (tmp_path / "run").exists()
