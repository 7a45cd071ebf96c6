"""Crafted sparse matrices and arrays: refused with one line naming the file, before numpy or scipy
touch them (a bad CSR `indptr` used to crash `prepare` with a segmentation fault)."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from benchmark.core.errors import DataError
from benchmark.data.layout import list_prepared, prepared_dir
from benchmark.data.untrusted.safe_pickle import load_untrusted_pickle
from tests.data.cli_output import error_line
from tests.data.rlmrec_fixture import dump, tiny_rlmrec_arrays, write_rlmrec

REPO = Path(__file__).resolve().parents[2]


class _Call:
    """Pickles as a call of `func(*args)`: how a hostile file reaches a constructor directly."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _csr(fmt="csr"):
    return sp.random(6, 5, density=0.5, format=fmt, random_state=0, dtype=np.float64)


def _crafted(fmt: str, damage) -> object:
    matrix = _csr(fmt)
    damage(matrix)  # attribute writes bypass scipy's checks, as a hand-made pickle would
    return matrix


CRAFTED = {
    "indptr past the data": ("csr", lambda m: m.indptr.__setitem__(-1, 10**7), "indptr ends at 10000000"),
    "indptr not from 0": ("csr", lambda m: m.indptr.__setitem__(0, 1), "indptr does not rise from 0"),
    "indptr falling": ("csr", lambda m: m.indptr.__setitem__(3, 0), "indptr does not rise from 0"),
    "indptr too short": ("csr", lambda m: setattr(m, "indptr", m.indptr[:-1]), "indptr of 6 entries, not 7"),
    "column index out of range": ("csr", lambda m: m.indices.__setitem__(0, 99), "column indices run from"),
    "negative column index": ("csr", lambda m: m.indices.__setitem__(0, -1), "outside 0..4"),
    "float indices": ("csr", lambda m: setattr(m, "indices", m.indices.astype(np.float64)),
                      "indices is a float64 1-d array, not a 1-d integer array"),
    "NaN data": ("csr", lambda m: m.data.__setitem__(0, np.nan), "1 NaN or infinite values"),
    "infinite data": ("csc", lambda m: m.data.__setitem__(1, np.inf), "1 NaN or infinite values"),
    "CSC row index out of range": ("csc", lambda m: m.indices.__setitem__(2, 6), "row indices run from"),
    "negative shape": ("csr", lambda m: setattr(m, "_shape", (-6, 5)), "of shape (-6, 5)"),
    "huge shape": ("csr", lambda m: setattr(m, "_shape", (6, 2**40)), "expected two integers"),
    "COO column out of range": ("coo", lambda m: m.coords[1].__setitem__(0, 5), "column indices run from 0 to 5"),
    "COO lengths differ": ("coo", lambda m: setattr(m, "coords", (m.coords[0][:-1], m.coords[1])), "COO matrix with"),
    "object data": ("csr", lambda m: setattr(m, "data", m.data.astype(object)), "dtype('O')"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
@pytest.mark.parametrize("protocol", [2, 5])
def test_structurally_broken_sparse_matrices_are_refused(tmp_path, case, protocol):
    fmt, damage, message = CRAFTED[case]
    path = tmp_path / "trn_mat.pkl"
    dump(path, _crafted(fmt, damage), protocol)
    with pytest.raises(DataError) as refused:
        load_untrusted_pickle(path)
    assert str(refused.value).startswith(f"{path}: refused to unpickle")
    assert message in str(refused.value)


@pytest.mark.parametrize("module", ["scipy.sparse._csr", "scipy.sparse.csr", "scipy.sparse"])
def test_legacy_module_paths_are_checked_the_same_way(tmp_path, module):
    path = tmp_path / "trn_mat.pkl"
    data = pickle.dumps(_crafted("csr", lambda m: m.indptr.__setitem__(-1, 10**7)), protocol=2)
    data = data.replace(b"scipy.sparse._csr", module.encode())
    path.write_bytes(data)
    with pytest.raises(DataError, match="indptr ends at 10000000"):
        load_untrusted_pickle(path)


def test_sound_matrices_come_back_equal_and_of_their_class(tmp_path):
    for fmt in ("csr", "csc", "coo"):
        for matrix in (_csr(fmt), getattr(sp, f"{fmt}_array")(_csr(fmt))):
            dump(tmp_path / "m.pkl", matrix)
            loaded = load_untrusted_pickle(tmp_path / "m.pkl")
            assert type(loaded) is type(matrix) and loaded.shape == (6, 5)
            assert (abs(sp.csr_matrix(loaded) - sp.csr_matrix(matrix)) > 0).nnz == 0


def test_prepare_on_the_crafted_indptr_exits_1_with_one_line_instead_of_crashing(tmp_path):
    """The case that segfaulted: a real `python -m benchmark.data prepare` in its own process."""
    folder = tmp_path / "crafted"
    write_rlmrec(folder)
    dump(folder / "trn_mat.pkl", sp.csr_matrix(tiny_rlmrec_arrays()["splits"]["train"]))
    matrix = load_untrusted_pickle(folder / "trn_mat.pkl")
    matrix.indptr[-1] = 10**7
    dump(folder / "trn_mat.pkl", matrix)
    env = {**os.environ, "DMREC_DATA": str(tmp_path / "root")}
    done = subprocess.run([sys.executable, "-m", "benchmark.data", "prepare", "rlmrec", "--source", str(folder),
                           "--name", "crafted"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    line = error_line(done.stderr)
    assert line.startswith(f"error: {folder / 'trn_mat.pkl'}: refused to unpickle a CSR matrix whose indptr ends at")
    assert done.stderr.strip() == line
    env_root = tmp_path / "root" / "prepared"
    assert not env_root.exists() or list(env_root.iterdir()) == []


def test_a_shape_only_ndarray_call_is_refused_without_allocating(tmp_path):
    """The 93-byte pickle that became 1.2 GB of uninitialised 'text vectors'."""
    path = tmp_path / "usr_emb_np.pkl"
    dump(path, _Call(np.ndarray, ((12, 25_000_000), np.dtype(np.float32))), protocol=4)
    assert path.stat().st_size == 93
    with pytest.raises(DataError, match=r"usr_emb_np\.pkl: refused to unpickle a call of ndarray"):
        load_untrusted_pickle(path)
    dump(path, _Call(np.ndarray, ((3, 4), np.dtype(np.float64))), protocol=4)  # small: heap garbage as vectors
    with pytest.raises(DataError, match="a call of ndarray"):
        load_untrusted_pickle(path)


class _ArrayWithState:
    """An array pickled numpy's way, but with a hand-made state (shape, dtype, bytes)."""

    def __init__(self, shape, dtype, raw, base_shape=(0,)):
        self.shape, self.dtype, self.raw, self.base_shape = shape, dtype, raw, base_shape

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, self.base_shape, b"b"), (1, self.shape, self.dtype, False, self.raw)


@pytest.mark.parametrize("shape, dtype, raw, base_shape, message", [
    ((12, 25_000_000), np.dtype(np.float32), b"\0" * 16, (0,), "carries 16 bytes, not 1200000000"),
    ((2, 2), np.dtype(np.float64), b"\0" * 8, (0,), "carries 8 bytes, not 32"),
    ((2, -2), np.dtype(np.float64), b"", (0,), "expected a tuple of non-negative integers"),
    ((2,), np.dtype(object), [1, 2], (0,), "dtype('O')"),
    ((2, 2), np.dtype(np.float64), b"\0" * 32, (10**9,), "numpy pickles arrays as _reconstruct(ndarray, (0,)"),
])
def test_array_states_must_carry_exactly_shape_times_itemsize_bytes(tmp_path, shape, dtype, raw, base_shape, message):
    path = tmp_path / "itm_emb_np.pkl"
    dump(path, _ArrayWithState(shape, dtype, raw, base_shape), protocol=2)
    with pytest.raises(DataError) as refused:
        load_untrusted_pickle(path)
    assert message in str(refused.value)


def test_arrays_in_every_protocol_round_trip_exactly(tmp_path):
    arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.asfortranarray(np.eye(3)),
              np.array(["ab", "c"]), np.int64(7), np.zeros((0, 4))]
    for protocol in (0, 2, 4, 5):
        for array in arrays:
            dump(tmp_path / "a.pkl", array, protocol)
            loaded = load_untrusted_pickle(tmp_path / "a.pkl")
            np.testing.assert_array_equal(loaded, array)
            assert np.asarray(loaded).dtype == np.asarray(array).dtype


def test_vectors_wider_than_the_stated_maximum_or_of_the_wrong_row_count_fail_prepare(data_home, cli, tmp_path):
    from benchmark.data.validate import MAX_TEXT_DIM

    folder = tmp_path / "wide"
    write_rlmrec(folder)
    dump(folder / "usr_emb_np.pkl", np.zeros((12, MAX_TEXT_DIM + 1), np.float32))
    status, _, err = cli("prepare", "rlmrec", "--source", folder, "--name", "wide")
    assert status == 1 and f"user vectors are {MAX_TEXT_DIM + 1}-d; accepted: 1 to {MAX_TEXT_DIM}" in error_line(err)
    dump(folder / "usr_emb_np.pkl", np.zeros((13, 8), np.float32))
    status, _, err = cli("prepare", "rlmrec", "--source", folder, "--name", "wide")
    assert status == 1 and "usr_emb_np.pkl: 13 user vectors for 12 users" in error_line(err)
    assert list_prepared() == [] and not prepared_dir("wide").exists()


def test_a_coo_matrix_pickled_by_an_older_scipy_row_col_attributes_loads(tmp_path):
    matrix = _csr("coo")
    legacy = _csr("coo")
    state = legacy.__dict__
    row, col = state.pop("coords")
    state.update(row=row, col=col, has_canonical_format=False)  # scipy < 1.13 kept row and col
    dump(tmp_path / "old.pkl", legacy)
    loaded = load_untrusted_pickle(tmp_path / "old.pkl")
    assert (abs(loaded.tocsr() - matrix.tocsr()) > 0).nnz == 0
    state["col"] = col + 5
    dump(tmp_path / "old.pkl", legacy)
    with pytest.raises(DataError, match="column indices run from 5"):
        load_untrusted_pickle(tmp_path / "old.pkl")
