"""The one place that unpickles: RLMRec ships its splits, vectors and profiles as pickles, and a
pickle can run arbitrary code on load. This unpickler resolves only the numpy and scipy classes
those files are made of (current and legacy module paths); any other global is refused before it
is imported, so a hostile file fails with an error instead of executing."""
from __future__ import annotations

import pickle
from pathlib import Path

from benchmark.data.prepared import DataError

_NUMPY = {"ndarray", "dtype"}
_MULTIARRAY = {"_reconstruct", "scalar"}
_NUMERIC = {"_frombuffer"}
_SPARSE_FORMATS = {
    "csr": {"csr_matrix", "csr_array"},
    "csc": {"csc_matrix", "csc_array"},
    "coo": {"coo_matrix", "coo_array"},
}
_ALLOWED: dict[str, set[str]] = {
    "numpy": _NUMPY,
    "numpy._core.multiarray": _MULTIARRAY, "numpy.core.multiarray": _MULTIARRAY,
    "numpy._core.numeric": _NUMERIC, "numpy.core.numeric": _NUMERIC,
    "scipy.sparse": set().union(*_SPARSE_FORMATS.values()),
    # protocol 0/2 pickles encode bytes through _codecs.encode; protocol 0/1 rebuild objects
    # through copyreg._reconstructor(cls, object, state), where cls is itself checked here
    "_codecs": {"encode"},
    "copyreg": {"_reconstructor"}, "copy_reg": {"_reconstructor"},
    "builtins": {"object", "set", "frozenset"}, "__builtin__": {"object", "set", "frozenset"},
}
for _fmt, _names in _SPARSE_FORMATS.items():
    _ALLOWED[f"scipy.sparse._{_fmt}"] = _names  # scipy >= 1.8
    _ALLOWED[f"scipy.sparse.{_fmt}"] = _names  # older scipy wrote the public module path


def _resolve(module: str, name: str):
    if module == "numpy":
        import numpy
        return getattr(numpy, name)
    if module.endswith(".multiarray"):
        from numpy._core import multiarray
        return getattr(multiarray, name)
    if module.endswith(".numeric"):
        from numpy._core import numeric
        return getattr(numeric, name)
    if module.startswith("scipy.sparse"):
        import scipy.sparse
        return getattr(scipy.sparse, name)
    if module == "_codecs":
        import codecs
        return codecs.encode
    if module in ("copyreg", "copy_reg"):
        import copyreg
        return copyreg._reconstructor
    return {"object": object, "set": set, "frozenset": frozenset}[name]


class _NumpyScipyUnpickler(pickle.Unpickler):
    def __init__(self, handle, path: Path):
        super().__init__(handle)
        self._path = path

    def find_class(self, module: str, name: str):
        if name in _ALLOWED.get(module, ()):
            return _resolve(module, name)
        raise DataError(
            f"{self._path}: refused to unpickle {module}.{name} (only numpy arrays, scipy sparse "
            "matrices and plain containers are allowed in an RLMRec data file)"
        )

    def persistent_load(self, pid):
        raise DataError(f"{self._path}: refused to unpickle a persistent reference ({pid!r})")


def load_untrusted_pickle(path: str | Path):
    """The object stored in `path`, built from numpy/scipy data and plain containers only."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _NumpyScipyUnpickler(handle, path).load()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
