"""The FF families: each algorithm a spec may name has every part, in every table."""

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
        assert hasattr(family.objective(net), "multi_pass_mistakes")
        assert callable(family.predictor(net))
