"""The never-arrows of docs/ARCHITECTURE.md, enforced by reading the source (nothing is imported).

Every .py under fftoolkit/ is parsed with `ast`; an "arrow" is any way a module can make
another one load:
- `import x` / `from x import y`, at module level, inside functions, under `if TYPE_CHECKING`
  (a typing-only import is still a dependency of the package's API) and relative ones;
- `importlib.import_module("x")`, `__import__("x")`, `importlib.util.find_spec("x")`,
  `runpy.run_module("x")` with a string literal;
- `python -m x` in a subprocess argv: `"-m", "fftoolkit.x"` in a list or a non-docstring
  string containing `-m fftoolkit.x` (a generated command line) -> kind "argv"; a list/tuple
  element that is a dotted `fftoolkit.*` module name (`_spawn(["fftoolkit.bench.worker"], ...)`,
  where the "-m" is added elsewhere) -> kind "module-name".

Each target is mapped to its package (`fftoolkit.runtime.graph` -> runtime, third-party by its
top-level name) and checked against RULES. The one allowed exception: bench may name the torch
reference as the string `importlib.import_module("fftoolkit.reference")` (exactly that module,
nothing below it), because the reference registers its graph opener with the runtime when it
is imported and bench asks for `torch-fp32` by name; a static import would make bench depend
on torch.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "fftoolkit"

PACKAGES = {"data", "models", "ff", "train", "export", "runtime", "bench", "reference",
            "firmware", "cli"}
# Small modules at fftoolkit/ top level that every package may import: the untrusted-input
# rules, the one user-error type and the one seeded subset live in one place
# (docs/ARCHITECTURE.md). Standard library only, except numpy where a leaf is about arrays
# (numpy is on every side, the board's included; torch, onnx and Pillow are not).
LEAVES = {"errors", "atomic", "untrusted", "limits", "sampling"}
LEAF_THIRD_PARTY = {"numpy"}
ROOT = "fftoolkit"  # fftoolkit/__init__.py: only __version__, loaded by every import anyway
DRIVERS = {"demo", "__main__"}  # top-level entry points that may use the CLI
RUNTIME_THIRD_PARTY = {"numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime"}
TORCH = {"torch", "torchvision", "torchaudio"}
BENCH_REFERENCE_BY_NAME = "fftoolkit.reference"
MODULE_NAME = re.compile(r"fftoolkit(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
DASH_M = re.compile(r"(?:^|\s)-m\s+(fftoolkit(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
STDLIB = set(sys.stdlib_module_names)


@dataclass(frozen=True)
class Arrow:
    file: str  # relative to the repo root
    line: int
    target: str  # absolute dotted module name
    kind: str  # import | function-import | importlib | argv (after "-m") | module-name

    def __str__(self) -> str:
        return f"{self.file}:{self.line} -> {self.target} ({self.kind})"


# ---------------------------------------------------------------------------------- reading


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str | None, level: int, here: str, is_package: bool) -> str:
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _literal(body[0].value) is not None:
                ids.add(id(body[0].value))
    return ids


def read_arrows(source: str, file: str, module: str, is_package: bool = False) -> list[Arrow]:
    """Every module `source` (the text of `module`, shown as `file`) can make load."""
    tree = ast.parse(source, filename=file)
    arrows: list[Arrow] = []
    docstrings = _docstrings(tree)

    def visit(node: ast.AST, in_function: bool) -> None:
        kind = "function-import" if in_function else "import"
        if isinstance(node, ast.Import):
            arrows.extend(Arrow(file, node.lineno, a.name, kind) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(node.module, node.level, module, is_package)
                    if node.level else node.module or "")
            for alias in node.names:
                # `from fftoolkit import runtime` loads fftoolkit.runtime; `from fftoolkit.x
                # import name` loads fftoolkit.x (and fftoolkit.x.name if that is a module,
                # which maps to the same package).
                target = base
                if base == ROOT and alias.name != "*" and (
                        (SRC / alias.name).is_dir() or (SRC / f"{alias.name}.py").is_file()):
                    target = f"{base}.{alias.name}"
                arrows.append(Arrow(file, node.lineno, target, kind))
        elif isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name in ("import_module", "__import__", "find_spec", "run_module") and node.args:
                target = _literal(node.args[0])
                if target is not None:
                    if target.startswith("."):
                        pkg = next((_literal(k.value) for k in node.keywords
                                    if k.arg == "package"), None)
                        pkg = pkg or _literal(node.args[1]) if len(node.args) > 1 else pkg
                        level = len(target) - len(target.lstrip("."))
                        target = _resolve_relative(target.lstrip(".") or None, level,
                                                   pkg or module, True)
                    arrows.append(Arrow(file, node.lineno, target, "importlib"))
        elif isinstance(node, ast.List | ast.Tuple):
            elts = node.elts
            for i, elt in enumerate(elts):
                text = _literal(elt)
                if text is None:
                    continue
                after_m = i > 0 and _literal(elts[i - 1]) == "-m"
                if after_m or MODULE_NAME.fullmatch(text):
                    arrows.append(Arrow(file, elt.lineno, text,
                                        "argv" if after_m else "module-name"))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings):
            arrows.extend(Arrow(file, node.lineno, m, "argv")
                          for m in DASH_M.findall(node.value))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                          | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    # a string found both as "-m", X and as a module-like list element is one arrow
    return sorted(set(arrows), key=lambda a: (a.line, a.target, a.kind))


# ---------------------------------------------------------------------------------- rules


def package_of(module: str) -> str:
    """fftoolkit.runtime.graph -> runtime, fftoolkit.errors -> errors, fftoolkit -> fftoolkit,
    numpy.linalg -> numpy (third-party and stdlib by their top-level name)."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return parts[0]
    return parts[1] if len(parts) > 1 else ROOT


