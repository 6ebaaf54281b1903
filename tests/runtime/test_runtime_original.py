"""Original-FF bundles: real multi-pass (J label overlays, batched). The runner's numpy
overlays on per-block files must give what the fused graph (overlays in-graph) and the torch
reference give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fftoolkit.reference  # noqa: F401  (registers the torch-fp32 graph opener)
from fftoolkit.runtime.runner import open_bundle


def _scores(bundle: Path, fmt: str, per_block: bool, n: int = 12) -> dict[str, np.ndarray]:
    run = open_bundle(bundle, fmt=fmt, per_block=per_block)
    c, h, w = run.manifest.input_shape
    images = list(np.random.default_rng(0).integers(0, 256, (n, h, w, c), dtype=np.uint8))
    x = run.preprocess(images)
    return {mode: run.predictor.scores(x, mode) for mode in ("one-pass", "multi-pass")}


CASES = [("mlp_bundle", "onnx-fp32"), ("mlp_bundle", "tflite-fp32"),
         ("fourier_bundle", "onnx-fp32")]


@pytest.mark.parametrize("bundle_name,fmt", CASES)
def test_fused_overlays_in_graph_match_reference(bundle_name: str, fmt: str,
                                                 request: pytest.FixtureRequest) -> None:
    bundle = request.getfixturevalue(bundle_name)
    ref, fused = _scores(bundle, "torch-fp32", False), _scores(bundle, fmt, False)
    for mode in ref:
        assert ref[mode].shape == (12, 10)
        np.testing.assert_allclose(fused[mode], ref[mode], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["multi-pass", "one-pass"])
@pytest.mark.parametrize("bundle_name,fmt", CASES)
def test_runner_overlays_on_block_files_match_reference(bundle_name: str, fmt: str, mode: str,
                                                        request: pytest.FixtureRequest) -> None:
    bundle = request.getfixturevalue(bundle_name)
    ref, chained = _scores(bundle, "torch-fp32", False), _scores(bundle, fmt, True)
    np.testing.assert_allclose(chained[mode], ref[mode], rtol=1e-4, atol=1e-5)


def test_multi_pass_runs_one_pass_per_label(mlp_bundle: Path) -> None:
    """Per-block multi-pass feeds J*N overlaid samples; one-pass feeds N neutral ones."""
    run = open_bundle(mlp_bundle, fmt="onnx-fp32", per_block=True)
    seen: list[int] = []
    graph = run.predictor.graph
    run.predictor.graph = lambda x, need: (seen.append(len(x)), graph(x, need))[1]
    run.predictor.graph.info = graph.info
    x = run.preprocess([np.zeros((12, 12, 1), np.uint8)] * 3)
    run.predictor.scores(x, "one-pass")
    run.predictor.scores(x, "multi-pass")
    assert seen == [3, 30]
