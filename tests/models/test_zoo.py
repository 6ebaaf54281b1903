import json

import pytest
import torch
from click.testing import CliRunner

from fftoolkit.cli import cli
from fftoolkit.errors import FFTKError
from fftoolkit.models import (
    create_model,
    deployed_params,
    list_models,
    load_spec,
    macs_per_image,
    spec_from_dict,
    table3_params,
)

# Paper Table III, exactly.
TABLE_III = {"ff_tiny": 164_706, "ff_small": 239_266, "ff_medium": 484_506,
             "ff_optimal": 754_386, "ff_deep": 4_131_346}


@pytest.mark.parametrize("name,params", TABLE_III.items())
def test_table3_counts_exact(name, params):
    spec = load_spec(name)
    assert table3_params(spec) == params
    # the exported network has no label embedding: 10 x 32 x 32 fewer parameters
    assert deployed_params(spec) == params - 10 * 32 * 32


def test_ff_tiny_macs_match_spec():
    assert macs_per_image(load_spec("ff_tiny")) == 14_918_900


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_builds_and_runs(name):
    spec = load_spec(name)
    net = create_model(name).eval()
    feats = net.forward_features(torch.zeros(2, *spec.input))
    assert len(feats) == len(net.units)
    assert sum(p.numel() for p in net.parameters()) == deployed_params(spec)


def test_models_cli_json_lists_both_counts():
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["ff_tiny"]["params"] == 164_706
    assert rows["ff_tiny"]["params_deployed"] == 154_466
    assert set(TABLE_III) <= set(rows)


def test_unknown_model_suggests_a_name():
    with pytest.raises(FFTKError, match="did you mean 'ff_tiny'"):
        load_spec("ff_tinyy")


BASE = {"name": "x", "algorithm": "improved", "input": [3, 32, 32], "num_classes": 10,
        "blocks": [{"channels": 20, "kernel": 3}, {"channels": 20, "kernel": 3}]}


@pytest.mark.parametrize("change,message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"blocks": [{"channels": 25, "kernel": 3}, {"channels": 20, "kernel": 3}]},
     "blocks\\[0\\].channels' = 25 is not divisible"),
    ({"blocks": [{"channels": 20, "kernel": 3, "stride": 2}, {"channels": 20, "kernel": 3}]},
     "unknown key 'blocks\\[0\\].stride'"),
    ({"blocks": [{"channels": 20}, {"channels": 20, "kernel": 3}]},
     "needs 'channels' and 'kernel'"),
    ({"input": [3, 4, 4], "blocks": [{"channels": 20, "kernel": 3, "pool": True},
                                     {"channels": 20, "kernel": 5}]},
     "blocks\\[1\\].kernel' shrinks"),
    ({"train": {"routine": "sideways"}}, "train.routine"),
])
def test_spec_validation_names_the_key(change, message):
    with pytest.raises(FFTKError, match=message):
        spec_from_dict({**BASE, **change}, source="my.yaml")


def test_user_spec_file_is_accepted_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nalgorithm: improved\ninput: [1, 16, 16]\nnum_classes: 2\n"
                    "blocks:\n  - {channels: 4, kernel: 3, pool: true}\n"
                    "  - {channels: 4, kernel: 3}\n")
    net = create_model(str(path))
    assert net.spec.name == "mine" and len(net.blocks) == 2


def test_spec_round_trips_through_dict():
    spec = load_spec("mnist_cnn")
    assert spec_from_dict(spec.to_dict()) == spec
