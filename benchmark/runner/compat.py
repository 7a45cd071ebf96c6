"""Make RecBole 1.2.1 run on today's stack (NumPy 2, torch >= 2.6, SciPy >= 1.15, pandas 3).

RecBole 1.2.1 is the newest release and predates all four. This module is the only place in the
suite that knows about that: `install()` applies each fix once, before any RecBole use, and is
idempotent. A fix either rewrites one RecBole method from its own source with exact text edits
(each edit must match, so a future RecBole that changed the line fails loudly here instead of
silently running unpatched code) or adds a missing attribute.
"""
from __future__ import annotations

import inspect
import sys
import textwrap
from contextlib import contextmanager

_INSTALLED = False


class CompatError(RuntimeError):
    """RecBole's source no longer matches what a fix expects."""


@contextmanager
def command_line_hidden():
    """RecBole's Config reads `--key=value` options from sys.argv; the suite's own command-line
    options are not RecBole's, so every Config is built with an empty command line."""
    saved = sys.argv[1:]
    sys.argv[1:] = []
    try:
        yield
    finally:
        sys.argv[1:] = saved


def rewrite_method(owner: type, name: str, edits: list[tuple[str, str]]) -> None:
    """Replace `owner.name` by its own source with each `old -> new` edit applied (all must match)."""
    function = owner.__dict__[name]
    source = textwrap.dedent(inspect.getsource(function))
    for old, new in edits:
        if old not in source:
            raise CompatError(f"{owner.__module__}.{owner.__name__}.{name}: expected text not found: {old!r}")
        source = source.replace(old, new)
    namespace: dict = {}
    exec(compile(source, inspect.getsourcefile(function), "exec"), function.__globals__, namespace)
    patched = namespace[name]
    patched.__qualname__ = function.__qualname__
    patched._dmrec_compat = True
    setattr(owner, name, patched)


def _numpy_aliases(config_self) -> None:
    """Replaces Config.compatibility_settings, which reads `np.float_` (gone in NumPy 2)."""
    import numpy as np

    for alias, target in {
        "bool": np.bool_, "int": np.int_, "float": np.float64, "complex": np.complex128,
        "object": np.object_, "str": np.str_, "long": np.int_, "unicode": np.str_,
    }.items():
        setattr(np, alias, target)


def _dok_update(self, mapping) -> None:
    """SciPy >= 1.15 dropped `dok_matrix._update`; RecBole's graph models build adjacency with it."""
    dict.update(self._dict, mapping)


RECBOLE_INSTALL = "pip install --no-deps recbole==1.2.1"  # without its stale pins (see pyproject.toml)


def require_recbole() -> None:
    """Raise CompatError naming the install command when RecBole is missing (before any trial starts)."""
    import importlib.util

    if importlib.util.find_spec("recbole") is None:
        raise CompatError(f"RecBole is not installed; install it with `{RECBOLE_INSTALL}`")


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    import scipy.sparse as sp
    from recbole.config import Config
    from recbole.data.dataset import Dataset
    from recbole.trainer import Trainer

    # NumPy 2: np.float_ & co. were removed; RecBole's metrics also read np.float directly.
    Config.compatibility_settings = _numpy_aliases
    _numpy_aliases(None)

    # SciPy >= 1.15.
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = _dok_update

    # pandas 3: Series.agg(len) returns the Series' length, not one length per row.
    for method in ("_normalize", "_discretization", "_remap"):
        if "agg(len)" in inspect.getsource(Dataset.__dict__[method]):
            rewrite_method(Dataset, method, [("feat[field].agg(len)", "feat[field].map(len)")])
    # pandas 3 copy-on-write: `feat[field].fillna(..., inplace=True)` modifies a copy.
    rewrite_method(Dataset, "_fill_nan", [
        ("feat[field].fillna(value=0, inplace=True)", "feat[field] = feat[field].fillna(value=0)"),
        ("feat[field].fillna(value=feat[field].mean(), inplace=True)",
         "feat[field] = feat[field].fillna(value=feat[field].mean())"),
    ])

    # torch >= 2.6 loads with weights_only=True: checkpoints must hold plain data, not the Config.
    # (the weights-only unpickler also rejects protocol 4's FRAME opcode, and numpy scalars).
    rewrite_method(Trainer, "_save_checkpoint", [
        ('"config": self.config,', ""),
        ('"best_valid_score": self.best_valid_score,', '"best_valid_score": float(self.best_valid_score),'),
        ("torch.save(state, saved_model_file, pickle_protocol=4)", "torch.save(state, saved_model_file)"),
    ])
    _INSTALLED = True
