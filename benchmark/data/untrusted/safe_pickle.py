"""The one place that unpickles: RLMRec ships its splits, vectors and profiles as pickles, and a
pickle can run arbitrary code on load, or build objects no library would (an array over
uninitialised memory, a sparse matrix whose index arrays point past their data).

So this unpickler (the pure-Python one, whose opcodes can be checked one by one)
- resolves only the numpy and scipy names those files are made of (current and legacy module
  paths); any other global is refused before it is imported;
- calls nothing but the few constructors numpy itself pickles through, each with its arguments
  checked: an array only as `_reconstruct(ndarray, (0,), b'b')` followed by a state whose bytes
  are exactly shape x itemsize, or as `_frombuffer` of exactly that many bytes; calling
  `ndarray(shape, dtype)` directly is refused, as are object and structured dtypes;
- rebuilds every sparse matrix (CSR, CSC, COO) from its arrays only after checking them with
  plain numpy: shape, index dtypes, `indptr` from 0 rising to nnz, indices in range, finite data.
  No scipy routine ever sees an unchecked matrix (a bad `indptr` crashed scipy outright).
Every refusal is one DataError naming the file.
"""
from __future__ import annotations

import codecs
import math
import pickle
import struct
from pathlib import Path
from typing import ClassVar

import numpy as np

from benchmark.core.errors import DataError

MAX_SPARSE_DIM = 2**31 - 1  # rows or columns of a sparse matrix
_ARRAY_KINDS = "biufcUS"  # booleans, numbers, fixed-width text: no objects, no raw records
_SPARSE_FORMATS = {
    "csr": {"csr_matrix", "csr_array"},
    "csc": {"csc_matrix", "csc_array"},
    "coo": {"coo_matrix", "coo_array"},
}
_MULTIARRAY = {"_reconstruct", "scalar"}
_NUMERIC = {"_frombuffer"}
_ALLOWED: dict[str, set[str]] = {
    "numpy": {"ndarray", "dtype"},
    "numpy._core.multiarray": _MULTIARRAY, "numpy.core.multiarray": _MULTIARRAY,
    "numpy._core.numeric": _NUMERIC, "numpy.core.numeric": _NUMERIC,
    "scipy.sparse": set().union(*_SPARSE_FORMATS.values()),
    # protocol 0/2 pickles encode bytes through _codecs.encode; protocol 0/1 rebuild objects
    # through copyreg._reconstructor(cls, object, state), where cls is itself checked here
    "_codecs": {"encode"},
    "copyreg": {"_reconstructor"}, "copy_reg": {"_reconstructor"},
    "builtins": {"object", "set", "frozenset", "bytes", "bytearray"},
    "__builtin__": {"object", "set", "frozenset", "bytes", "bytearray"},
}
for _fmt, _names in _SPARSE_FORMATS.items():
    _ALLOWED[f"scipy.sparse._{_fmt}"] = _names  # scipy >= 1.8
    _ALLOWED[f"scipy.sparse.{_fmt}"] = _names  # older scipy wrote the public module path


class _Refused(Exception):
    """Raised inside the unpickler; becomes a DataError naming the file."""


def _sparse_classes() -> dict[type, str]:
    import scipy.sparse as sp

    return {getattr(sp, name): fmt for fmt, names in _SPARSE_FORMATS.items() for name in names}


def _check_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype:
        raise _Refused(f"an array of dtype {dtype!r} (only booleans, numbers and fixed-width text are allowed)")
    return dtype


def _check_shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                               and n >= 0 for n in shape):
        raise _Refused(f"an array shape {shape!r} (expected a tuple of non-negative integers)")
    return tuple(int(n) for n in shape)


def _check_bytes(raw, shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    expected = math.prod(shape) * dtype.itemsize
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != expected:
        found = f"{len(raw)} bytes" if isinstance(raw, (bytes, bytearray)) else f"a {type(raw).__name__}"
        raise _Refused(f"{what} of shape {shape} and dtype {dtype} carries {found}, not {expected}")


def _reconstruct(cls, shape, typecode):
    """numpy's own first step: an EMPTY array, filled by the state that follows (checked in BUILD)."""
    if cls is not np.ndarray or shape != (0,) or typecode not in (b"b", "b"):
        raise _Refused(f"_reconstruct({getattr(cls, '__name__', cls)!r}, {shape!r}, {typecode!r}) "
                       "(numpy pickles arrays as _reconstruct(ndarray, (0,), b'b'))")
    return np.ndarray((0,), np.uint8)


def _frombuffer(buffer, dtype, shape, order):
    dtype, shape = _check_dtype(dtype), _check_shape(shape)
    _check_bytes(buffer, shape, dtype, "an array")
    if order not in ("C", "F"):
        raise _Refused(f"an array order {order!r}")
    return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order=order).copy()