def is_fftk(module: str) -> bool:
    return module.split(".")[0] == ROOT


def _optional_pillow(arrow: Arrow) -> bool:
    """Pillow imported inside a function: the optional decoder for image files given to
    `fftk run` (and its pixel limit). A board without Pillow still runs .npy/.npz inputs."""
    return arrow.target.split(".")[0] == "PIL" and arrow.kind == "function-import"


def violation(src_pkg: str, arrow: Arrow) -> str | None:
    """Why `arrow`, from a module of package `src_pkg`, is not allowed (None if it is)."""
    target, dst = arrow.target, package_of(arrow.target)
    fftk = is_fftk(target)
    if fftk and dst not in PACKAGES | LEAVES | DRIVERS | {ROOT}:
        return f"unknown fftoolkit module {target}: add its package to docs/ARCHITECTURE.md " \
               f"and tests/test_architecture.py"
    if fftk and dst == "cli" and src_pkg not in {"cli", *DRIVERS}:
        return "nothing imports the CLI (it is the edge; library code raises FFTKError)"
    if fftk and dst in DRIVERS and src_pkg not in {"cli", *DRIVERS}:
        return f"only the CLI may start fftoolkit.{dst}"
    if src_pkg in LEAVES | {ROOT}:
        if fftk and dst not in LEAVES | {ROOT}:
            return f"fftoolkit.{src_pkg} is a shared leaf: it imports only other leaves"
        if not fftk and dst not in STDLIB | LEAF_THIRD_PARTY and not _optional_pillow(arrow):
            return f"fftoolkit.{src_pkg} is a shared leaf: standard library and numpy only, " \
                   f"not {dst}"
        return None
    if src_pkg == "runtime":
        if fftk:
            if dst in {"runtime", ROOT} | LEAVES:
                return None
            return f"runtime never imports fftoolkit.{dst} (runtime + shared leaves only)"
        if dst in STDLIB or dst in RUNTIME_THIRD_PARTY or _optional_pillow(arrow):
            return None
        if dst in TORCH | {"onnx", "PIL"}:
            return f"runtime never imports {dst} (the device side has no torch/onnx/Pillow)"
        return f"runtime imports only numpy/onnxruntime/ai_edge_litert/tflite_runtime and " \
               f"the standard library, not {dst}"
    if src_pkg == "export" and fftk and dst == "train":
        return "export never imports train (a checkpoint is a file: fftoolkit.models)"
    if src_pkg == "bench" and fftk:
        if dst in {"models", "ff", "train", "export", "cli", "data"}:
            return f"bench never imports fftoolkit.{dst} (bench measures bundles via runtime)"
        if dst == "reference":
            if arrow.kind == "importlib" and target == BENCH_REFERENCE_BY_NAME:
                return None  # the documented registration-by-name exception
            return "bench reaches the torch reference only by registration: " \
                   f"importlib.import_module({BENCH_REFERENCE_BY_NAME!r}), not {arrow.kind} " \
                   f"of {target}"
    if src_pkg == "data":
        if not fftk and dst in TORCH:
            return f"data never imports {dst} (numpy, Pillow and the standard library)"
        if fftk and dst not in {"data", ROOT} | LEAVES:
            return f"data never imports fftoolkit.{dst} (it is the bottom of the stack)"
    return None


def source_package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else (ROOT if rel.stem == "__init__" else rel.stem)


def scan(root: Path = SRC) -> tuple[int, list[str]]:
    """(files read, violations as 'file:line -> target (kind): reason')."""
    found, files = [], sorted(root.rglob("*.py"))
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        src_pkg = source_package(path)
        if src_pkg not in PACKAGES | LEAVES | DRIVERS | {ROOT}:
            found.append(f"{rel}: not in a known package ({src_pkg}): add it to "
                         "docs/ARCHITECTURE.md and tests/test_architecture.py")
            continue
        try:
            arrows = read_arrows(path.read_text(), rel, _module_of(path),
                                 is_package=path.name == "__init__.py")
        except SyntaxError as exc:
            found.append(f"{rel}:{exc.lineno}: cannot parse ({exc.msg})")
            continue
        for arrow in arrows:
            why = violation(src_pkg, arrow)
            if why:
                found.append(f"{arrow}: {why}")
    return len(files), found


