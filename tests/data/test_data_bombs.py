"""Resource bombs: small files that declare or expand to huge sizes fail in one line, exit 2,
before anything big is allocated (the real `fftk` runs in a subprocess under a 1 GiB address-space
limit, so an allocation of the declared size would crash it with a traceback instead)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import cli_env, fftk, one_line_error
from fftk_data_fixtures import files_under, idx_bytes, write_idx_dataset, write_png_tree
from PIL import Image

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.images import load_inputs

ADDRESS_SPACE = 1 << 30  # enough for fftk data info; far below what any bomb declares


def run_fftk(*args: str, env: dict[str, str] | None = None):
    """The real CLI in a subprocess with at most 1 GiB of address space; `env` adds variables."""
    return fftk(*args, env=cli_env(**(env or {})), timeout=120, address_space=ADDRESS_SPACE)


def _idx_tree(tmp: Path) -> Path:
    write_idx_dataset(tmp / "idx", n_train=20, n_test=10)
    return tmp / "idx"


def idx_declares_a_billion_images(tmp: Path) -> tuple[Path, dict, list[str]]:
    """A header declaring 10**9 images followed by a little gzip data: 784 GB if trusted."""
    root = _idx_tree(tmp)
    header = struct.pack(">IIII", 2051, 10**9, 28, 28)
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(4096)))
    return root, {}, ["train-images-idx3-ubyte.gz: IDX header declares (1000000000, 28, 28)",
                      "784,000,000,000 bytes", "FFTK_MAX_DATASET_BYTES"]


def idx_small_header_huge_body(tmp: Path) -> tuple[Path, dict, list[str]]:
    """An honest-looking header (20 images) over a body that inflates far past it."""
    root = _idx_tree(tmp)
    body = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    data = body.compress(idx_bytes(np.zeros((20, 28, 28), np.uint8)))
    zeros = bytes(1 << 20)
    data += b"".join(body.compress(zeros) for _ in range(64)) + body.flush()  # +64 MiB
    (root / "train-images-idx3-ubyte.gz").write_bytes(data)
    return root, {}, ["train-images-idx3-ubyte.gz: IDX header says (20, 28, 28) (15696 bytes)",
                      "file has more than"]


def idx_over_a_lowered_limit(tmp: Path) -> tuple[Path, dict, list[str]]:
    root = _idx_tree(tmp)
    return root, {"FFTK_MAX_DATASET_BYTES": "10000"}, [
        "train-images-idx3-ubyte.gz: IDX header declares (20, 28, 28) (15,680 bytes)",
        "limit 10,000; set $FFTK_MAX_DATASET_BYTES"]


def tar_member_declares_3_gb(tmp: Path) -> tuple[Path, dict, list[str]]:
    """A .tar.gz whose first member's header says 3 GB; only a few bytes follow."""
    info = tarfile.TarInfo("train/a/000.png")
    info.size = 3 * 10**9
    archive = tmp / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096)))
    return archive, {}, ["bomb.tar.gz: members add up to more than 2,147,483,648 bytes at "
                         "'train/a/000.png'", "FFTK_MAX_DATASET_BYTES"]


