"""Checks every prepared dataset passes before it is written: one clear error per problem.

The checks are also called on single input files (an RLMRec pickle, a vector array) with
`where` set to that file, so the error names the file the problem is in. Sparse matrices arrive
here already structurally checked by `safe_pickle.py` (or built by our own code).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from benchmark.core.errors import DataError
from benchmark.data.layout import SPLITS

MAX_TEXT_DIM = 8192  # the widest text vectors accepted (the paper's are 1536-d; MiniLM's 384-d)


def check_split(matrix, where: str, split: str = "split", shape: tuple | None = None) -> None:
    """A split is a non-empty scipy sparse matrix, with `shape` when one is given."""
    if not sp.issparse(matrix):
        raise DataError(f"{where}: {split} is {type(matrix).__name__}, not a scipy sparse matrix")
    if matrix.ndim != 2:
        raise DataError(f"{where}: {split} has {matrix.ndim} dimensions, expected a 2-d (users x items) matrix")
    if shape is not None and matrix.shape != shape:
        raise DataError(f"{where}: {split} has shape {matrix.shape}, train has {shape}")
    # `matrix != 0` would allocate by the shape, not the data; count_nonzero sums duplicates in place, so on a copy
    if matrix.nnz == 0 or not matrix.copy().count_nonzero():
        raise DataError(f"{where}: {split} is empty (no interactions)")


def check_vectors(vectors, expected_rows: int, kind: str, where: str) -> None:
    """Text vectors are a finite 2-d numeric array with one row per user (item), at most MAX_TEXT_DIM wide."""
    if not isinstance(vectors, np.ndarray):
        raise DataError(f"{where}: {kind} vectors are {type(vectors).__name__}, not a numpy array")
    if vectors.dtype.kind not in "fiu":
        raise DataError(f"{where}: {kind} vectors have dtype {vectors.dtype}, not a number type")
    if vectors.ndim != 2:
        raise DataError(f"{where}: {kind} vectors have {vectors.ndim} dimensions, expected a 2-d array")
    if vectors.shape[0] != expected_rows:
        raise DataError(f"{where}: {vectors.shape[0]} {kind} vectors for {expected_rows} {kind}s")
    if not 1 <= vectors.shape[1] <= MAX_TEXT_DIM:
        raise DataError(f"{where}: {kind} vectors are {vectors.shape[1]}-d; accepted: 1 to {MAX_TEXT_DIM}")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise DataError(f"{where}: {int(bad.sum())} {kind} vectors hold NaN or inf (first: row {int(np.argmax(bad))})")


def check_disjoint(splits: dict, where: str) -> None:
    """No (user, item) pair may be in two splits: train/valid or train/test overlap leaks the answer."""
    for first, second in (("train", "valid"), ("train", "test"), ("valid", "test")):
        a = (splits[first].tocsr() != 0)
        b = (splits[second].tocsr() != 0)
        overlap = a.multiply(b).nnz
        if overlap:
            raise DataError(f"{where}: {overlap} (user, item) pairs are in both {first} and {second}")


def validate_prepared(data, source: str | None = None) -> None:
    """Raise DataError naming `source` (or the dataset) and the problem; return None when sound."""
    where = source or data.name
    shape = None
    for split in SPLITS:
        if split not in data.splits or data.splits[split] is None:
            raise DataError(f"{where}: missing {split} split")
        check_split(data.splits[split], where, f"{split} split", shape)
        shape = shape or data.splits[split].shape
    check_disjoint(data.splits, where)
    for kind, vectors, expected in (
        ("user", data.user_vectors, shape[0]),
        ("item", data.item_vectors, shape[1]),
    ):
        if vectors is not None:
            check_vectors(np.asarray(vectors), expected, kind, where)
    for kind, profiles, expected in (
        ("user", data.user_profiles, shape[0]),
        ("item", data.item_profiles, shape[1]),
    ):
        if profiles is not None and len(profiles) != expected:
            raise DataError(f"{where}: {len(profiles)} {kind} profiles for {expected} {kind}s")
    if data.user_vectors is not None and data.item_vectors is not None:
        if np.shape(data.user_vectors)[1] != np.shape(data.item_vectors)[1]:
            raise DataError(f"{where}: user vectors are {np.shape(data.user_vectors)[1]}-d, "
                            f"item vectors {np.shape(data.item_vectors)[1]}-d")


def paper_counts(dataset: str) -> dict | None:
    """The paper's Table 1 counts of `dataset` (None for a dataset not in the paper).

    From the one copy of the paper's numbers (`benchmark.core.paper`)."""
    from benchmark.core.paper import table1_counts

    return table1_counts().get(dataset)


def compare_with_paper(dataset: str, statistics: dict) -> list[str]:
    """Where `dataset` is one of the paper's, each count that differs from its Table 1 (else [])."""
    published = paper_counts(dataset)
    if published is None:
        return []
    return [
        f"{dataset}: {key[2:]} = {statistics[key]:,}, the paper's Table 1 has {int(published[key]):,}"
        for key in ("n_users", "n_items", "n_interactions") if key in published and statistics[key] != published[key]
    ]