# ---------------------------------------------------------------------------------- tests


def test_never_arrows():
    n, found = scan()
    assert n > 50, f"only {n} .py files under {SRC}: wrong root?"
    if found:  # one assertion, one line per arrow: file:line -> target (kind): rule
        raise AssertionError(f"{len(found)} forbidden import(s) (docs/ARCHITECTURE.md):\n  "
                             + "\n  ".join(found))


SNIPPET = textwrap.dedent('''
    """Docstring naming python -m fftoolkit.cli is prose, not an arrow."""
    import numpy as np
    from fftoolkit.errors import FFTKError
    from . import graph
    from ..models import spec

    def lazy():
        import torch
        from fftoolkit.train import load_checkpoint
        importlib.import_module("fftoolkit.reference")
        return import_module(".torch_graph", package="fftoolkit.reference")

    def spawn(module):
        cmd = [sys.executable, "-m", "fftoolkit.bench.worker", "--x"]
        start([sys.executable, "-m", *module])
        _spawn(["fftoolkit.runtime.worker"], {})
        return f"{sys.executable} -m fftoolkit.bench.probe 1 50"
''')


def _snippet_arrows(module: str = "fftoolkit.runtime.backends") -> dict[str, Arrow]:
    arrows = read_arrows(SNIPPET, "snippet.py", module)
    return {a.target: a for a in arrows}


def test_reader_catches_function_level_imports_and_importlib_strings():
    got = _snippet_arrows()
    assert got["torch"].kind == "function-import" and got["torch"].line == 9
    assert got["fftoolkit.train"].kind == "function-import"
    assert got["fftoolkit.reference"].kind == "importlib" and got["fftoolkit.reference"].line == 11
    assert got["fftoolkit.reference.torch_graph"].kind == "importlib"  # relative + package=
    assert got["numpy"].kind == "import" and got["fftoolkit.errors"].kind == "import"


def test_reader_resolves_relative_imports_and_argv_modules():
    got = _snippet_arrows()
    assert got["fftoolkit.runtime"].kind == "import"  # from . import graph (in runtime)
    assert "fftoolkit.models" in got  # from ..models import spec
    assert got["fftoolkit.bench.worker"].kind == "argv"  # "-m", "fftoolkit.bench.worker"
    assert got["fftoolkit.runtime.worker"].kind == "module-name"  # _spawn(["fftoolkit...."])
    assert got["fftoolkit.bench.probe"].kind == "argv"  # "... -m fftoolkit.bench.probe ..."
    assert "fftoolkit.cli" not in got  # the docstring


def test_rules_on_the_snippet():
    arrows = read_arrows(SNIPPET, "snippet.py", "fftoolkit.runtime.backends")
    bad = {a.target for a in arrows if violation("runtime", a)}
    assert bad == {"torch", "fftoolkit.train", "fftoolkit.reference", "fftoolkit.models",
                   "fftoolkit.reference.torch_graph", "fftoolkit.bench.worker",
                   "fftoolkit.bench.probe"}
    # bench: the reference by name only, exactly that module; never by static import
    bench = read_arrows(SNIPPET, "snippet.py", "fftoolkit.bench.bench")
    why = {a.target: violation("bench", a) for a in bench}
    assert why["fftoolkit.reference"] is None
    assert why["fftoolkit.reference.torch_graph"]  # a submodule by name is not the exception
    assert why["fftoolkit.train"] and why["fftoolkit.models"]
    static = Arrow("x.py", 1, "fftoolkit.reference", "import")
    assert violation("bench", static)
    assert violation("export", Arrow("x.py", 1, "fftoolkit.train.checkpoint", "function-import"))
    assert violation("models", Arrow("x.py", 1, "fftoolkit.cli.options", "import"))
    assert violation("cli", Arrow("x.py", 1, "fftoolkit.cli.options", "import")) is None
    assert violation("data", Arrow("x.py", 1, "torch", "import"))
    assert violation("data", Arrow("x.py", 1, "fftoolkit.models", "import"))
    assert violation("data", Arrow("x.py", 1, "fftoolkit.limits", "import")) is None
    assert violation("sampling", Arrow("x.py", 1, "numpy", "import")) is None
    assert violation("sampling", Arrow("x.py", 1, "torch", "import"))
    assert violation("errors", Arrow("x.py", 1, "onnx", "import"))
    assert violation("sampling", Arrow("x.py", 1, "fftoolkit.data", "import"))
    assert violation("runtime", Arrow("x.py", 1, "fftoolkit.sampling", "import")) is None
    assert violation("data", Arrow("x.py", 1, "fftoolkit.sampling", "import")) is None
