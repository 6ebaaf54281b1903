"""Blocks mode (`--parallel blocks`, FF's block pipeline) on 2 gloo ranks over 127.0.0.1, on a
few hundred real MNIST images: equal to one process running the same cut chunk schedule,
nothing sent backward, every block trained, resumable (distributed and on one process), and
the mistakes it refuses in one line."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from fftk_cli import cli_env, fftk, one_line_error
from test_distributed import IMAGES, RUN_ARGS, free_port, max_difference

from fftoolkit.errors import FFTKError
from fftoolkit.ff import stage_blocks
from fftoolkit.models import block_shapes, create_model, load_checkpoint, load_spec
from fftoolkit.train import TrainConfig, evaluate_checkpoint, train
from fftoolkit.train.distributed import World
from fftoolkit.train.pipeline import HEADER, MESSAGE_LOG_ENV, check_blocks, check_resume

BLOCKS = ["--nproc", "2", "--parallel", "blocks"]


@pytest.fixture(scope="module")
def mnist(shared_data):
    return str(shared_data / "mnist")


@pytest.fixture(scope="module")
def blocks_run(mnist, tmp_path_factory):
    """`fftk train ... --nproc 2 --parallel blocks`: the run dir and each rank's messages."""
    root = tmp_path_factory.mktemp("blocks")
    (root / "messages").mkdir()
    result = fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", root / "run",
                  *RUN_ARGS, *BLOCKS, env=cli_env(**{MESSAGE_LOG_ENV: str(root / "messages")}),
                  timeout=300)
    assert result.returncode == 0, result.stderr
    messages = [json.loads((root / "messages" / f"rank{r}.json").read_text()) for r in (0, 1)]
    return root / "run", messages


def reference(mnist, out, stages, epochs=1):
    """One process, chunks cut as for `stages` block ranks (1: the plain chunked routine)."""
    return load_checkpoint(train(TrainConfig(
        model="ff_tiny_mnist", dataset=mnist, out=str(out), limit=256, batch_size=64,
        epochs=epochs, augment=False, val_split=10, threads=1, seed=1, pipeline_stages=stages),
        progress=False))


def head_difference(a, b):
    return max(float((a.model[k] - b.model[k]).abs().max()) for k in a.model
               if k.startswith("head.") and a.model[k].is_floating_point())


def test_blocks_mode_equals_the_cut_schedule_on_one_process(blocks_run, mnist, tmp_path):
    """No staleness: 2 pipelined ranks compute what one process does with the same cuts."""
    run, _ = blocks_run
    blocks = load_checkpoint(run / "last.pt")
    cut = reference(mnist, tmp_path / "cut", stages=2)
    assert blocks.trainer["step"] == cut.trainer["step"] == 4
    assert max_difference(blocks, cut) < 1e-6  # BatchNorm's running stats included below
    assert max(float((blocks.model[k] - cut.model[k]).abs().max()) for k in blocks.model
               if blocks.model[k].is_floating_point()) < 1e-6
    assert head_difference(blocks, cut) < 1e-6
    assert blocks.metrics[0]["loss_per_block"] == pytest.approx(
        cut.metrics[0]["loss_per_block"], abs=1e-5)
    # the cut is a real change: the odd steps' straddling chunk (1, 2) trains as (1)(2)
    assert max_difference(blocks, reference(mnist, tmp_path / "plain", stages=1)) > 1e-4


def test_blocks_mode_sends_nothing_backward_and_trains_every_block(blocks_run):
    run, messages = blocks_run
    # one message (labels + block 1's output) per batch, rank 0 to rank 1 only
    assert messages[0] == {"sent": {"0->1": 4}, "received": {}}
    assert messages[1] == {"sent": {}, "received": {"0->1": 4}}
    ckpt = load_checkpoint(run / "last.pt")
    torch.manual_seed(1)
    initial = create_model(load_spec("ff_tiny_mnist")).state_dict()
    for name, value in ckpt.model.items():
        if name.endswith(".weight"):
            assert not torch.equal(value, initial[name]), f"{name} was not trained"
    # rank 0 gathered every block's Adam state (rank 1's blocks and the head too)
    for state in [*ckpt.trainer["optimizers"], ckpt.trainer["head_optimizer"]]:
        assert [int(s["step"]) for s in state["state"].values()] \
            and all(int(s["step"]) == 4 for s in state["state"].values())
    row = ckpt.metrics[0]
    assert row["world_size"] == row["pipeline_stages"] == 2
    assert row["images_per_s"] > 0 and row["train_one_pass_error"] < 100


