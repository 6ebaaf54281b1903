"""The generated C engine is bit-exact with TensorFlow Lite Micro on real images.

For the shipped FF_tiny (CIFAR-10, the bundled demo set) and FF_tiny_mnist (real MNIST): the
int8 model is exported, its C engine generated and compiled with `cc -O2`, and 200 images run
through both. The int8 logits must be equal on every image; the C goodness (integer sums of
(q - zero_point)^2 per class channel group) must equal the same sums over the int8 feature
tensors TFLM outputs (the int8 model's own outputs, so no variant model is needed).

The arena the generator plans (FFTK_ARENA_SIZE in the generated header) is checked against
the same planner with every operator its own step (the engine before row fusion) and against
TFLM's own arena for the same model, as TFLM reports it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.c_engine import (
    EngineSpec,
    bundle_engine_spec,
    read_model,
    write_bundle_c,
    write_c_engine,
)
from fftoolkit.runtime.c_engine.fixedpoint import quantize_multiplier, round_half_away
from fftoolkit.runtime.manifest import TensorInfo, load_manifest
from fftoolkit.runtime.quant import quantize

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "models" / "weights"
MNIST_WEIGHTS = WEIGHTS / "ff_tiny_mnist-mnist.safetensors"
N_IMAGES = 200


def _spec(bundle: Path) -> EngineSpec:
    return bundle_engine_spec(load_manifest(bundle))


def _export(weights: Path, out: Path, calib: str) -> Path:
    from fftoolkit.export import ExportOptions, export_bundle

    export_bundle(weights, out, ExportOptions(target="tflite", quantize="int8",
                                              calib_dataset=calib, calib_samples=64,
                                              eval_samples=0), progress=False)
    return out


def _generated(bundle: Path) -> Path:
    """BUNDLE/c, generated once per bundle."""
    c_dir = bundle / "c"
    if not (c_dir / "fftk_model.c").is_file():
        write_bundle_c(bundle)
    return c_dir


def _build(bundle: Path) -> Path:
    """Generate DIR/c and `make host`; skip (saying why) where there is no C compiler."""
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("no C compiler (cc) or make on PATH: the C engine cannot be built here")
    c_dir = _generated(bundle)
    subprocess.run(["make", "-s", "host", "CFLAGS=-O2 -Werror"], cwd=c_dir, check=True)
    return c_dir / "build" / "fftk_infer"


def _int8_inputs(bundle: Path, images: np.ndarray) -> np.ndarray:
    m = load_manifest(bundle)
    info: TensorInfo = m.artifacts["tflite-int8"].fused.inputs[0]
    mean = np.asarray(m.normalization["mean"], np.float32)
    std = np.asarray(m.normalization["std"], np.float32)
    return quantize((images.astype(np.float32) / np.float32(255.0) - mean) / std, info)


def _tflm(bundle: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLM's int8 logits and the integer goodness sums of its int8 feature outputs."""
    tflm = pytest.importorskip("tflite_micro", reason="tflite-micro (the reference) not installed")
    m = load_manifest(bundle)
    outs = m.artifacts["tflite-int8"].fused.outputs
    groups = int(m.multi_pass["groups"])
    interp = tflm.runtime.Interpreter.from_file(str(bundle / "model.int8.tflite"),
                                                arena_size=4 << 20)
    logits, goodness = [], []
    for image in x:
        interp.set_input(image[None], 0)
        interp.invoke()
        logits.append(interp.get_output(0)[0])
        sums = []
        for k, out in enumerate(outs[1:], start=1):
            assert out.quant is not None
            f = interp.get_output(k)[0].astype(np.int64) - int(out.quant["zero_point"])
            sums.append(np.square(f).reshape(-1, groups, f.shape[-1] // groups).sum(axis=(0, 2)))
        goodness.append(np.concatenate(sums))
    return np.asarray(logits, np.int8), np.asarray(goodness, np.int64)


def _engine(binary: Path, x: np.ndarray, n_logits: int) -> tuple[np.ndarray, np.ndarray]:
    out = subprocess.run([str(binary)], input=x.tobytes(), capture_output=True, check=True).stdout
    rec = np.frombuffer(out, np.uint8).reshape(len(x), -1)
    return rec[:, :n_logits].view(np.int8), rec[:, n_logits:].copy().view("<i4")


def _check_bit_exact(bundle: Path, images: np.ndarray, binary: Path | None = None) -> None:
    x = _int8_inputs(bundle, images)
    ref_logits, ref_goodness = _tflm(bundle, x)
    logits, goodness = _engine(binary or _build(bundle), x, ref_logits.shape[1])
    assert len(x) == len(images) > 0
    same_logits = (logits == ref_logits).all(axis=1)
    same_goodness = (goodness == ref_goodness).all(axis=1)
    assert same_logits.all(), f"logits differ on {np.flatnonzero(~same_logits)[:10]}"
    assert same_goodness.all(), f"goodness differs on {np.flatnonzero(~same_goodness)[:10]}"


@pytest.fixture(scope="module")
def cifar_bundle(tmp_path_factory: pytest.TempPathFactory, cifar_jpeg_tar: Path) -> Path:
    return _export(WEIGHTS / "ff_tiny-cifar10.safetensors",
                   tmp_path_factory.mktemp("c-engine") / "ff_tiny", str(cifar_jpeg_tar))


def test_ff_tiny_bit_exact_with_tflm_on_demo_images(cifar_bundle: Path) -> None:
    from fftoolkit.runtime.demo_set import load_demo_set

    images = np.stack(load_demo_set(load_manifest(cifar_bundle).classes).images[:N_IMAGES])
    _check_bit_exact(cifar_bundle, images)


@pytest.fixture(scope="module")
def mnist_bundle(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    return _export(MNIST_WEIGHTS, tmp_path_factory.mktemp("c-engine") / "ff_tiny_mnist",
                   str(shared_data / "mnist"))


def test_ff_tiny_mnist_bit_exact_with_tflm_on_mnist(mnist_bundle: Path,
                                                    shared_data: Path) -> None:
    from fftoolkit.export.calib import load_images
    from fftoolkit.models import build_network_from_state, load_checkpoint

    state = load_checkpoint(MNIST_WEIGHTS)
    spec = build_network_from_state(state).spec
    held = load_images(str(shared_data / "mnist"), "val", N_IMAGES, state, spec, seed=1)
    _check_bit_exact(mnist_bundle, held.images)


def _variant(bundle: Path, out: Path) -> Path:
    """The engine of `bundle` generated now into `out` (as the test patched the generator) and
    built for the host."""
    _build(bundle)  # skips without cc / make
    write_c_engine(bundle / "model.int8.tflite", out, _spec(bundle))
    subprocess.run(["make", "-s", "host", "CFLAGS=-O2 -Werror"], cwd=out, check=True)
    return out / "build" / "fftk_infer"


def test_the_other_kernel_paths_are_bit_exact_too(mnist_bundle: Path, shared_data: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The paths the shipped graphs do not take: the pool on int8 conv rows (what a pool that
    does not tile its map, or a non-monotone requantization, runs) and the depthwise kernel
    (a depthwise conv of several channels), each forced on FF_tiny_mnist, equal TFLM too."""
    from fftoolkit.export.calib import load_images
    from fftoolkit.models import build_network_from_state, load_checkpoint
    from fftoolkit.runtime.c_engine import lower
    from fftoolkit.runtime.c_engine.fuse import Step

    state = load_checkpoint(MNIST_WEIGHTS)
    spec = build_network_from_state(state).spec
    images = load_images(str(shared_data / "mnist"), "val", 30, state, spec, seed=2).images
    monkeypatch.setattr(Step, "pool_on_accs", lambda self, model: False)
    monkeypatch.setitem(lower.CONV_LOWERINGS, "DEPTHWISE_CONV_2D", lower.depthwise_kernel)
    binary = _variant(mnist_bundle, tmp_path / "c")
    source = (tmp_path / "c" / "fftk_model.c").read_text()
    assert "fftk_depthwise_conv2d_accs_s8" in source
    # a pooled step with pool_on_accs 0 and scratch for conv rows
    assert re.search(r"_step = \{[^}]*, &op\d+, 0, [1-9]\d*\};", source)
    _check_bit_exact(mnist_bundle, images, binary)


KERNELS = Path(__file__).resolve().parents[2] / "fftoolkit/runtime/c_engine/kernels"


def _c_harness(tmp_path: Path, main_c: str, *kernel_files: str) -> Path:
    """`main_c` compiled against the kernels' header (and `kernel_files`) into a binary."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on PATH")
    (tmp_path / "t.c").write_text('#include <stdio.h>\n#include "fftk_kernels.h"\n' + main_c)
    subprocess.run(["cc", "-O2", "-std=c99", "-I", str(KERNELS), "-o", str(tmp_path / "t"),
                    str(tmp_path / "t.c"), *(str(KERNELS / f) for f in kernel_files)],
                   check=True)
    return tmp_path / "t"


def test_slice_kernel_takes_any_box_of_up_to_4_dims(tmp_path: Path) -> None:
    """fftk_slice_s8 (the converter's form of some head gathers, depending on the weights)
    copies the box begin .. begin + size of a 4-dim int8 array, as numpy slicing does, for
    random shapes and boxes, edges and empty boxes included."""
    binary = _c_harness(
        tmp_path,
        "int main(void) { fftk_slice_params p; int8_t in[4096], out[4096]; int i, n, v;\n"
        "  while (scanf(\"%d\", &p.in_shape[0]) == 1) {\n"
        "    for (i = 1; i < 4; ++i) scanf(\"%d\", &p.in_shape[i]);\n"
        "    for (i = 0; i < 4; ++i) scanf(\"%d\", &p.begin[i]);\n"
        "    for (i = 0; i < 4; ++i) scanf(\"%d\", &p.size[i]);\n"
        "    n = p.in_shape[0] * p.in_shape[1] * p.in_shape[2] * p.in_shape[3];\n"
        "    for (i = 0; i < n; ++i) { scanf(\"%d\", &v); in[i] = (int8_t)v; }\n"
        "    fftk_slice_s8(&p, in, out);\n"
        "    n = p.size[0] * p.size[1] * p.size[2] * p.size[3];\n"
        "    for (i = 0; i < n; ++i) printf(\"%d \", out[i]);\n"
        "    printf(\"\\n\"); }\n  return 0; }\n", "fftk_slice_s8.c")
    rng = np.random.default_rng(0)
    cases, lines = [], []
    for _ in range(200):
        shape = rng.integers(1, 8, 4)
        begin = np.array([rng.integers(0, d + 1) for d in shape])
        size = np.array([rng.integers(0, d - b + 1) for d, b in zip(shape, begin, strict=True)])
        x = rng.integers(-128, 128, shape).astype(np.int8)
        box = tuple(slice(b, b + n) for b, n in zip(begin, size, strict=True))
        cases.append(x[box].ravel().tolist())
        lines.append(" ".join(map(str, [*shape, *begin, *size, *x.ravel().tolist()])))
    out = subprocess.run([str(binary)], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [[int(v) for v in line.split()] for line in out] == cases
    assert any(len(c) == 0 for c in cases) and any(len(c) > 50 for c in cases)


def test_requantization_matches_tflite_formula(tmp_path: Path) -> None:
    """fftk_requant (the kernels' one requantization helper, written for speed) equals
    TFLite's MultiplyByQuantizedMultiplier as TFLite writes it (the Python reference the
    exporter's tables use) on random int32 values, multipliers and shifts, edge cases
    included."""
    from fftoolkit.runtime.c_engine.fixedpoint import multiply_by_quantized_multiplier

    binary = _c_harness(
        tmp_path,
        "int main(void) { long x, m, s; while (scanf(\"%ld %ld %ld\", &x, &m, &s) == 3) "
        'printf("%ld\\n", (long)fftk_requant((int32_t)x, (int32_t)m, (int32_t)s)); '
        "return 0; }\n")
    rng = np.random.default_rng(0)
    n = 20000
    xs = np.concatenate([rng.integers(-2**31, 2**31, n), rng.integers(-3000, 3000, n),
                         [-2**31, 2**31 - 1, 0, -1, 1]])
    ms = np.concatenate([rng.integers(2**30, 2**31, len(xs) - 5), [2**31 - 1, 2**30, 0, 1, 5]])
    ss = rng.integers(-31, 8, len(xs))
    cases = list(zip(xs.tolist(), ms.tolist(), ss.tolist(), strict=True))
    out = subprocess.run([str(binary)], input="".join(f"{x} {m} {s}\n" for x, m, s in
                                                              cases),
                         capture_output=True, text=True, check=True).stdout.split()
    want = [multiply_by_quantized_multiplier(x, m, s) for x, m, s in cases]
    assert [int(v) for v in out] == want


def _arena(bundle: Path) -> int:
    """FFTK_ARENA_SIZE as the generated header states it."""
    header = (_generated(bundle) / "fftk_model.h").read_text()
    found = re.search(r"^#define FFTK_ARENA_SIZE (\d+)$", header, re.M)
    assert found, "the generated header does not state FFTK_ARENA_SIZE"
    return int(found.group(1))


def _tflm_arena(bundle: Path, capfd: pytest.CaptureFixture[str]) -> int:
    """TFLM's whole arena for the model (its allocator's own report, on stderr)."""
    tflm = pytest.importorskip("tflite_micro", reason="tflite-micro (the reference) not installed")
    interp = tflm.runtime.Interpreter.from_file(str(bundle / "model.int8.tflite"),
                                                arena_size=4 << 20)
    capfd.readouterr()
    interp.print_allocations()
    found = re.search(r"Arena allocation total (\d+) bytes", capfd.readouterr().err)
    assert found, "tflite-micro printed no arena total"
    return int(found.group(1))


def _check_arena_shrank(bundle: Path, capfd: pytest.CaptureFixture[str]) -> int:
    """The planned arena is below: the one-operator-per-step plan (no fusion), one whole
    pre-pool map (so none exists whole), and TFLM's arena even with our input buffer added."""
    from fftoolkit.runtime.c_engine.arena import lifetimes, plan_arena
    from fftoolkit.runtime.c_engine.fuse import CONVS, Step

    arena = _arena(bundle)
    model = read_model(bundle / "model.int8.tflite")
    spec = _spec(bundle)
    end = len(model.operators)
    hold = {model.by_name(n).index: end for n in [spec.logits, *spec.features]}
    _, unfused = plan_arena(lifetimes(model, [Step(op) for op in model.operators], hold))
    biggest_map = max(model.tensors[op.outputs[0]].size for op in model.operators
                      if op.op in CONVS)
    image = model.tensors[model.inputs[0]].size
    assert arena < unfused and arena < biggest_map, (arena, unfused, biggest_map)
    assert arena + image < _tflm_arena(bundle, capfd)
    return arena


def test_ff_tiny_arena_fits_32k(cifar_bundle: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert _check_arena_shrank(cifar_bundle, capfd) <= 32 * 1024


def test_ff_tiny_mnist_arena_shrank(mnist_bundle: Path,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    _check_arena_shrank(mnist_bundle, capfd)


def test_readme_and_header_for_projects(cifar_bundle: Path) -> None:
    """c/README.md states the figures a project needs (input, arena, const bytes) and how to
    add the engine to the four project kinds; the header is C++-safe."""
    c_dir = _generated(cifar_bundle)
    readme = (c_dir / "README.md").read_text()
    arena = _arena(cifar_bundle)
    assert f"`FFTK_ARENA_SIZE` = {arena} bytes" in readme
    assert "32x32x3" in readme and "arm-none-eabi-size" in readme
    for project in ("STM32Cube", "Pico SDK", "Zephyr", "Arduino"):
        assert project in readme
    const = int(re.search(r"flash: (\d+) bytes of const", readme).group(1))
    arrays = re.findall(r"static const (int8_t|int32_t) \w+\[(\d+)\]",
                        (c_dir / "fftk_model.c").read_text())
    assert const == sum(int(n) * (1 if t == "int8_t" else 4) for t, n in arrays) > 150_000
    header = (c_dir / "fftk_model.h").read_text()
    assert '#ifdef __cplusplus\nextern "C" {' in header


def test_held_tensors_are_never_fused_away(cifar_bundle: Path) -> None:
    """A conv output something else reads (an output, a goodness feature) stays a tensor."""
    from fftoolkit.runtime.c_engine.fuse import plan_steps

    model = read_model(cifar_bundle / "model.int8.tflite")
    conv_out = model.operators[0].outputs[0]
    fused, alone = plan_steps(model, set())[0], plan_steps(model, {conv_out})[0]
    assert [o.op for o in fused.ops] == ["CONV_2D", "ADD", "MAX_POOL_2D"]
    assert [o.op for o in alone.ops] == ["CONV_2D"] and alone.writes == [conv_out]


def test_reader_agrees_with_litert(cifar_bundle: Path) -> None:
    """The flatbuffer reader's shapes and quantization are LiteRT's."""
    from ai_edge_litert.interpreter import Interpreter

    path = cifar_bundle / "model.int8.tflite"
    ours = read_model(path)
    interp = Interpreter(str(path))
    for d in interp.get_tensor_details():
        t = ours.tensors[d["index"]]
        assert list(t.shape) == list(d["shape"]) and t.name == d["name"]
        q = d["quantization_parameters"]
        np.testing.assert_array_equal(t.scales, q["scales"])
        np.testing.assert_array_equal(t.zero_points, q["zero_points"])


def test_unsupported_op_and_float_model_are_one_line_errors(cifar_bundle: Path,
                                                            tmp_path: Path) -> None:
    from fftoolkit.runtime.c_engine.emit import generate

    model = read_model(cifar_bundle / "model.int8.tflite")
    model.operators[2].op = "SOFTMAX"
    with pytest.raises(FFTKError, match=r"operator 2 is SOFTMAX") as err:
        generate(model, _spec(cifar_bundle), tmp_path / "c")
    assert "\n" not in str(err.value)
    with pytest.raises(FFTKError, match="int8") as err:
        write_c_engine(cifar_bundle / "model.tflite", tmp_path / "c2", _spec(cifar_bundle))
    assert "\n" not in str(err.value)
    manifest = load_manifest(cifar_bundle)
    del manifest.artifacts["tflite-int8"]
    with pytest.raises(FFTKError, match="--quantize int8"):
        bundle_engine_spec(manifest)


def test_quantize_multiplier() -> None:
    assert round_half_away(2.5) == 3 and round_half_away(-2.5) == -3
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)  # flushed: every bit shifted out
    m, s = quantize_multiplier(0.3)
    assert abs(m * 2.0 ** (s - 31) - 0.3) < 1e-9