def _scalar(dtype, data=None):
    dtype = _check_dtype(dtype)
    _check_bytes(data, (), dtype, "a scalar")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _dtype(obj, align=False, copy=False):
    if not isinstance(obj, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise _Refused(f"dtype({obj!r}, ...) (only simple type codes are allowed)")
    return np.dtype(obj, align, copy)


def _encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, encoding)


def _reconstructor(cls, base, state):
    """copyreg's protocol 0/1 path: only `object.__new__(sparse class)`, state applied by BUILD."""
    if base is not object or cls not in _sparse_classes() or state is not None:
        names = ", ".join(str(getattr(x, "__name__", x)) for x in (cls, base))
        raise _Refused(f"copyreg._reconstructor({names}, ...)")
    return object.__new__(cls)


def _bytes(data=b""):
    """Protocols < 3 write b"" as bytes() and a bytearray as bytearray(<bytes>): nothing sized by a number."""
    if not isinstance(data, (bytes, bytearray)):
        raise _Refused(f"bytes({type(data).__name__}) (only copies of bytes are allowed)")
    return bytes(data)


def _bytearray(data=b""):
    return bytearray(_bytes(data))


_CALLABLE = {_reconstruct, _frombuffer, _scalar, _dtype, _encode, _reconstructor, _bytes, _bytearray, set, frozenset}


def _resolve(module: str, name: str):
    if module == "numpy":
        return {"ndarray": np.ndarray, "dtype": _dtype}[name]
    if module.endswith(".multiarray"):
        return {"_reconstruct": _reconstruct, "scalar": _scalar}[name]
    if module.endswith(".numeric"):
        return _frombuffer
    if module.startswith("scipy.sparse"):
        import scipy.sparse

        return getattr(scipy.sparse, name)
    if module == "_codecs":
        return _encode
    if module in ("copyreg", "copy_reg"):
        return _reconstructor
    return {"object": object, "set": set, "frozenset": frozenset, "bytes": _bytes, "bytearray": _bytearray}[name]


class _CheckedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, whose opcodes can be overridden one by one."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        if name in _ALLOWED.get(module, ()):
            return _resolve(module, name)
        raise _Refused(f"{module}.{name} (only numpy arrays, scipy sparse matrices and plain containers are "
                       "allowed in an RLMRec data file)")

    def persistent_load(self, pid):
        raise _Refused(f"a persistent reference ({pid!r})")

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if func not in _CALLABLE or not isinstance(args, tuple):
            raise _Refused(f"a call of {getattr(func, '__name__', type(func).__name__)} (arrays are built only "
                           "the way numpy pickles them)")
        self.stack[-1] = func(*args)

    def _instantiate(self, klass, args):
        if klass not in _CALLABLE:
            raise _Refused(f"a call of {getattr(klass, '__name__', type(klass).__name__)}")
        self.append(klass(*args))

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _sparse_classes() or args:
            raise _Refused(f"{getattr(cls, '__name__', cls)}.__new__ with arguments {args!r}")
        self.append(object.__new__(cls))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _sparse_classes() or args or kwargs:
            raise _Refused(f"{getattr(cls, '__name__', cls)}.__new__ with arguments")
        self.append(object.__new__(cls))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            self._build_array(inst, state)
        elif type(inst) is np.dtype or isinstance(inst, np.dtype):
            inst.__setstate__(state)
        elif type(inst) in _sparse_classes():
            if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
                raise _Refused(f"a {type(inst).__name__} state that is not a dict of attributes")
            inst.__dict__.update(state)  # checked, and the matrix rebuilt, after loading (`_rebuild_sparse`)
        else:
            raise _Refused(f"a state for a {type(inst).__name__}")

    @staticmethod
    def _build_array(inst: np.ndarray, state) -> None:
        if inst.size != 0 or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refused("an array state not made by numpy")
        shape, dtype, fortran, raw = state[-4:]
        shape, dtype = _check_shape(shape), _check_dtype(dtype)
        if not isinstance(fortran, bool):
            raise _Refused("an array state not made by numpy")
        _check_bytes(raw, shape, dtype, "an array")
        checked = (shape, dtype, fortran, bytes(raw))
        inst.__setstate__((1, *checked) if len(state) == 5 else checked)

    def _refuse_extension(self):
        raise _Refused("an extension-registry reference")

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    for _opcode in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_opcode[0]] = _refuse_extension