def tar_too_many_members(tmp: Path) -> tuple[Path, dict, list[str]]:
    write_png_tree(tmp / "t", {"train": {"a": 6}})
    archive = tmp / "many.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp / "t", arcname=".")
    return archive, {"FFTK_MAX_ARCHIVE_MEMBERS": "5"}, [
        "many.tar.gz: more than 5 archive entries", "FFTK_MAX_ARCHIVE_MEMBERS"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels in its IHDR; the pixel data is a stub."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def png_declares_10_gigapixels(tmp: Path) -> tuple[Path, dict, list[str]]:
    """Pillow's own DecompressionBombError (over twice its limit) becomes our one line."""
    write_png_tree(tmp / "t", {"train": {"a": 2}})
    (tmp / "t" / "train" / "a" / "001.png").write_bytes(_png_header(100_000, 100_000))
    return tmp / "t", {}, ["train/a/001.png: image has more than 16,777,216 pixels",
                           "FFTK_MAX_IMAGE_PIXELS"]


def png_over_a_lowered_pixel_limit(tmp: Path) -> tuple[Path, dict, list[str]]:
    """Just over the limit: Pillow's DecompressionBombWarning path (no stray warning line)."""
    write_png_tree(tmp / "t", {"train": {"a": 2}}, size=(12, 10))
    return tmp / "t", {"FFTK_MAX_IMAGE_PIXELS": "100"}, [
        "train/a/000.png: image has more than 100 pixels"]


def image_tree_over_the_decoded_limit(tmp: Path) -> tuple[Path, dict, list[str]]:
    write_png_tree(tmp / "t", {"train": {"a": 5, "b": 5}})
    return tmp / "t", {"FFTK_MAX_DATASET_BYTES": "1000"}, [
        "10 images of 6x8x3 decode to 1,440 bytes", "FFTK_MAX_DATASET_BYTES"]


def cifar_pickle_allocates_via_ndarray(tmp: Path) -> tuple[Path, dict, list[str]]:
    """A batch that calls numpy.ndarray((10**12,)) through REDUCE: refused, never called."""
    from fftk_data_fixtures import write_cifar_batches

    write_cifar_batches(tmp)

    class Huge:
        def __reduce__(self):
            return (np.ndarray, ((10**12,), np.uint8))

    (tmp / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(
        {b"data": Huge(), b"labels": []}, protocol=2))
    return tmp / "cifar-10-batches-py", {}, ["data_batch_3: not a valid CIFAR-10 batch"]


def bad_limit_variable(tmp: Path) -> tuple[Path, dict, list[str]]:
    return _idx_tree(tmp), {"FFTK_MAX_DATASET_BYTES": "lots"}, [
        "$FFTK_MAX_DATASET_BYTES: expected a positive whole number, got 'lots'"]


CASES: list[Callable[[Path], tuple[Path, dict, list[str]]]] = [
    idx_declares_a_billion_images, idx_small_header_huge_body, idx_over_a_lowered_limit,
    tar_member_declares_3_gb, tar_too_many_members, png_declares_10_gigapixels,
    png_over_a_lowered_pixel_limit, image_tree_over_the_decoded_limit,
    cifar_pickle_allocates_via_ndarray, bad_limit_variable,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bomb_is_one_line_before_allocating(
    case: Callable[[Path], tuple[Path, dict, list[str]]], tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    source, env, expected = case(tmp_path / "src")
    cache = tmp_path / "cache"
    message = one_line_error(run_fftk("data", "info", str(source), "--cache-dir", str(cache),
                                      env=env))
    for text in expected:
        assert text in message, message
    assert files_under(cache) == []


def test_idx_under_the_memory_cap_still_decodes(tmp_path: Path) -> None:
    """The 1 GiB cap of these tests is not what makes them pass: a good source decodes."""
    proc = run_fftk("data", "info", str(_idx_tree(tmp_path)), "--cache-dir", str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stderr
    assert "28x28x1" in proc.stdout


def _npy_with_header(path: Path, shape: tuple[int, ...], descr: str = "|u1") -> Path:
    """A .npy whose header declares `shape` but holds only a few bytes of data."""
    with path.open("wb") as fp:
        np.lib.format.write_array_header_1_0(
            fp, {"descr": descr, "fortran_order": False, "shape": shape})
        fp.write(bytes(64))
    return path


def _npz(path: Path, **arrays: bytes) -> Path:
    """An .npz holding the given .npy files as they are (headers included)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in arrays.items():
            archive.writestr(f"{name}.npy", data)
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_declares_huge_batch(tmp: Path) -> tuple[Path, str]:
    return _npy_with_header(tmp / "x.npy", (10**6, 1000, 1000, 3)), \
        "x.npy: array declares shape (1000000, 1000, 1000, 3)"


def npz_images_declares_huge(tmp: Path) -> tuple[Path, str]:
    header = _npy_with_header(tmp / "h.npy", (10**9, 32, 32, 3)).read_bytes()
    return _npz(tmp / "x.npz", images=header), "x.npz: 'images' array declares shape"


def npz_labels_declares_huge(tmp: Path) -> tuple[Path, str]:
    header = _npy_with_header(tmp / "h.npy", (10**11,), "<i8").read_bytes()
    return _npz(tmp / "x.npz", images=_npy_bytes(np.zeros((2, 4, 4, 3), np.uint8)),
                labels=header), "x.npz: 'labels' array declares shape (100000000000,)"


def npz_raw_member(tmp: Path) -> tuple[Path, str]:
    """A member named `images` without .npy: numpy would decompress it whole, unchecked."""
    return _npz_raw(tmp / "x.npz", "images", bytes(1 << 20)), \
        "x.npz: .npz member 'images' is not a .npy array"


def _npz_raw(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return path


def npy_of_objects(tmp: Path) -> tuple[Path, str]:
    (tmp / "x.npy").write_bytes(_npy_bytes(np.array([{"a": 1}], dtype=object)))
    return tmp / "x.npy", "x.npy: array holds Python objects"


def npz_text_labels(tmp: Path) -> tuple[Path, str]:
    return _npz(tmp / "x.npz", images=_npy_bytes(np.zeros((2, 4, 4, 3), np.uint8)),
                labels=_npy_bytes(np.array(["cat", "dog"]))), \
        "x.npz: 'labels' must be a 1-D integer array"


def npz_labels_out_of_range(tmp: Path) -> tuple[Path, str]:
    return _npz(tmp / "x.npz", images=_npy_bytes(np.zeros((2, 4, 4, 3), np.uint8)),
                labels=_npy_bytes(np.array([0, 7]))), "x.npz: labels must be -1 (unknown) or 0..1"


def png_of_100k_by_100k(tmp: Path) -> tuple[Path, str]:
    (tmp / "big.png").write_bytes(_png_header(100_000, 100_000))
    return tmp / "big.png", "big.png: image has more than 16,777,216 pixels"


ARRAY_CASES: list[Callable[[Path], tuple[Path, str]]] = [
    npy_declares_huge_batch, npz_images_declares_huge, npz_labels_declares_huge, npz_raw_member,
    npy_of_objects, npz_text_labels, npz_labels_out_of_range, png_of_100k_by_100k,
]


@pytest.mark.parametrize("case", ARRAY_CASES, ids=[c.__name__ for c in ARRAY_CASES])
def test_run_inputs_check_headers_before_allocating(
    case: Callable[[Path], tuple[Path, str]], tmp_path: Path
) -> None:
    """What `fftk run`/`bench` read as INPUT (runtime.images): one-line errors, nothing loaded."""
    path, expected = case(tmp_path)
    with pytest.raises(FFTKError) as raised:
        load_inputs(path, ["a", "b"])
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_run_inputs_under_the_limits_still_load(tmp_path: Path) -> None:
    np.savez(tmp_path / "ok.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=[0, 1],
             classes=np.array(["a", "b"]))
    Image.new("RGB", (64, 48)).save(tmp_path / "ok.png")
    assert len(load_inputs(tmp_path / "ok.npz", ["a", "b"])) == 2
    assert load_inputs(tmp_path / "ok.png", ["a", "b"]).images[0].shape == (48, 64, 3)


def test_download_larger_than_the_limit_is_cut_off(tmp_path: Path) -> None:
    """A server (here a file:// mirror) sending more than the limit: one line, nothing kept."""
    mirror = tmp_path / "mirror"
    write_idx_dataset(mirror, n_train=20, n_test=10)
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("".join(f"{'0' * 64}  {p.name}\n" for p in sorted(mirror.iterdir())))
    cache = tmp_path / "cache"
    message = one_line_error(run_fftk("data", "fetch", "mnist", "--url", mirror.as_uri() + "/",
                                      "--sha256-file", str(sums), "--cache-dir", str(cache),
                                      env={"FFTK_MAX_DATASET_BYTES": "1000"}))
    assert "train-images-idx3-ubyte.gz: download is larger than 1,000 bytes" in message
    assert files_under(cache) == []
