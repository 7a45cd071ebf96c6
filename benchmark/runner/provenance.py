"""Which code made a record: a content hash of the source that determines one model's results.

A trial's id hashes its config and data, not the code, so a record made by other code keeps its
id. The runner tells such records apart by `code_hash`: a sha256 over the sorted (path, bytes) of

    - the model's module and every repo module it imports, transitively (an AST scan of `import`
      and `from` statements, those inside functions included, limited to benchmark/dmrec/baselines),
    - the same closure for the trial code (`benchmark/runner/trial.py`, `benchmark/runner/config.py`), the
      training loop (`benchmark/runner/training/**`) and the data preparation (`benchmark/data/**`),
    - the yaml beside each of those modules, the model's defaults yaml (and every yaml it `extends`)
      and `benchmark/runner/protocol.yaml`, each hashed as its parsed values without the `search:` section,
      so a comment or a tuning range (`python -m benchmark.tune`) never makes a record stale.

Left out on purpose (they cannot change a number): the analysis, the runner's command line,
scheduling, progress and storage code, docs and tests. So an edit to one model's file makes only
that model's trials stale.
"""
from __future__ import annotations

import ast
import hashlib
import json
from functools import cache
from pathlib import Path

import yaml

from baselines.registry import get_spec
from benchmark.core.paths import REPO_ROOT
from benchmark.runner.checkout import is_dirty, source_commit

PACKAGES = ("benchmark", "dmrec", "baselines")
# modules that decide nothing about a trial's numbers, and are not followed when imported
EXCLUDED = ("benchmark.analysis", "benchmark.run", "benchmark.runner.schedule", "benchmark.runner.progress",
            "benchmark.runner.store", "benchmark.runner.execute", "benchmark.runner.provenance", "benchmark.perf",
            "baselines.registry")  # the registry: the module a name points to is hashed itself
ROOT_MODULES = ("benchmark.runner.trial", "benchmark.runner.config")
ROOT_FOLDERS = ("benchmark/core", "benchmark/runner/training", "benchmark/data")
EXTRA_FILES = ("benchmark/runner/protocol.yaml",)


def _excluded(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in EXCLUDED)


def _module_file(module: str, root: Path) -> Path | None:
    """The repo file of a dotted module name, or None outside the repo's packages."""
    if module.split(".")[0] not in PACKAGES or _excluded(module):
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Dotted names a module imports anywhere in its body (parents included: importing a.b runs a)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    with_parents = set()
    for name in names:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return with_parents


def code_files(model: str, root: Path = REPO_ROOT) -> list[Path]:
    """Every file whose bytes can change a trial of `model`, sorted."""
    spec = get_spec(model)
    target = spec.target if isinstance(spec.target, str) else f"{spec.target.__module__}:"
    starts = [target.partition(":")[0], *ROOT_MODULES]
    for folder in ROOT_FOLDERS:
        starts += [_module_name(p, root) for p in sorted((root / folder).rglob("*.py"))]
    seen: set[Path] = set()
    queue = [f for f in (_module_file(m, root) for m in starts) if f is not None]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path, root):
            found = _module_file(name, root)
            if found is not None and found not in seen:
                queue.append(found)
    files = set(seen)
    files.update(p.with_suffix(".yaml") for p in seen if p.with_suffix(".yaml").is_file())
    files.update(root / extra for extra in EXTRA_FILES if (root / extra).is_file())
    from benchmark.runner.config import defaults_files  # the `extends` chain of the model's yaml

    files.update(path.resolve() for path in defaults_files(model) if path.is_file())
    return sorted(files)


def hashed_content(path: Path) -> bytes:
    """What of a file can change a trial: a module's bytes; a yaml's parsed values without its
    `search:` section (comments and tuning ranges cannot change a number)."""
    data = path.read_bytes()
    if path.suffix != ".yaml":
        return data
    content = yaml.safe_load(data) or {}
    if isinstance(content, dict):
        content.pop("search", None)
    return json.dumps(content, sort_keys=True, default=str).encode()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # a user model outside the repo: its absolute path is part of its identity
        return path.resolve().as_posix()


@cache
def code_provenance(model: str, root: Path = REPO_ROOT) -> dict:
    """{"commit", "dirty", "code_hash", "code_files"} for `model`, computed once per process.

    `dirty` is True when git reports a change to any of those files (None outside a git checkout)."""
    files = code_files(model, root)
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: _relative(p, root)):
        name, data = _relative(path, root).encode(), hashed_content(path)
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    inside = [_relative(p, root) for p in files if not Path(_relative(p, root)).is_absolute()]
    return {"commit": source_commit(root),
            "dirty": is_dirty(*inside, root=root),
            "code_hash": digest.hexdigest(), "code_files": len(files)}


def is_stale(record: dict) -> bool:
    """A record made by other code than today's for its model (or with no provenance at all)."""
    stored = record.get("provenance")
    if not isinstance(stored, dict) or not isinstance(stored.get("code_hash"), str):
        return True
    model = record.get("config", {}).get("model")
    try:
        return stored["code_hash"] != code_provenance(model)["code_hash"]
    except KeyError:  # a model no longer registered: nothing today can reproduce it
        return True
