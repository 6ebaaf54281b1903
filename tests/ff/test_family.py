"""The FF families: each algorithm a spec may name has every part, in every table."""

from fftoolkit.export.graphs import GRAPH_BUILDERS
from fftoolkit.ff.family import FAMILIES, family_of
from fftoolkit.models import create_model
from fftoolkit.models.nets import NETWORKS
from fftoolkit.runtime.manifest import ALGORITHMS


def test_every_family_has_a_network_graphs_and_a_manifest_name():
    assert set(FAMILIES) == set(NETWORKS) == set(GRAPH_BUILDERS) == set(ALGORITHMS)


def test_the_family_builds_what_the_trainer_and_the_reference_use():
    for name in ("ff_tiny", "mnist_mlp"):
        net = create_model(name)
        family = family_of(net.spec)
        assert family.name == net.spec.algorithm
        assert hasattr(family.objective(net), "multi_pass_mistakes")
        assert callable(family.predictor(net))
