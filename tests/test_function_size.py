"""Small pieces: no function or method of the packages is longer than MAX_LINES lines (its
`def` line to its last line, docstring included)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "dmrec", "baselines")
MAX_LINES = 60


def long_functions(root: Path = REPO, limit: int = MAX_LINES) -> list[str]:
    """'path:line name (n lines)' for every function longer than `limit` lines."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > limit:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_a_long_function_is_found(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "dmrec").mkdir()
    (tmp_path / "dmrec" / "long.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path) == [f"dmrec/long.py:5 long ({MAX_LINES + 1} lines)"]


def test_no_function_is_longer_than_the_limit():
    found = long_functions()
    assert not found, f"functions over {MAX_LINES} lines:\n" + "\n".join(found)
