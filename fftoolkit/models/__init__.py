"""Model specs, the zoo registry, the networks, their parameter/MAC counts, checkpoint files."""

from fftoolkit.models.checkpoint import (
    Checkpoint,
    checkpoint_from_bytes,
    export_weights,
    load_checkpoint,
    save_checkpoint,
)
from fftoolkit.models.counts import deployed_params, macs_per_image, table3_params
from fftoolkit.models.nets import FFBlock, ImprovedFFNet, OnePassHead, OriginalFFNet, block_shapes
from fftoolkit.models.registry import (
    build_network_from_state,
    create_model,
    list_models,
    load_spec,
    weights_dir,
    zoo_dir,
)
from fftoolkit.models.spec import ModelSpec, spec_from_dict

__all__ = [
    "Checkpoint", "FFBlock", "ImprovedFFNet", "ModelSpec", "OnePassHead", "OriginalFFNet",
    "block_shapes", "build_network_from_state", "checkpoint_from_bytes", "export_weights",
    "load_checkpoint", "save_checkpoint",
    "create_model", "deployed_params", "list_models", "load_spec", "macs_per_image",
    "spec_from_dict", "table3_params", "weights_dir", "zoo_dir",
]
