"""The house: src/evalpin's packages in layers, each importing only the ones below it; no import circle
between modules (imports inside functions included); short modules and functions. docs/development.md
draws the same map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "evalpin"
# Bottom to top: a package may import its own modules and those of the packages before it.
LAYERS = (
    "base",
    "delivery",
    "suite",
    "config",
    "signing",
    "pinning",
    "serving",
    "evaluation",
    "results",
    "registry",
    "template",
    "api",
    "cli",
)
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 50


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The evalpin modules `name` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}: a relative import; evalpin imports absolutely"
            base = node.module or ""
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    trees = modules()
    return {name: imported(name, tree, set(trees)) for name, tree in trees.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_each_package_imports_only_the_packages_below_it():
    upward = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)
    ]
    assert upward == [], "imports against the layers (tests/test_architecture.py LAYERS)"


def test_no_import_circle_between_modules():
    edges = graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            if component:
                circles.append(sorted([node, *component]))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    parents = {m.rsplit(".", 1)[0] for m in edges}  # a package's __init__ re-exporting its modules
    circles = [c for c in circles if not (set(c) & parents)]
    assert circles == []


def test_the_cli_calls_only_the_api():
    """A handler parses, calls evalpin.api and prints: the logic is behind the api (tests/test_api.py)."""
    allowed = {"evalpin", "evalpin.api", "evalpin.base.errors"}  # evalpin: its __version__
    beside = {
        f"{a} -> {b}"
        for a, targets in graph().items()
        if a == "evalpin.cli" or a.startswith("evalpin.cli.")
        for b in targets
        if b not in allowed and not b.startswith("evalpin.cli.")
    }
    assert beside == set(), "evalpin.cli imports only evalpin.api (and its errors, its own modules)"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_short(path: Path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path}: split it by concept"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{path}: functions over {MAX_FUNCTION_LINES} lines"


# Modules whose tests live elsewhere, and where: each module with logic has a test module of its own.
COVERED_ELSEWHERE = {
    "base/errors": "exceptions and exit codes, exercised by every command: tests/test_cli.py",
    "base/outs": "the pipeline's output paths, constants only",
    "base/onednn_linear": "tests/base/test_numerics.py (its route, its bytes under qemu)",
}


def test_tests_mirror_the_packages():
    """tests/PACKAGE/test_MODULE.py for each module of src/evalpin/PACKAGE/; cli/ and the signing package
    are tested through their commands and verbs (tests/test_cli.py, tests/test_api.py,
    tests/signing/test_signing.py)."""
    tests = SRC.parent / "tests"
    missing = []
    for path in sorted(PACKAGE.glob("*/*.py")):
        package, module = path.parent.name, path.stem
        if module == "__init__" or package in ("cli", "signing"):
            continue
        if (
            not (tests / package / f"test_{module}.py").is_file()
            and f"{package}/{module}" not in COVERED_ELSEWHERE
        ):
            missing.append(f"{package}/{module}")
    assert missing == [], "modules without tests/PACKAGE/test_MODULE.py"
    folders = {
        p.name
        for p in tests.iterdir()
        if p.is_dir()
        and p.name != "support"
        and not p.name.startswith(("_", "."))
        and p.suffix != ".egg-info"
    }
    assert folders <= set(LAYERS), f"test folders that are no package: {sorted(folders - set(LAYERS))}"
