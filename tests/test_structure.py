"""Structure rules: computing code goes through `xp`, and importing xpnet never loads CuPy."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPUTING = ["xpnet/layers", "xpnet/losses", "xpnet/optim", "xpnet/models", "xpnet/init.py"]
# Files whose purpose includes host IO may hold `import numpy as host` (and nothing else from NumPy):
# init.py draws random weights on the host so one seed gives the same weights on CPU and GPU; it moves the
# results with `asarray` and never computes on device data.
HOST_ALLOWED = {"xpnet/init.py"}


def _sources():
    for entry in COMPUTING:
        path = ROOT / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(path.rglob("*.py"))


def _array_imports(tree):
    """(line, text) of every import that reaches NumPy or CuPy directly."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("numpy", "cupy"):
                    yield node.lineno, f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] in ("numpy", "cupy"):
            yield node.lineno, f"from {node.module} import ..."


def test_computing_code_imports_no_array_library():
    sources = list(_sources())
    assert {str(p.relative_to(ROOT)) for p in sources} >= HOST_ALLOWED and len(sources) > 5
    bad = []
    for path in sources:
        rel = str(path.relative_to(ROOT).as_posix())
        for line, text in _array_imports(ast.parse(path.read_text(), rel)):
            if not (rel in HOST_ALLOWED and text == "import numpy as host"):
                bad.append(f"{rel}:{line}: {text}")
    assert not bad, "compute through xpnet.backend.xp, not NumPy/CuPy directly:\n" + "\n".join(bad)


def test_the_checker_sees_every_import_form():
    code = "import numpy\nimport cupy as cp\nfrom numpy.linalg import qr\ndef f():\n    import numpy as host\n"
    assert [t for _, t in _array_imports(ast.parse(code))] == [
        "import numpy", "import cupy as cp", "from numpy.linalg import ...", "import numpy as host"]


@pytest.mark.parametrize("requested", ["cpu", "auto"])
def test_import_xpnet_does_not_import_cupy(requested):
    code = "import sys, xpnet; xpnet.backend.get_default_dtype(); print('cupy' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "XPNET_BACKEND": requested})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def _imported_modules(path, tree):
    """The absolute names of the xpnet modules that file `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def test_the_framework_never_imports_the_command_line():
    """The command line (xpnet/cli) is the workshop around the framework: it imports the framework, never the
    other way round, so every part of xpnet works without it."""
    framework = [p for p in sorted((ROOT / "xpnet").rglob("*.py"))
                 if "cli" not in p.relative_to(ROOT).parts[1:2] and p.name != "__main__.py"]
    assert len(framework) > 50
    bad = [f"{p.relative_to(ROOT)} imports {name}" for p in framework
           for name in _imported_modules(p, ast.parse(p.read_text()))
           if name == "xpnet.cli" or name.startswith("xpnet.cli.")]
    assert not bad, "\n".join(bad)


def test_the_import_reader_resolves_relative_imports():
    path = ROOT / "xpnet" / "bench" / "training.py"
    tree = ast.parse("from ..cli import options\nfrom . import timing\nimport xpnet.cli.train\n")
    names = set(_imported_modules(path, tree))
    assert {"xpnet.cli", "xpnet.cli.options", "xpnet.bench", "xpnet.bench.timing", "xpnet.cli.train"} <= names
