"""The FF families: each algorithm a spec may name has every part, in every table."""

import numpy as np

from fftoolkit.export.graphs import GRAPH_BUILDERS
from fftoolkit.ff.family import FAMILIES, family_of
from fftoolkit.models import create_model
from fftoolkit.models.nets import NETWORKS
from fftoolkit.models.spec import ALGORITHMS


def test_every_algorithm_has_a_family_and_every_network_kind_its_tables():
    """A spec may name exactly the registered families; each trains a network kind that the
    models and the exporter know."""
    assert set(FAMILIES) == set(ALGORITHMS)
    assert set(ALGORITHMS.values()) <= set(NETWORKS) == set(GRAPH_BUILDERS)


def test_the_family_builds_what_the_trainer_and_the_reference_use():
    for name in ("ff_tiny", "mnist_mlp"):
        net = create_model(name)
        family = family_of(net.spec)
        assert family.name == net.spec.algorithm
        for loss in family.losses.values():
            assert hasattr(family.objective(net, loss), "multi_pass_mistakes")
        assert callable(family.predictor(net))


def test_a_new_variant_is_one_family_and_one_algorithms_line(tmp_path, monkeypatch):
    """The issue's promise, exercised: a variant with its own block loss (mean-squared
    channel goodness against a one-hot target, made up for this test, the one entry of its
    family's loss table) trains, exports and runs through the runtime with nothing else
    touched than its Family and its ALGORITHMS line."""
    import torch.nn.functional as F
    from PIL import Image

    from fftoolkit.export import ExportOptions, export_bundle
    from fftoolkit.ff.family import Family, register_family
    from fftoolkit.ff.objectives import ImprovedObjective
    from fftoolkit.ff.predict import ImprovedPredictor
    from fftoolkit.runtime.runner import classify, open_bundle
    from fftoolkit.train import TrainConfig, train

    def squared(g, labels):  # g: the channel-group goodness (N, J)
        return F.mse_loss(g.softmax(1), F.one_hot(labels, g.shape[1]).float())

    monkeypatch.setitem(ALGORITHMS, "improved-squared", "channel-groups")
    monkeypatch.setitem(FAMILIES, "improved-squared", FAMILIES["improved"])  # restored after
    register_family(Family("improved-squared", ImprovedObjective, ImprovedPredictor,
                           {"squared": squared}, channels_last=True, pixel_statistics=True))
    spec = tmp_path / "squared.yaml"
    spec.write_text("name: ff_squared\nalgorithm: improved-squared\ninput: [3, 16, 16]\n"
                    "num_classes: 10\nblocks:\n  - {channels: 20, kernel: 3, pool: true}\n"
                    "  - {channels: 20, kernel: 3}\n  - {channels: 20, kernel: 3}\n")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(10):
            folder = tmp_path / "tree" / split / f"c{k}"
            folder.mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png")
    tree = tmp_path / "tree"
    ckpt = train(TrainConfig(model=str(spec), dataset=str(tree), out=str(tmp_path / "run"),
                             epochs=1, batch_size=8, device="cpu", threads=1), progress=False)
    bundle = tmp_path / "bundle"
    export_bundle(ckpt, bundle, ExportOptions(target="onnx", quantize="none", eval_samples=0),
                  progress=False)
    loaded = open_bundle(bundle, backend="onnxruntime", precision="fp32")
    assert loaded.manifest.algorithm == "improved-squared"
    from fftoolkit.runtime.images import Inputs

    images = Inputs([np.zeros((16, 16, 3), np.uint8)] * 2, ["a", "b"], np.array([0, 1]),
                    loaded.manifest.classes)
    for mode in ("one-pass", "multi-pass"):
        assert classify(loaded, images, mode).n == 2
