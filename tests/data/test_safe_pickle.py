import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from benchmark.core.errors import DataError
from benchmark.data.untrusted.safe_pickle import load_untrusted_pickle
from tests.data.rlmrec_fixture import dump

REPO = Path(__file__).resolve().parents[2]


class _RunsCommand:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_scipy_and_containers_round_trip(tmp_path, protocol):
    objects = {
        "csr": sp.random(7, 5, density=0.4, format="csr", random_state=1),
        "coo": sp.random(7, 5, density=0.4, format="coo", random_state=2),
        "csc": sp.random(7, 5, density=0.4, format="csc", random_state=3).astype(np.float32),
        "csr_array": sp.csr_array(np.eye(3)),
        "vectors": np.random.default_rng(0).normal(size=(4, 3)),
        "profiles": {np.int64(0): {"profile": "p0", "reasoning": "r"}, 1: "p1"},
        "list": ["a", "b"],
        "sets": (set([1, 2]), frozenset(["x"])),
    }
    for name, obj in objects.items():
        path = tmp_path / f"{name}.pkl"
        dump(path, obj, protocol)
        loaded = load_untrusted_pickle(path)
        if sp.issparse(obj):
            assert type(loaded) is type(obj) and (loaded != obj).nnz == 0
        elif isinstance(obj, np.ndarray):
            np.testing.assert_array_equal(loaded, obj)
        else:
            assert loaded == obj


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "trn_mat.pkl"
    dump(path, {"matrix": _RunsCommand(marker)}, protocol)
    with pytest.raises(DataError) as refused:
        load_untrusted_pickle(path)
    assert str(path) in str(refused.value)
    assert re.search(r"(posix|os|nt)\.system", str(refused.value))
    assert not marker.exists()
    # the same file through plain pickle really would have run the command
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_builtins_and_other_globals_are_refused(tmp_path):
    path = tmp_path / "itm_prf.pkl"
    dump(path, _Evaluates())
    with pytest.raises(DataError, match=r"itm_prf\.pkl: refused to unpickle builtins\.eval"):
        load_untrusted_pickle(path)
    dump(path, __import__("collections").OrderedDict(a=1))
    with pytest.raises(DataError, match=r"refused to unpickle collections\.OrderedDict"):
        load_untrusted_pickle(path)


def test_garbage_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "val_mat.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match=r"val_mat\.pkl: not a readable pickle"):
        load_untrusted_pickle(path)
    with pytest.raises(DataError, match=r"missing\.pkl: file not found"):
        load_untrusted_pickle(tmp_path / "missing.pkl")


def test_the_restricted_unpickler_is_the_only_pickle_loader_in_the_codebase():
    loaders = re.compile(r"pickle\.loads?\(|Unpickler\b|read_pickle\(|allow_pickle\s*=\s*True|dill\.|joblib\.load")
    offenders = []
    for package in ("benchmark", "dmrec", "baselines"):
        for path in (REPO / package).rglob("*.py"):
            if path.name == "safe_pickle.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if loaders.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_shared_references_are_checked_once_not_expanded(tmp_path):
    """A pickle nesting a shared list 200 deep stands for 2**200 elements; it loads in no time."""
    nested = ["leaf"]
    for _ in range(200):
        nested = [nested, nested]
    dump(tmp_path / "itm_prf.pkl", nested)
    loaded = load_untrusted_pickle(tmp_path / "itm_prf.pkl")
    for _ in range(200):
        assert loaded[0] is loaded[1]
        loaded = loaded[0]
    assert loaded == ["leaf"]


def test_a_container_that_holds_itself_is_refused(tmp_path):
    loop = []
    loop.append(loop)
    dump(tmp_path / "usr_prf.pkl", loop)
    with pytest.raises(DataError, match=r"usr_prf\.pkl: refused to unpickle a container that holds itself"):
        load_untrusted_pickle(tmp_path / "usr_prf.pkl")
