"""The package's layers (ARCHITECTURE.md), checked on every module's imports.

Every ``import`` of the package is read with :mod:`ast`, at module level and inside functions:
a module may import its own layer and the layers below it, never a layer above or a sibling of
the same rank, and no two modules may need each other at run time (an import cycle). Imports
under ``if TYPE_CHECKING:`` count for the layers (an annotation is a dependency of the design)
but not for cycles (they never run).

``KNOWN_VIOLATIONS`` lists what the code breaks today. The test fails on a violation not in
the list, and on a listed one that is gone, so the list can only shrink: delete the entry in
the commit that fixes it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"


@dataclass(frozen=True)
class Layer:
    """``modules``: module names, or package prefixes ending in ``.``; ``"grassroots._"`` alone
    stands for every private top-level helper module (``grassroots._io``, ...)."""

    name: str
    rank: int
    modules: tuple[str, ...]


# Bottom to top; the same table as ARCHITECTURE.md. Equal ranks are siblings: neither may
# import the other.
LAYERS = (
    Layer("foundation", 0, ("grassroots", "grassroots._")),
    Layer("data", 1, ("grassroots.data.",)),
    Layer("models", 2, ("grassroots.models.",)),
    Layer("inference", 3, ("grassroots.inference.",)),
    Layer("estimands", 4, ("grassroots.estimands.",)),
    Layer("reporting", 5, ("grassroots.reporting.",)),
    Layer("validation", 5, ("grassroots.validation.",)),
    Layer("pipeline", 6, ("grassroots.pipeline",)),
    Layer("cli", 7, ("grassroots.cli", "grassroots.__main__")),
)

# What the code breaks today (see the module docstring). Remove an entry once it is fixed.
KNOWN_VIOLATIONS = {
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int
    type_checking_only: bool

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def package_imports(src: Path, package: str) -> list[Import]:
    """Every import of ``package`` by a module of it under ``src``, at any depth of the code.

    ``from a.b import c`` is an import of the module ``a.b.c`` when there is one, else of
    ``a.b``; relative imports are resolved against the importing module.
    """
    paths = sorted((src / package).rglob("*.py"))
    modules = {module_name(path, src) for path in paths}
    found = []
    for path in paths:
        importer = module_name(path, src)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        type_checking = _type_checking_lines(tree)
        own_package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in dict.fromkeys(targets):
                if target == package or target.startswith(f"{package}."):
                    found.append(
                        Import(importer, target, path, node.lineno, node.lineno in type_checking)
                    )
    return found


def layer_of(module: str, layers: Sequence[Layer]) -> Layer | None:
    """The layer whose entry matches ``module`` most specifically, ``None`` when none does."""
    best: tuple[int, Layer] | None = None
    for layer in layers:
        for entry in layer.modules:
            if entry.endswith("._"):
                package = entry[:-2]
                matches = module.startswith(f"{package}._") and module.count(".") == entry.count(
                    "."
                )
            elif entry.endswith("."):
                matches = module == entry[:-1] or module.startswith(entry)
            else:
                matches = module == entry
            if matches and (best is None or len(entry) > best[0]):
                best = (len(entry), layer)
    return None if best is None else best[1]


def unplaced_modules(imports: Iterable[Import], modules: Iterable[str], layers) -> list[str]:
    named = set(modules) | {item.imported for item in imports}
    return sorted(module for module in named if layer_of(module, layers) is None)


def layer_violations(imports: Iterable[Import], layers: Sequence[Layer]) -> dict[str, list[str]]:
    """``"layer: importer (its layer) imports imported (its layer)"`` -> where it happens."""
    violations: dict[str, list[str]] = {}
    for item in imports:
        source, target = layer_of(item.importer, layers), layer_of(item.imported, layers)
        if source is None or target is None or source == target or target.rank < source.rank:
            continue
        key = f"layer: {item.importer} ({source.name}) imports {item.imported} ({target.name})"
        violations.setdefault(key, []).append(item.where)
    return violations


def import_cycles(imports: Iterable[Import]) -> dict[str, list[str]]:
    """``"cycle: a <-> b <-> ..."`` (the modules of one strongly connected component, sorted)
    -> the imports inside it, for every set of modules that need each other at run time."""
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for item in imports:
        if item.type_checking_only or item.importer == item.imported:
            continue
        graph.setdefault(item.importer, set()).add(item.imported)
        graph.setdefault(item.imported, set())
        where.setdefault((item.importer, item.imported), []).append(item.where)
    cycles = {}
    for component in _strongly_connected(graph):
        if len(component) > 1:
            members = sorted(component)
            edges = [
                f"{a} -> {b} ({', '.join(where[a, b])})"
                for a in members
                for b in sorted(graph[a] & component)
            ]
            cycles["cycle: " + " <-> ".join(members)] = edges
    return cycles


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative so that a deep package cannot hit the recursion limit."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def violations(src: Path, package: str, layers: Sequence[Layer]) -> dict[str, list[str]]:
    imports = package_imports(src, package)
    return layer_violations(imports, layers) | import_cycles(imports)


# --- the package itself -------------------------------------------------------------------


def test_every_module_belongs_to_a_layer() -> None:
    imports = package_imports(SRC, "grassroots")
    modules = {module_name(path, SRC) for path in (SRC / "grassroots").rglob("*.py")}
    assert unplaced_modules(imports, modules, LAYERS) == [], (
        "place these modules in a layer of LAYERS here and of ARCHITECTURE.md"
    )


def test_no_import_breaks_the_layers_beyond_the_known_violations() -> None:
    found = violations(SRC, "grassroots", LAYERS)
    new = {key: found[key] for key in sorted(found.keys() - KNOWN_VIOLATIONS)}
    assert not new, (
        "imports against ARCHITECTURE.md (a lower layer importing a higher one, or a cycle); "
        "move the code to the layer that owns it:\n"
        + "\n".join(f"{key}\n    at {'; '.join(places)}" for key, places in new.items())
    )


def test_known_violations_still_exist() -> None:
    fixed = sorted(KNOWN_VIOLATIONS - violations(SRC, "grassroots", LAYERS).keys())
    assert not fixed, (
        "fixed, well done: delete these entries from KNOWN_VIOLATIONS in "
        "tests/test_architecture.py so that they cannot come back:\n" + "\n".join(fixed)
    )


# --- the checker, on a package made for the purpose ---------------------------------------

TOY_LAYERS = (
    Layer("base", 0, ("toy", "toy._")),
    Layer("low", 1, ("toy.low.",)),
    Layer("high", 2, ("toy.high.",)),
    Layer("left", 3, ("toy.left",)),
    Layer("right", 3, ("toy.right",)),
)


def _toy_package(root: Path, files: Mapping[str, str]) -> Path:
    for name, code in {
        "toy/__init__.py": "",
        "toy/_util.py": "",
        "toy/low/__init__.py": "",
        "toy/high/__init__.py": "",
        **files,
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    return root


def test_checker_accepts_imports_downwards(tmp_path: Path) -> None:
    src = _toy_package(
        tmp_path,
        {
            "toy/low/a.py": "from toy import _util\n",
            "toy/high/b.py": "from toy.low import a\nfrom . import c\n",
            "toy/high/c.py": "import toy.low.a\n",
            "toy/left.py": "from toy.high.b import thing\n",
        },
    )
    assert violations(src, "toy", TOY_LAYERS) == {}


def test_checker_catches_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    src = _toy_package(
        tmp_path,
        {
            "toy/low/a.py": "def f():\n    from ..high import b\n    return b\n",
            "toy/high/b.py": "",
        },
    )
    found = violations(src, "toy", TOY_LAYERS)
    assert found == {
        "layer: toy.low.a (low) imports toy.high.b (high)": [f"{src / 'toy/low/a.py'}:2"]
    }


def test_checker_catches_a_sibling_import_and_a_type_only_upward_import(tmp_path: Path) -> None:
    src = _toy_package(
        tmp_path,
        {
            "toy/left.py": "import toy.right\n",
            "toy/right.py": "",
            "toy/low/a.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.high import b\n"
            ),
            "toy/high/b.py": "",
        },
    )
    assert set(violations(src, "toy", TOY_LAYERS)) == {
        "layer: toy.left (left) imports toy.right (right)",
        "layer: toy.low.a (low) imports toy.high.b (high)",
    }


def test_checker_catches_a_cycle_within_a_layer(tmp_path: Path) -> None:
    src = _toy_package(
        tmp_path,
        {
            "toy/low/a.py": "from toy.low.b import x\n",
            "toy/low/b.py": "def g():\n    from toy.low.c import y\n",
            "toy/low/c.py": "import toy.low.a\n",
            # A cycle through annotations only never runs: not reported.
            "toy/low/d.py": "from toy.low.e import x\n",
            "toy/low/e.py": "import typing\nif typing.TYPE_CHECKING:\n    from toy.low import d\n",
        },
    )
    found = violations(src, "toy", TOY_LAYERS)
    assert list(found) == ["cycle: toy.low.a <-> toy.low.b <-> toy.low.c"]
    assert found["cycle: toy.low.a <-> toy.low.b <-> toy.low.c"][1] == (
        f"toy.low.b -> toy.low.c ({src / 'toy/low/b.py'}:2)"
    )


def test_checker_names_a_module_outside_every_layer(tmp_path: Path) -> None:
    src = _toy_package(tmp_path, {"toy/stray.py": "", "toy/_private/deep.py": ""})
    modules = {module_name(path, src) for path in (src / "toy").rglob("*.py")}
    imports = package_imports(src, "toy")
    assert unplaced_modules(imports, modules, TOY_LAYERS) == ["toy._private.deep", "toy.stray"]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("grassroots", "foundation"),
        ("grassroots._io", "foundation"),
        ("grassroots.data", "data"),
        ("grassroots.estimands._engine", "estimands"),
        ("grassroots.cli", "cli"),
        ("grassroots.pipeline", "pipeline"),
    ],
)
def test_modules_are_placed_in_their_layers(module: str, layer: str) -> None:
    placed = layer_of(module, LAYERS)
    assert placed is not None and placed.name == layer
