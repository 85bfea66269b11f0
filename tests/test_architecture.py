"""The house rules of STYLE.md §1, checked on the source: layers and no import cycles.

Every ``import`` counts, wherever it stands (module level, ``TYPE_CHECKING`` blocks, inside a
function): a cycle hidden behind a lazy import is still two modules that cannot be understood,
tested or replaced one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sagemaker_rt_async"

# Layer 0: stdlib only (no I/O library, no clock or environment read implicitly).
LAYER0 = {
    "_errors",
    "_models",
    "_eventstream",
    "_sigv4",
    "_endpoints",
    "_retry",
    "_framing",
    "_bearer",
    "_tokens",
}
# Only the engines import an HTTP library.
HTTP_LIBRARIES = {"aiohttp", "httpx", "httpx2", "httpcore", "h2", "yarl"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_imports(tree: ast.AST) -> set[int]:
    """The ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every module of ours (and every top-level package) ``path`` imports, resolved.

    ``runtime_only`` leaves out imports made for type annotations (``if TYPE_CHECKING:``).
    """
    tree = ast.parse(path.read_text())
    skip = _type_checking_imports(tree) if runtime_only else set()
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            for alias in node.names:  # ``from . import x`` may name a submodule
                found.add(f"{module}.{alias.name}")
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or around a loop.

    (The package's ``__init__`` modules re-export and are left out: importing a submodule
    always runs its package's ``__init__`` first, which is not a dependency of design.)
    """
    graph = _graph()
    inits = {m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    pruned = {m: deps - inits for m, deps in graph.items() if m not in inits}
    assert _cycles(pruned) == []


def test_layer0_imports_nothing_of_ours_above_it() -> None:
    """Layer-0 modules import only other layer-0 modules (and the standard library)."""
    graph = _graph()
    for name in LAYER0:
        ours = {m.rsplit(".", 1)[-1] for m in graph[f"sagemaker_rt_async.{name}"]}
        assert ours <= LAYER0 | {"_version"}, (name, ours - LAYER0)


def test_only_engines_import_http_libraries() -> None:
    """aiohttp, httpx(2), httpcore, h2 and yarl are imported by the engines (and the test
    kit's fakes, which speak HTTP) only; the client names ``httpx.AsyncClient`` in its
    signature (``http_client=``), for type checkers alone."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if name.startswith(("sagemaker_rt_async._engines", "sagemaker_rt_async.testing")):
            continue
        tops = {m.split(".")[0] for m in _imports(path, runtime_only=True)}
        if tops & HTTP_LIBRARIES:
            offenders.append((name, sorted(tops & HTTP_LIBRARIES)))
    assert offenders == []


def test_features_do_not_import_the_client() -> None:
    """Batch, sessions and async inference depend on a small protocol, not on the client."""
    graph = _graph()
    for name in ("_batch", "_sessions", "_async_inference", "_openai"):
        assert "sagemaker_rt_async._client" not in graph[f"sagemaker_rt_async.{name}"], name


def test_every_exception_class_lives_in_errors() -> None:
    """The whole exception tree is defined in ``_errors`` (one place to read it)."""
    offenders = []
    for path in PACKAGE.glob("*.py"):
        if path.name == "_errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # A private control-flow exception (the CLI's usage error) is no part of the tree.
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {ast.unparse(b) for b in node.bases}
                if any(b.endswith(("Error", "Exception", "Failure", "Timeout")) for b in bases):
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []
