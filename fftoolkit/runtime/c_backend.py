"""The C engine backend: a bundle's `c/` sources, compiled for this host on first use and run
as a subprocess.

`read_c_sources` is the one way to get the engine's files out of a bundle (sha256-checked
bytes, keyed by their name inside `c/`); the firmware for a microcontroller uses it too.
`build_engine` compiles the `.c` files with `cc -O3` into a cache keyed by their sha256
($FFTK_C_CACHE, else ~/.cache/fftk/c), in a temp folder renamed into place under a lock, so
concurrent runs build once and a killed build leaves nothing half-made. `Engine` keeps the
built `fftk_infer` running and streams images through it: raw int8 NHWC in, per image the
int8 logits then the int32 goodness sums (little-endian) out.

Compiling and running the sources runs code that came with the bundle: `--backend c` is for
bundles you exported or pinned (`--expect-sha256`), see docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fftoolkit.atomic import atomic_dir
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import BACKENDS
from fftoolkit.runtime.manifest import C_KEY, Manifest, read_file
from fftoolkit.untrusted import check_name

CACHE_ENV = "FFTK_C_CACHE"
CFLAGS = ("-O3", "-std=c99")
BINARY = "fftk_infer"
COMPILER_FILE = "compiler.txt"  # the compiler's --version line, for the logs
BUILD_TIMEOUT_S = 600


def read_c_sources(bundle_dir: str | Path, manifest: Manifest) -> dict[str, bytes]:
    """The C engine's files, verified against the manifest: name inside `c/` -> bytes."""
    art = manifest.artifacts.get(C_KEY)
    if art is None:
        have = ", ".join(manifest.artifacts) or "none"
        raise FFTKError(f"{bundle_dir}: the bundle has no '{C_KEY}' engine (it has: {have}); "
                        "re-export with --target c --quantize int8")
    return {s.file.split("/", 1)[1]: read_file(bundle_dir, s) for s in art.sources}


def compiler() -> str:
    """The C compiler on PATH, or a one-line error saying how to get one."""
    info = BACKENDS["c"]
    found = shutil.which(info.program)
    if found is None:
        raise FFTKError(f"backend 'c' needs a C compiler ({info.program}) on PATH to build the "
                        f"bundle's C engine: {info.install}; or pick another --backend")
    return found


def cache_root() -> Path:
    """$FFTK_C_CACHE, else ~/.cache/fftk/c."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "fftk" / "c"


def build_key(sources: dict[str, bytes]) -> str:
    """What a build depends on: the sources' sha256, the flags and this host's platform."""
    listing = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(sources.items())}
    facts = {"sources": listing, "cflags": CFLAGS, "platform": sys.platform,
             "machine": platform.machine()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def build_engine(sources: dict[str, bytes], where: str) -> Path:
    """The cached `fftk_infer` of these sources, compiled now if it is not there yet.
    `where` names the sources in errors (the bundle's c/ folder)."""
    for name in sources:
        check_name(name, "C engine file", where)
        if name in (BINARY, COMPILER_FILE):
            raise FFTKError(f"{where}: a C engine file may not be named {name!r}")
    root = cache_root()
    folder = root / build_key(sources)
    binary = folder / BINARY
    if binary.is_file():
        return binary
    cc = compiler()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FFTKError(f"{root}: cannot create the C engine cache ({exc.strerror}); set "
                        f"${CACHE_ENV} to a writable folder") from None
    with _locked(root / f".{folder.name}.lock"):
        if binary.is_file():  # another process built it while we waited
            return binary
        with atomic_dir(folder, force=True) as tmp:  # force: a folder whose binary was deleted
            for name, data in sources.items():
                (tmp / name).write_bytes(data)
            _compile(cc, tmp, sorted(n for n in sources if n.endswith(".c")), where)
            (tmp / COMPILER_FILE).write_text(_version(cc) + "\n")
    return binary


def compiler_version(binary: Path) -> str:
    """The compiler line recorded beside a built engine."""
    try:
        return (binary.parent / COMPILER_FILE).read_text().strip()
    except OSError:
        return ""


def _compile(cc: str, folder: Path, c_files: list[str], where: str) -> None:
    """cc -O3 the engine; a failure is one line with the compiler's first error."""
    if not c_files:
        raise FFTKError(f"{where}: no .c files to build the C engine from")
    try:
        done = subprocess.run([cc, *CFLAGS, "-o", BINARY, *c_files], cwd=folder,
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise FFTKError(f"{where}: {cc} did not finish building the C engine in "
                        f"{BUILD_TIMEOUT_S} s") from None
    if done.returncode != 0 or not (folder / BINARY).is_file():
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln] or \
            done.stderr.strip().splitlines() or ["no output"]
        raise FFTKError(f"{where}: {cc} cannot build the C engine: {errors[0][:200]}")


def _version(cc: str) -> str:
    done = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    return lines[0] if lines else cc


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock (flock) on `path` while the block runs: one builder per sources."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the atomic rename still keeps builds whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Engine:
    """A running `fftk_infer`: int8 images (N, H, W, C) -> (int8 logits (N, L), int32 sums
    (N, G)). Images go through in chunks small enough that neither pipe fills."""

    def __init__(self, binary: Path, image_size: int, n_logits: int, n_sums: int):
        self.binary, self.image_size = binary, image_size
        self.n_logits, self.n_sums = n_logits, n_sums
        self.record = n_logits + 4 * n_sums
        self.chunk = max(1, min(64, 32768 // self.record))
        try:
            self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         bufsize=0)
        except OSError as exc:
            raise FFTKError(f"{binary}: cannot start the C engine ({exc.strerror})") from None
        self._finalizer = weakref.finalize(self, _stop, self.proc)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
        if x.shape[1] != self.image_size:
            raise FFTKError(f"{self.binary}: the C engine takes {self.image_size} int8 values "
                            f"per image, got {x.shape[1]}")
        out = bytearray()
        for start in range(0, len(x), self.chunk):
            part = x[start:start + self.chunk]
            out += self._exchange(part.tobytes(), len(part) * self.record)
        rec = np.frombuffer(bytes(out), np.uint8).reshape(len(x), self.record)
        logits = rec[:, :self.n_logits].view(np.int8)
        sums = rec[:, self.n_logits:].copy().view("<i4").astype(np.int64)
        return logits, sums

    def _exchange(self, data: bytes, want: int) -> bytes:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(data)
            stdin.flush()
            got = bytearray()
            while len(got) < want:
                more = stdout.read(want - len(got))
                if not more:
                    break
                got += more
        except (BrokenPipeError, OSError):
            got = bytearray()
        if len(got) != want:
            code = self.proc.poll()
            raise FFTKError(f"{self.binary}: the C engine stopped"
                            f"{f' (exit code {code})' if code is not None else ''} before "
                            "answering every image")
        return bytes(got)

    def close(self) -> None:
        self._finalizer()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the engine: close its input (it exits at end of input), then make sure."""
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
