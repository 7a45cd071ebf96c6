"""Fuzzing the restricted unpickler: any bytes, any pickle of data, any damage to a pickle of arrays and
sparse matrices ends in a value or a DataError naming the file, never another exception, and what
comes back holds only plain data, numpy arrays and structurally sound sparse matrices."""
import pickle
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.extra import numpy as hnp

from benchmark.core.errors import DataError
from benchmark.data.untrusted.safe_pickle import load_untrusted_pickle

FOLDER = Path(tempfile.mkdtemp(prefix="dmrec-fuzz-pickle-"))
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="dmrec-hypothesis-"))  # nothing written into the repository
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PLAIN = (str, bytes, int, float, bool, type(None), np.generic)

arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.bool_, np.uint8]),
                    hnp.array_shapes(max_dims=2, max_side=4))
matrices = st.builds(lambda dense, fmt: sp.coo_matrix(dense).asformat(fmt),
                     hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)),
                                elements=st.sampled_from([0.0, 1.0, 2.5])),
                     st.sampled_from(["csr", "csc", "coo"]))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.binary(max_size=8),
                   arrays, matrices)
data = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                    | st.dictionaries(st.integers() | st.text(max_size=4), inner, max_size=3), max_leaves=8)


def _sound(value) -> None:
    """Only plain data, numpy arrays of plain dtypes, and sparse matrices scipy itself accepts as valid."""
    if sp.issparse(value):
        value.check_format(full_check=True) if value.format != "coo" else value.tocsr().check_format(full_check=True)
    elif isinstance(value, np.ndarray):
        assert value.dtype.kind in "biufcUS"
    elif isinstance(value, dict):
        for key, item in value.items():
            _sound(key)
            _sound(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _sound(item)
    else:
        assert isinstance(value, PLAIN), type(value)


def _load(content: bytes):
    path = FOLDER / "fuzz.pkl"
    path.write_bytes(content)
    try:
        value = load_untrusted_pickle(path)
    except DataError as error:
        assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        event("refused")
        return error
    _sound(value)
    event("loaded")
    return value


@FUZZ
@given(data, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_pickles_of_data_load_back(value, protocol):
    loaded = _load(pickle.dumps(value, protocol=protocol))
    assert not isinstance(loaded, DataError), loaded


@FUZZ
@given(data, st.integers(0, pickle.HIGHEST_PROTOCOL),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_pickles_load_or_are_refused(value, protocol, flips):
    content = bytearray(pickle.dumps(value, protocol=protocol))
    for position, byte in flips:
        content[position % len(content)] = byte
    _load(bytes(content))


OPCODES = [bytes([code[0]]) for code in (
    pickle.MARK, pickle.STOP, pickle.GLOBAL, pickle.REDUCE, pickle.BUILD, pickle.TUPLE, pickle.EMPTY_DICT,
    pickle.SETITEM, pickle.APPEND, pickle.EMPTY_LIST, pickle.NEWOBJ, pickle.BINPUT, pickle.BINGET, pickle.STACK_GLOBAL,
    pickle.MEMOIZE, pickle.BINUNICODE, pickle.SHORT_BINBYTES)]
snippets = st.sampled_from([*OPCODES, b"K\x01", b"J\xff\xff\xff\x7f", b"\x8c\x05numpy", b"\x8c\x07ndarray",
                            b"\x8c\x0cscipy.sparse", b"\x8c\ncsr_matrix", b"cnumpy\ndtype\n", b"cos\nsystem\n",
                            b"\x8c\x02f8", b"N", b"\x88", b"\x80\x04"])


@FUZZ
@given(st.lists(snippets, max_size=30).map(b"".join) | st.binary(max_size=200))
def test_any_opcode_soup_loads_or_is_refused(content):
    _load(b"\x80\x04" + content + b".")