def test_blocks_mode_sends_the_first_stage_s_activations_and_labels(blocks_run):
    """Per image, rank 0 sends its last block's output (autocast's dtype: bf16 or fp32) and
    an int64 label, plus a header per message; the last rank sends nothing."""
    run, messages = blocks_run
    ckpt = load_checkpoint(run / "last.pt")
    spec = load_spec("ff_tiny_mnist")
    c, h, w = block_shapes(spec)[stage_blocks(len(spec.blocks), 2, 0)[-1]]
    activation = c * h * w * (2 if ckpt.train_args["precision"] == "bf16" else 4)
    headers = messages[0]["sent"]["0->1"] * HEADER * 8
    row = ckpt.metrics[0]
    assert row["sent_bytes_per_image"] == pytest.approx(
        [activation + 8 + headers / IMAGES, 0.0], abs=0.05)
    assert len(row["ru_maxrss_mb_per_rank"]) == 2 and min(row["ru_maxrss_mb_per_rank"]) > 0


def test_resume_a_blocks_run_on_two_ranks_and_on_one(blocks_run, mnist, tmp_path):
    """The gathered checkpoint continues in blocks mode exactly as one process would, and
    loads in a single-process resume and in fftk eval."""
    run = tmp_path / "run"
    shutil.copytree(blocks_run[0], run)
    result = fftk("train", "ff_tiny_mnist", "--out", run, "--epochs", "2", "--resume",
                  *BLOCKS, timeout=300)
    assert result.returncode == 0, result.stderr
    resumed = load_checkpoint(run / "last.pt")
    assert [m["pipeline_stages"] for m in resumed.metrics] == [2, 2]
    cut = reference(mnist, tmp_path / "cut", stages=2, epochs=2)
    assert resumed.trainer["step"] == 8
    assert max_difference(resumed, cut) < 1e-5
    alone = tmp_path / "alone"
    shutil.copytree(blocks_run[0], alone)
    ckpt = train(TrainConfig(model="ff_tiny_mnist", out=str(alone), epochs=2, resume=True),
                 progress=False)
    assert [m["world_size"] for m in load_checkpoint(ckpt).metrics] == [2, 1]
    assert evaluate_checkpoint(run / "last.pt", mnist, split="test", limit=100).n == 100


def test_more_ranks_than_blocks_is_one_line(mnist, tmp_path):
    spec = tmp_path / "two_blocks.yaml"
    spec.write_text("name: two_blocks\nalgorithm: improved\ninput: [1, 28, 28]\n"
                    "num_classes: 10\nblocks:\n  - {channels: 10, kernel: 3, pool: true}\n"
                    "  - {channels: 10, kernel: 3}\n")
    result = fftk("train", spec, "--dataset", mnist, "--out", tmp_path / "run", *RUN_ARGS,
                  "--nproc", "3", "--parallel", "blocks", timeout=120)
    one_line_error(result, "3 ranks but two_blocks has 2 blocks")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_what_blocks_mode_refuses():
    two = World(rank=0, size=2)
    with pytest.raises(FFTKError, match="neutral-label pass"):
        check_blocks(load_spec("mnist_mlp"), two, 1, 1)
    with pytest.raises(FFTKError, match="5 ranks but ff_tiny_mnist has 4 blocks"):
        check_blocks(load_spec("ff_tiny_mnist"), World(rank=0, size=5), 1, 1)
    with pytest.raises(FFTKError, match="single-process reference"):
        check_blocks(load_spec("ff_tiny_mnist"), two, 2, 1)
    with pytest.raises(FFTKError, match="--ghost-batches"):
        check_blocks(load_spec("ff_tiny_mnist"), World(), 2, 2)
    rows = [{"world_size": 2, "pipeline_stages": 2}]
    check_resume(rows, two)  # the same world size
    check_resume(rows, World())  # one process reads the whole checkpoint
    check_resume([{"world_size": 3}], two)  # a data-mode run may continue in blocks mode
    with pytest.raises(FFTKError, match="blocks mode on 2 ranks; resume it on 2 ranks"):
        check_resume(rows, World(rank=0, size=3))



def test_two_nodes_on_one_machine(blocks_run, mnist, tmp_path):
    """Two launcher invocations (`torchrun --nnodes 2 --node-rank R`, one rank each, rendezvous
    on 127.0.0.1) train the same pipeline as one launcher with two ranks."""
    port = str(free_port())
    procs = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(r),
         "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
         "-m", "fftoolkit", "train", "ff_tiny_mnist", "--dataset", mnist,
         "--out", str(tmp_path / "run"), *RUN_ARGS, "--parallel", "blocks"],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in (0, 1)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    two_nodes = load_checkpoint(tmp_path / "run" / "last.pt")
    assert max_difference(two_nodes, load_checkpoint(blocks_run[0] / "last.pt")) < 1e-6