def _index_array(value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iu":
        described = f"{value.dtype} {value.ndim}-d array" if isinstance(value, np.ndarray) else type(value).__name__
        raise _Refused(f"a sparse matrix whose {what} is a {described}, not a 1-d integer array")
    return value


def _in_range(index: np.ndarray, bound: int, what: str) -> None:
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= bound):
        raise _Refused(f"a sparse matrix whose {what} run from {int(index.min())} to {int(index.max())}, "
                       f"outside 0..{bound - 1}")


def _rebuild_sparse(matrix, fmt: str):
    """A fresh matrix of the same class from the checked arrays of an unpickled one."""
    state = matrix.__dict__
    shape = state.get("_shape", state.get("shape"))
    if (not isinstance(shape, tuple) or len(shape) != 2
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 0 <= n <= MAX_SPARSE_DIM
                       for n in shape)):
        raise _Refused(f"a sparse matrix of shape {shape!r} (expected two integers in 0..{MAX_SPARSE_DIM})")
    n_rows, n_cols = int(shape[0]), int(shape[1])
    data = state.get("data")
    if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype.kind not in "biuf":
        raise _Refused("a sparse matrix whose data is not a 1-d array of numbers")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise _Refused(f"a sparse matrix with {int((~np.isfinite(data)).sum())} NaN or infinite values")
    if fmt == "coo":
        coords = state.get("coords", (state.get("row"), state.get("col")))
        if not isinstance(coords, tuple) or len(coords) != 2:
            raise _Refused("a COO matrix without 2 coordinate arrays")
        row, col = _index_array(coords[0], "row"), _index_array(coords[1], "col")
        if not len(row) == len(col) == len(data):
            raise _Refused(f"a COO matrix with {len(row)} rows, {len(col)} columns and {len(data)} values")
        _in_range(row, n_rows, "row indices")
        _in_range(col, n_cols, "column indices")
        return type(matrix)((data, (row, col)), shape=(n_rows, n_cols))
    indptr, indices = _index_array(state.get("indptr"), "indptr"), _index_array(state.get("indices"), "indices")
    n_major, n_minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
    if len(indptr) != n_major + 1:
        raise _Refused(f"a {fmt.upper()} matrix of shape {(n_rows, n_cols)} with an indptr of {len(indptr)} entries, "
                       f"not {n_major + 1}")
    if int(indptr[0]) != 0 or (len(indptr) > 1 and (np.diff(indptr.astype(np.int64)) < 0).any()):
        raise _Refused(f"a {fmt.upper()} matrix whose indptr does not rise from 0")
    if not int(indptr[-1]) == len(indices) == len(data):
        raise _Refused(f"a {fmt.upper()} matrix whose indptr ends at {int(indptr[-1])} with {len(indices)} indices "
                       f"and {len(data)} values")
    _in_range(indices, n_minor, "column indices" if fmt == "csr" else "row indices")
    return type(matrix)((data, indices, indptr), shape=(n_rows, n_cols))


def _checked(obj, sparse: dict[type, str], done: dict[int, object], active: set[int]):
    """`obj` with every sparse matrix rebuilt from checked arrays; containers copied once each, so an
    object shared many times (a pickle may nest references 2**60 deep) is checked once."""
    if isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic)):
        return obj
    if id(obj) in done:
        return done[id(obj)]
    if id(obj) in active:
        raise _Refused("a container that holds itself")
    if type(obj) in sparse:
        result = _rebuild_sparse(obj, sparse[type(obj)])
    elif type(obj) is np.ndarray:
        _check_dtype(obj.dtype)
        result = obj
    elif type(obj) in (dict, list, tuple, set, frozenset):
        active.add(id(obj))
        if type(obj) is dict:
            result = {_checked(k, sparse, done, active): _checked(v, sparse, done, active) for k, v in obj.items()}
        else:
            result = type(obj)(_checked(v, sparse, done, active) for v in obj)
        active.discard(id(obj))
    else:
        raise _Refused(f"a {type(obj).__name__} object")
    done[id(obj)] = result
    return result


def load_untrusted_pickle(path: str | Path):
    """The object stored in `path`, built from checked numpy/scipy data and plain containers only."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            loaded = _CheckedUnpickler(handle).load()
        return _checked(loaded, _sparse_classes(), {}, set())
    except _Refused as refused:
        raise DataError(f"{path}: refused to unpickle {refused}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except RecursionError:
        raise DataError(f"{path}: not a readable pickle (nested too deeply)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, UnicodeDecodeError, OSError, struct.error) as error:
        raise DataError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None

