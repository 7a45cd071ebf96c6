"""The packages' import graph, read from the source with `ast`: layers import only downward, and
no module cycle.

The layers, lowest first, are folders (docs/architecture.md):

    core     benchmark/core/ (and the package's own __init__)        imports nothing of ours
    models   dmrec/, baselines/                                        core
    data     benchmark/data/                                           models, core
    runner   benchmark/runner/                                         data, models, core
    top      benchmark/analysis/, tuning/, perf/, every command line   anything below
             (benchmark/run.py, tune.py, ... and each `__main__`)

Every `import` and `from ... import` counts wherever it is written (module level or inside a
function: a lazy import still ties two modules together), except under `if TYPE_CHECKING:`, which
never runs. `from package import name` is an edge to `package.name` when that is a module, else
to `package` itself.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "dmrec", "baselines")


LAYERS = ("core", "models", "data", "runner", "top")
LAYER_PREFIXES = (("benchmark.core", "core"), ("dmrec", "models"), ("baselines", "models"),
                  ("benchmark.data", "data"), ("benchmark.runner", "runner"))


def layer_of(module: str) -> str:
    """The layer a module belongs to, read from its folder; a command line (`__main__`) is top."""
    if module == "benchmark":
        return "core"
    if module.endswith(".__main__"):
        return "top"
    for prefix, layer in LAYER_PREFIXES:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "top"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """'a (layer) -> b (higher layer)' for every import that climbs."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [f"{module} ({layer_of(module)}) -> {target} ({layer_of(target)})"
            for module in sorted(graph) for target in sorted(graph[module])
            if rank[layer_of(target)] > rank[layer_of(module)]]


def module_files(root: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages (namespace folders included)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is one of our modules (None: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                targets.add(target)
    return targets


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    modules = module_files(root)
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path a -> ... -> a) per strongly connected component of size > 1."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:  # Tarjan; the graph has a few hundred nodes, recursion is fine
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        # breadth-first search inside the component for the shortest way back to `start`
        parents: dict[str, str] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for node in frontier:
                for succ in sorted(graph[node] & members):
                    if succ == start:
                        found = node
                        break
                    if succ not in parents:
                        parents[succ] = node
                        nxt.append(succ)
                if found is not None:
                    break
            frontier = nxt
        path = [found]
        while path[-1] != start:
            path.append(parents[path[-1]])
        cycles.append([*reversed(path), start])
    return cycles


def test_finds_a_known_cycle_and_accepts_a_tree():
    """The detector itself: a planted cycle is found as a closed path; a DAG has none."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_relative_and_submodule_imports_are_edges(tmp_path):
    """`from . import x` and `from pkg import submodule` inside a function count; TYPE_CHECKING does not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from benchmark import store\n"
        "def f():\n    from . import grid\n    from benchmark.data import validate\n"
    )
    path = tmp_path / "run.py"
    path.write_text(source)
    modules = {"benchmark": path, "benchmark.run": path, "benchmark.grid": path, "benchmark.store": path,
               "benchmark.data": path, "benchmark.data.validate": path}
    assert imports_of("benchmark.run", path, modules) == {"benchmark.grid", "benchmark.data.validate"}


def test_the_packages_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50, "the package scan found too few modules"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_every_import_goes_down_the_layers():
    graph = import_graph()
    assert {layer_of(module) for module in graph} == set(LAYERS)
    climbing = upward_imports(graph)
    assert not climbing, "imports that climb a layer:\n" + "\n".join(climbing)


def test_a_planted_upward_import_fails_the_layer_check(tmp_path):
    """A copy of the packages with one model importing the analysis: the check names that edge."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    planted = tmp_path / "dmrec" / "models" / "base.py"
    planted.write_text(planted.read_text() + "\n\ndef _planted():\n    from benchmark.analysis import report\n")
    before = set(upward_imports(import_graph(REPO)))
    climbing = set(upward_imports(import_graph(tmp_path)))
    assert climbing - before == {"dmrec.models.base (models) -> benchmark.analysis.report (top)"}


def test_layers_are_read_from_folders():
    assert layer_of("benchmark.core.paper") == "core" and layer_of("benchmark") == "core"
    assert layer_of("baselines.registry") == "models" and layer_of("dmrec.matchers") == "models"
    assert layer_of("benchmark.data.layout") == "data" and layer_of("benchmark.data.__main__") == "top"
    assert layer_of("benchmark.runner.training.trainer") == "runner"
    assert layer_of("benchmark.analysis.report") == "top" and layer_of("benchmark.run") == "top"
