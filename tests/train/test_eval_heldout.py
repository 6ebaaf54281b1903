"""The held-out figures are measured as `fftk eval CKPT --dataset DIR --split test --json` on a
tree holding only `test/<class>/NNNN.jpg`: that exact call must work."""

import json
import tarfile

import torch
from fftk_cli import fftk, one_line_error

from fftoolkit.models import Checkpoint, create_model, save_checkpoint


def test_eval_on_a_test_only_jpeg_tree(shared_data, tmp_path):
    root = tmp_path / "heldout"
    with tarfile.open(shared_data / "cifar10" / "cifar10-train-jpeg.tar.gz") as tar:
        for info in tar:
            parts = info.name.split("/")
            if info.isfile() and len(parts) == 3 and parts[2] in ("0000.jpg", "0001.jpg"):
                target = root / "test" / parts[1] / parts[2]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(info).read())
    torch.manual_seed(0)
    net = create_model("ff_tiny").eval()
    classes = sorted(p.name for p in (root / "test").iterdir())
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, Checkpoint(spec=net.spec.to_dict(), model=net.state_dict(),
                                     classes=classes,
                                     normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
                                     metrics=[]))
    out = fftk("eval", ckpt, "--dataset", root, "--split", "test", "--inference", "both", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) == {"one_pass_error", "multi_pass_error", "n", "seconds"}
    assert result["n"] == 20 and 0 <= result["one_pass_error"] <= 100
    # the same tree has no training split: asking for val says so in one line
    one_line_error(fftk("eval", ckpt, "--dataset", root, "--split", "val"), "no train split")
