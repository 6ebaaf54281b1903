"""Every bad input fails with exit code 2, one line naming the file, and nothing in the cache."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import fftk_in_process, one_line_error
from fftk_data_fixtures import (
    files_under,
    idx_bytes,
    make_tar,
    write_cifar_batches,
    write_idx_dataset,
    write_png_tree,
)
from PIL import Image

from fftoolkit.data import load_dataset
from fftoolkit.errors import FFTKError


def _tar_with(tmp: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    """A .tar.gz holding a valid one-image tree plus one hostile member."""
    good = io.BytesIO()
    Image.new("RGB", (4, 4)).save(good, "PNG")
    target = tmp / "bad.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo("train/a/000.png")
        info.size = len(good.getvalue())
        tar.addfile(info, io.BytesIO(good.getvalue()))
        tar.addfile(member, io.BytesIO(data) if data else None)
    return target


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size
    return info


def missing_path(tmp: Path) -> tuple[Path, str]:
    return tmp / "nope", "no such file or folder"


def truncated_gzip(tmp: Path) -> tuple[Path, str]:
    write_idx_dataset(tmp / "idx")
    f = tmp / "idx" / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-200])
    return tmp / "idx", "train-images-idx3-ubyte.gz: truncated gzip file"


def wrong_magic(tmp: Path) -> tuple[Path, str]:
    write_idx_dataset(tmp / "idx", gz=False)
    f = tmp / "idx" / "train-labels-idx1-ubyte"
    f.write_bytes(b"\x00\x00\x08\x03" + f.read_bytes()[4:])  # images magic on a labels file
    return tmp / "idx", "train-labels-idx1-ubyte: wrong IDX magic 2051, expected 2049"


def wrong_byte_count(tmp: Path) -> tuple[Path, str]:
    write_idx_dataset(tmp / "idx")
    data = idx_bytes(np.zeros((50, 28, 28), np.uint8))[:-28]
    (tmp / "idx" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    return tmp / "idx", "IDX header says (50, 28, 28) (39216 bytes), file has 39188 bytes"


def label_count_mismatch(tmp: Path) -> tuple[Path, str]:
    write_idx_dataset(tmp / "idx")
    (tmp / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(7, np.uint8))))
    return tmp / "idx", "t10k-labels-idx1-ubyte.gz: 7 labels for 20 images"


def other_size(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2, "b": 2}})
    Image.new("RGB", (9, 6)).save(tmp / "t" / "train" / "b" / "001.png")
    return tmp / "t", "train/b/001.png: image is 9x6, the others are 8x6"


def empty_class(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2}})
    (tmp / "t" / "train" / "b").mkdir()
    (tmp / "t" / "train" / "b" / "notes.txt").write_text("no images here")
    return tmp / "t", "class folder train/b/ is empty"


def empty_class_in_tar(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2}, "test": {"a": 1}})
    (tmp / "t" / "test" / "b").mkdir()
    return make_tar(tmp / "t", tmp / "t.tar.gz"), "class folder test/b/ is empty"


def unknown_test_class(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2}, "test": {"zebra": 1}})
    return tmp / "t", "test/ has class folder(s) zebra that train/ lacks"


def damaged_jpeg(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2}})
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)).save(
        buf, "JPEG")
    (tmp / "t" / "train" / "a" / "002.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return tmp / "t", "train/a/002.jpg: unreadable or damaged image"


def not_an_image(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 2}})
    (tmp / "t" / "train" / "a" / "000.png").write_bytes(b"this is not a png")
    return tmp / "t", "train/a/000.png: unreadable or damaged image"


def tar_absolute(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("/tmp/evil.png")), "'/tmp/evil.png' (absolute path)"


def tar_dotdot(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("train/../../evil.png")), "('..' in path)"


def tar_symlink(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("train/a/1.png", tarfile.SYMTYPE, "/etc/passwd")), \
        "'train/a/1.png' (symbolic link)"


def tar_hardlink(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("train/a/1.png", tarfile.LNKTYPE, "train/a/000.png")), \
        "(hard link)"


def tar_device(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("train/a/dev", tarfile.CHRTYPE)), "(device file)"


def tar_fifo(tmp: Path) -> tuple[Path, str]:
    return _tar_with(tmp, _member("train/a/fifo", tarfile.FIFOTYPE)), "(FIFO)"


def tar_truncated(tmp: Path) -> tuple[Path, str]:
    write_png_tree(tmp / "t", {"train": {"a": 40}}, size=(16, 16))
    archive = make_tar(tmp / "t", tmp / "t.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-500])
    return archive, "t.tar.gz: damaged or truncated archive"


def cifar_missing_batch(tmp: Path) -> tuple[Path, str]:
    write_cifar_batches(tmp)
    (tmp / "cifar-10-batches-py" / "data_batch_4").unlink()
    return tmp / "cifar-10-batches-py", "missing CIFAR batch file(s) data_batch_4"


def cifar_hostile_pickle(tmp: Path) -> tuple[Path, str]:
    write_cifar_batches(tmp)

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp / 'pwned'}",))

    (tmp / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(Boom(), protocol=2))
    return tmp / "cifar-10-batches-py", \
        "data_batch_2: not a valid CIFAR-10 batch (global posix.system is not allowed)"


def not_a_dataset(tmp: Path) -> tuple[Path, str]:
    (tmp / "stuff").mkdir()
    (tmp / "stuff" / "readme.txt").write_text("hello")
    return tmp / "stuff", "no dataset found"


CASES: list[Callable[[Path], tuple[Path, str]]] = [
    missing_path, truncated_gzip, wrong_magic, wrong_byte_count, label_count_mismatch,
    other_size, empty_class, empty_class_in_tar, unknown_test_class, damaged_jpeg, not_an_image,
    tar_absolute, tar_dotdot, tar_symlink, tar_hardlink, tar_device, tar_fifo, tar_truncated,
    cifar_missing_batch, cifar_hostile_pickle, not_a_dataset,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_no_cache(
    case: Callable[[Path], tuple[Path, str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source, expected = case(_fresh(tmp_path / "src"))
    cache = tmp_path / "cache"
    message = one_line_error(fftk_in_process(capsys, "data", "info", source, "--cache-dir", cache),
                             expected)
    assert str(source.name) in message or "src" in message  # names the file
    assert files_under(cache) == []
    assert not (tmp_path / "src" / "pwned").exists()
    with pytest.raises(FFTKError) as raised:  # the library raises the same one-line error
        load_dataset(str(source), cache_dir=cache)
    assert "\n" not in str(raised.value) and expected in str(raised.value)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def test_named_dataset_not_fetched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = fftk_in_process(capsys, "data", "info", "fashion-mnist", "--cache-dir", tmp_path)
    one_line_error(result, "fashion-mnist is not in the cache",
                   "run `fftk data fetch fashion-mnist")
    assert files_under(tmp_path) == []
