"""`fetch`: download a named dataset's canonical files into the cache, verified by sha256.

Any base URL urllib understands works (https://, http://, file://), so CI fetches from a local
mirror with its own checksum list. A file only lands in the cache after its checksum matched.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

from tqdm import tqdm

from fftoolkit.atomic import atomic_path
from fftoolkit.data.cache import cache_root
from fftoolkit.data.registry import DATASETS, NamedDataset
from fftoolkit.errors import FFTKError
from fftoolkit.limits import GiB, Limit

CHUNK = 1 << 20
# Limit (see fftoolkit/limits.py): a server that sends more than this is cut off, nothing kept.
MAX_DOWNLOAD_BYTES = Limit(2 * GiB, "FFTK_MAX_DATASET_BYTES")


def fetch(
    name: str,
    url: str | None = None,
    sha256_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> list[Path]:
    """Download every file of dataset `name` (skipping verified ones); returns their paths."""
    named = named_dataset(name)
    base = url or named.url
    base = base if base.endswith("/") else base + "/"
    sums = read_sha256_file(Path(sha256_file)) if sha256_file is not None else None
    folder = cache_root(cache_dir) / named.name
    paths = []
    for remote in named.files:
        file_url = urljoin(base, remote.name)
        if sums is None:
            expected, origin = remote.sha256, f"the published checksum of {named.name}"
        else:
            expected, origin = match_checksum(sums, remote.name, file_url, str(sha256_file))
        target = folder / remote.name
        if not (target.is_file() and sha256_of(target) == expected):
            download(file_url, target, expected, origin)
        paths.append(target)
    return paths


def named_dataset(name: str) -> NamedDataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise FFTKError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}") from None


def read_sha256_file(path: Path) -> dict[str, str]:
    """`sha256sum` output (`HASH  relative/path`, or `HASH *path`) as {path: hash}."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeError) as exc:
        raise FFTKError(f"{path}: cannot read checksum list ({exc})") from None
    sums = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        digest, _, rel = line.strip().partition(" ")
        rel = rel.strip().removeprefix("*")
        if len(digest) != 64 or not rel or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise FFTKError(f"{path}:{number}: not a 'SHA256  path' line: {line.strip()!r}")
        sums[rel] = digest.lower()
    return sums


def match_checksum(sums: dict[str, str], name: str, file_url: str, listing: str) -> tuple[str, str]:
    """The listed hash for file `name`: matched by file name, and by the URL's folders if the
    name appears more than once (`mnist/x.gz` vs `fashion-mnist/x.gz`)."""
    candidates = [rel for rel in sums if PurePosixPath(rel).name == name]
    found = candidates
    if len(candidates) > 1:
        url_parts = PurePosixPath(unquote(urlparse(file_url).path)).parts
        found = [rel for rel in candidates
                 if url_parts[-len(PurePosixPath(rel).parts) :] == PurePosixPath(rel).parts]
    if len(found) != 1:
        problem = (f"several checksums ({', '.join(candidates)}), none matching the URL's folder"
                   if candidates else "no checksum")
        raise FFTKError(f"{listing}: {problem} for {name} at {file_url}")
    return sums[found[0]], f"{listing} ({found[0]})"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, expected: str, origin: str) -> None:
    """Stream `url` into a temp file next to `target`; keep it only if its sha256 matches."""
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as out:
                total = response.headers.get("Content-Length")
                with tqdm(total=int(total) if total else None, desc=target.name, unit="B",
                          unit_scale=True, file=sys.stderr, leave=False) as bar:
                    while block := response.read(CHUNK):
                        bar.update(len(block))
                        _check_download_size(url, bar.n)
                        digest.update(block)
                        out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FFTKError(f"{url}: download failed ({reason})") from None
        if digest.hexdigest() != expected:
            raise FFTKError(
                f"{url}: wrong checksum: sha256 {digest.hexdigest()}, expected {expected} "
                f"from {origin}; nothing was saved"
            )


def _check_download_size(url: str, received: int) -> None:
    """Cut off a server that sends more than any dataset needs (nothing is kept)."""
    if received > MAX_DOWNLOAD_BYTES.get():
        raise FFTKError(f"{url}: download is larger than {MAX_DOWNLOAD_BYTES.get():,} bytes "
                        f"({MAX_DOWNLOAD_BYTES.hint()}); nothing was saved")
