"""`fftk run --backend c` and the c-int8 bench format: the bundle's C engine compiled for this
host on first use (cached), fed int8 images quantized with the manifest's input parameters.

On the shipped FF_tiny (`shipped_tiny_bundle`: exported with --target all --quantize int8,
calibrated on 150 bundled demo images) and 200 other demo images: the C engine's int8 logits
and goodness sums equal TensorFlow Lite Micro's (the reference for int8 semantics), and its
classes agree with tflite-int8 on LiteRT (XNNPACK rounds differently) on >= 98 % of images in
both inference modes. Skipped, saying why, where there is no C compiler.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import cli_env, fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.runtime import c_backend
from fftoolkit.runtime.images import Inputs
from fftoolkit.runtime.manifest import load_manifest
from fftoolkit.runtime.quant import quantize
from fftoolkit.runtime.runner import Loaded, open_bundle

N_IMAGES = 200


@pytest.fixture(scope="module")
def held() -> Inputs:
    """200 bundled demo images that calibration never saw."""
    from fftoolkit.demo import split_demo_set

    _, rest, _ = split_demo_set(15)
    return Inputs(rest.images[:N_IMAGES], rest.names[:N_IMAGES], rest.labels[:N_IMAGES],
                  rest.classes)


@pytest.fixture(scope="module")
def c_loaded(shipped_tiny_bundle: Path) -> Loaded:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on PATH: the C engine cannot be built here")
    return open_bundle(shipped_tiny_bundle, backend="c")


def test_c_backend_agrees_with_tflite_int8(c_loaded: Loaded, shipped_tiny_bundle: Path,
                                           held: Inputs) -> None:
    assert (c_loaded.fmt.name, c_loaded.backend, c_loaded.graph.info.runtime) == (
        "c-int8", "c", "fftk-c")
    litert = open_bundle(shipped_tiny_bundle, backend="litert")
    c = c_loaded.predictor.scores_both(c_loaded.preprocess(held.images))
    lite = litert.predictor.scores_both(litert.preprocess(held.images))
    for mode in ("one-pass", "multi-pass"):
        agree = (c[mode].argmax(1) == lite[mode].argmax(1)).mean()
        assert agree >= 0.98, (mode, agree)
        error = (c[mode].argmax(1) != held.labels).mean()
        assert error < 0.3, (mode, error)  # FF_tiny: ~20 % on CIFAR-10


def test_c_backend_is_bit_exact_with_tflite_micro(c_loaded: Loaded, shipped_tiny_bundle: Path,
                                                  held: Inputs) -> None:
    """The runtime's quantized input, through the cached -O3 build, gives TFLM's int8 logits
    and the integer goodness sums of TFLM's int8 features; the float goodness is eq. 2 on
    those features (what tflite-int8 computes from its dequantized outputs)."""
    from fftoolkit.runtime.goodness import goodness_from_features
    from fftoolkit.runtime.quant import dequantize

    tflm = pytest.importorskip("tflite_micro", reason="tflite-micro (the reference) missing")
    manifest = load_manifest(shipped_tiny_bundle)
    fused = manifest.artifacts["c-int8"].fused
    q = quantize(c_loaded.preprocess(held.images[:40]), fused.inputs[0])
    logits, sums = c_loaded.graph.engine(q)
    interp = tflm.runtime.Interpreter.from_file(
        str(shipped_tiny_bundle / manifest.artifacts["tflite-int8"].fused.file),
        arena_size=4 << 20)
    ref_logits, ref_sums, ref_good = [], [], []
    for image in q:
        interp.set_input(image[None], 0)
        interp.invoke()
        ref_logits.append(interp.get_output(0)[0])
        feats = [interp.get_output(k) for k in (1, 2)]
        ref_sums.append(np.concatenate([
            np.square(f[0].astype(np.int64) - int(t.quant["zero_point"])).reshape(
                -1, 10, f.shape[-1] // 10).sum(axis=(0, 2))
            for f, t in zip(feats, fused.outputs[1:], strict=True)]))
        a, b = (dequantize(f, t) for f, t in zip(feats, fused.outputs[1:], strict=True))
        ref_good.append(goodness_from_features(a, b, 10, "NHWC")[0])
    np.testing.assert_array_equal(logits, np.asarray(ref_logits))
    np.testing.assert_array_equal(sums, np.asarray(ref_sums))
    _, good = c_loaded.graph(c_loaded.preprocess(held.images[:40]))
    np.testing.assert_allclose(good, np.asarray(ref_good), rtol=1e-5)


def test_fftk_run_backend_c(c_loaded: Loaded, shipped_tiny_bundle: Path, held: Inputs,
                            tmp_path: Path) -> None:
    """The CLI path, from the cache the module fixture filled: same classes as the library."""
    import json

    np.savez(tmp_path / "x.npz", images=np.stack(held.images[:20]))
    proc = fftk("run", shipped_tiny_bundle, tmp_path / "x.npz", "--backend", "c", "--json",
                "--inference", "multi-pass")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["format"], out["backend"]) == ("c-int8", "c")
    scores = c_loaded.predictor.scores(c_loaded.preprocess(held.images[:20]), "multi-pass")
    assert [p["index"] for p in out["predictions"]] == scores.argmax(1).tolist()


def test_a_changed_c_file_is_refused_by_run(shipped_tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(shipped_tiny_bundle, tmp_path / "bundle"))
    kernel = bundle / "c" / "fftk_conv2d_s8.c"
    kernel.write_text(kernel.read_text() + "/* changed after export */\n")
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    one_line_error(fftk("run", bundle, tmp_path / "one.npy", "--backend", "c"),
                   "c/fftk_conv2d_s8.c", "sha256 does not match")


def test_no_compiler_is_one_line(shipped_tiny_bundle: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "empty-bin").mkdir()
    env = cli_env(PATH=str(tmp_path / "empty-bin"), FFTK_C_CACHE=str(tmp_path / "cache"))
    one_line_error(fftk("run", shipped_tiny_bundle, tmp_path / "one.npy", "--backend", "c",
                        env=env), "needs a C compiler (cc) on PATH")
    assert not (tmp_path / "cache").exists()


def test_bench_has_a_c_int8_row_next_to_tflite_int8(c_loaded: Loaded, shipped_tiny_bundle: Path,
                                                    held: Inputs, tmp_path: Path) -> None:
    """Each format in its own worker process, as `fftk bench` runs them (a short run)."""
    from fftoolkit.bench.bench import BenchOptions, run_bench

    few = Inputs(held.images[:30], held.names[:30], held.labels[:30], held.classes)
    opts = BenchOptions(formats=["tflite-int8", "c-int8"], runs=5, warmup=1, e2e_runs=5,
                        throughput_images=16, probe=False, log_dir=tmp_path / "logs")
    report = run_bench(shipped_tiny_bundle, few, opts)
    assert not report.failures, report.failures
    rows = {r["format"]: r for r in report.records}
    c = rows["c-int8"]
    assert (c["backend"], c["runtime"], c["precision"]) == ("c", "fftk-c", "int8")
    assert c["p50_ms"] > 0 and c["n_eval"] == 30 and c["size_bytes"] > 0
    assert abs(c["error_one_pass"] - rows["tflite-int8"]["error_one_pass"]) <= 100 * 2 / 30
    assert "| c-int8 " in report.summary() and "| tflite-int8 " in report.summary()


def test_one_build_per_sources_under_concurrency(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Builders racing for the same sources wait on one lock and share one build; a compile
    error is one line naming the sources and leaves nothing in the cache."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on PATH")
    monkeypatch.setenv(c_backend.CACHE_ENV, str(tmp_path / "cache"))
    sources = {"main.c": b"int main(void) { return 0; }\n"}
    built: list[Path] = []
    threads = [threading.Thread(target=lambda: built.append(
        c_backend.build_engine(sources, "test"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(built)) == 1 and built[0].is_file()
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == [
        built[0].parent.name]
    with pytest.raises(FFTKError, match=r"^broken/c: .*cannot build the C engine: .*error"):
        c_backend.build_engine({"main.c": b"int main(void) { return x; }\n"}, "broken/c")
    assert len([p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]) == 1
