"""RLMRec-format datasets (`amazon`, `yelp`, `steam`: the paper's, as processed by RLMRec).

A folder holds
    trn_mat.pkl, val_mat.pkl, tst_mat.pkl   scipy sparse (users x items) matrices, one per split
    usr_emb_np.pkl, itm_emb_np.pkl         (optional) float arrays, one row per user / item
    usr_prf.pkl, itm_prf.pkl               (optional) profile texts, in any of these forms:
        {id: {"profile": str, ...}}, {id: str}, [{"profile": str, ...}], [str]
        (ids are ints, numpy ints or digit strings covering 0..n-1; only "profile" is used)
Every file is read through the restricted unpickler (`safe_pickle.py`). Shipped vectors are used
as they are; when they are missing but profiles exist, the profiles are embedded.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.core.errors import DataError, DataRequestError
from benchmark.core.paths import data_root
from benchmark.data.prepared import PreparedDataset, dataset_statistics
from benchmark.data.recipe import PrepareOptions, TextVectors, files_fingerprint
from benchmark.data.untrusted.safe_pickle import load_untrusted_pickle
from benchmark.data.validate import check_disjoint, check_split, check_vectors, compare_with_paper, paper_counts

log = logging.getLogger("benchmark.data")

SPLIT_FILES = {"train": "trn_mat.pkl", "valid": "val_mat.pkl", "test": "tst_mat.pkl"}
VECTOR_FILES = {"user": "usr_emb_np.pkl", "item": "itm_emb_np.pkl"}
PROFILE_FILES = {"user": "usr_prf.pkl", "item": "itm_prf.pkl"}
SHIPPED = "shipped with the data (usr_emb_np.pkl / itm_emb_np.pkl)"


def raw_rlmrec_dir() -> Path:
    """Where `fetch rlmrec` leaves the unpacked archive: `<data_root>/raw/rlmrec/<dataset>/`."""
    return data_root() / "raw" / "rlmrec"


MAX_ABSENT_IDS = 1000  # users (items) with no interaction in any split accepted beyond as many as hold one


def _ids_held(matrix) -> tuple[np.ndarray, np.ndarray]:
    """The row and column ids holding an entry, from the index arrays alone: converting first
    would take memory in proportion to the declared shape, which a file may set at will."""
    if matrix.format == "coo":
        return matrix.row, matrix.col
    if matrix.format == "csr":
        return np.flatnonzero(np.diff(matrix.indptr)), matrix.indices
    if matrix.format == "csc":
        return matrix.indices, np.flatnonzero(np.diff(matrix.indptr))
    coo = matrix.tocoo()  # only matrices built by our own code come here (the unpickler makes csr, csc, coo)
    return coo.row, coo.col


def check_shape_held(matrices: dict[str, sp.spmatrix], where: str) -> None:
    """Refuse a shape far beyond the users and items the splits hold, before any conversion of it."""
    shape = next(iter(matrices.values())).shape
    held = [np.unique(np.concatenate([_ids_held(m)[axis] for m in matrices.values()])) for axis in (0, 1)]
    for axis, kind in enumerate(("user", "item")):
        ids = held[axis]
        if shape[axis] > 2 * len(ids) + MAX_ABSENT_IDS:
            largest = f"ids up to {int(ids[-1]):,}" if len(ids) else "no ids"
            raise DataError(f"{where}: shape {shape} declares {shape[axis]:,} {kind}s, but the splits hold "
                            f"interactions of {len(ids):,} ({largest}); refusing a shape this far beyond the data "
                            f"(at most twice the {kind}s held + {MAX_ABSENT_IDS:,})")


def read_splits(folder: Path) -> dict[str, sp.csr_matrix]:
    """The three splits as binary float32 CSR, checked for shape, emptiness and overlap."""
    loaded, shape = {}, None
    for split, file in SPLIT_FILES.items():
        path = folder / file
        if not path.is_file():
            raise DataError(f"{path}: missing split file (an RLMRec folder needs {', '.join(SPLIT_FILES.values())})")
        matrix = load_untrusted_pickle(path)
        check_split(matrix, str(path), f"the {split} split", shape)
        shape = shape or matrix.shape
        loaded[split] = matrix
    check_shape_held(loaded, str(folder / SPLIT_FILES["train"]))
    splits = {split: sp.csr_matrix((sp.csr_matrix(matrix) != 0).astype(np.float32)) for split, matrix in loaded.items()}
    check_disjoint(splits, str(folder))
    return splits


def read_vectors(path: Path, rows: int, kind: str) -> np.ndarray | None:
    if not path.is_file():
        return None
    vectors = load_untrusted_pickle(path)
    check_vectors(vectors, rows, kind, str(path))
    too_large = (np.abs(vectors) > np.finfo(np.float32).max).any(axis=1)
    if too_large.any():
        raise DataError(f"{path}: {int(too_large.sum())} {kind} vectors hold values beyond float32's range "
                        f"(first: row {int(np.argmax(too_large))}); vectors are stored as float32")
    return vectors.astype(np.float32)


def _profile_id(key, path: Path) -> int:
    """An id as RLMRec writes it: an integer or a string of digits (never a float, whose part is dropped)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return int(key)
    if isinstance(key, str) and key.strip().isascii() and key.strip().isdigit():
        return int(key)
    raise DataError(f"{path}: profile key {key!r} is not an integer id")


def _profile_text(entry, path: Path, key) -> str:
    if isinstance(entry, dict):
        entry = entry.get("profile")
    if not isinstance(entry, str):
        raise DataError(f"{path}: profile of id {key!r} is {type(entry).__name__}, expected a string "
                        "or a dict with a 'profile' string")
    return entry


def read_profiles(path: Path, rows: int, kind: str) -> list[str] | None:
    """Profiles as a list indexed by id, from any of the forms in the module docstring."""
    if not path.is_file():
        return None
    raw = load_untrusted_pickle(path)
    if isinstance(raw, dict):
        by_id = {}
        for key, entry in raw.items():
            pid = _profile_id(key, path)
            if pid in by_id:
                raise DataError(f"{path}: profile id {pid} appears twice (as {key!r} and another key)")
            by_id[pid] = _profile_text(entry, path, key)
        missing = [k for k in range(rows) if k not in by_id]
        if missing or len(by_id) != rows:
            raise DataError(f"{path}: {len(by_id)} {kind} profiles for {rows} {kind}s"
                            + (f" (first missing id: {missing[0]})" if missing else ""))
        return [by_id[k] for k in range(rows)]
    if isinstance(raw, (list, tuple, np.ndarray)):
        if len(raw) != rows:
            raise DataError(f"{path}: {len(raw)} {kind} profiles for {rows} {kind}s")
        return [_profile_text(entry, path, k) for k, entry in enumerate(raw)]
    raise DataError(f"{path}: {kind} profiles are a {type(raw).__name__}, expected a dict or a list")


class RLMRecFormat:
    """One RLMRec-format dataset; `paper_name` selects the Table 1 comparison (None: no comparison)."""

    def __init__(self, name: str, summary: str, paper_name: str | None):
        self.name = name
        self.summary = summary
        self.paper_name = paper_name

    options = ("source", "encoder", "stand_in_dim")

    def default_name(self, options: PrepareOptions) -> str:
        return self.name

    def default_source(self) -> Path | None:
        return raw_rlmrec_dir() / self.name if self.paper_name else None

    def _folder(self, options: PrepareOptions) -> Path:
        folder = Path(options.source) if options.source else self.default_source()
        if folder is None:
            raise DataRequestError(f"{self.name}: needs --source DIR (an RLMRec-format folder)")
        if not folder.is_dir():
            raise DataError(f"{folder}: source folder not found (run `python -m benchmark.data fetch rlmrec`, "
                            "or pass --source DIR holding trn_mat.pkl, val_mat.pkl, tst_mat.pkl)")
        return folder

    def _has(self, folder: Path, files: dict, kind: str) -> bool:
        return (folder / files[kind]).is_file()

    def recipe(self, options: PrepareOptions, vectors: TextVectors) -> dict:
        folder = self._folder(options)
        names = [*SPLIT_FILES.values(), *VECTOR_FILES.values(), *PROFILE_FILES.values()]
        encoded = any(vectors.uses_encoder(self._has(folder, VECTOR_FILES, k), self._has(folder, PROFILE_FILES, k))
                      for k in ("user", "item"))
        return {"builder": self.name, "files": files_fingerprint([folder / n for n in names]),
                "stand_in": options.stand_in_dim, "encoder": vectors.encoder.fingerprint if encoded else None}

    def build(self, options: PrepareOptions, out_name: str, vectors: TextVectors) -> PreparedDataset:
        folder = self._folder(options)
        splits = read_splits(folder)
        n_users, n_items = splits["train"].shape
        rows = {"user": n_users, "item": n_items}
        profiles = {k: read_profiles(folder / PROFILE_FILES[k], rows[k], k) for k in rows}
        chosen = {}
        for kind in rows:
            # shipped vectors are read (and checked) only when they will be used: they are large
            used = options.stand_in_dim is None and (options.encoder is None or profiles[kind] is None)
            shipped = read_vectors(folder / VECTOR_FILES[kind], rows[kind], kind) if used else None
            chosen[kind] = vectors.choose(kind, rows[kind], profiles[kind], shipped, shipped_label=SHIPPED)
        statistics = dataset_statistics(splits)
        mismatches = compare_with_paper(self.paper_name, statistics) if self.paper_name else []
        for message in mismatches:
            log.warning("%s differs from the paper: %s", folder, message)
        info = {"source": f"RLMRec format ({folder})", "text_fields": (
            "LM-written profiles (usr_prf.pkl / itm_prf.pkl)" if any(p is not None for p in profiles.values())
            else "none shipped"), **vectors.info()}
        if self.paper_name:
            info["paper_table1"] = {**(paper_counts(self.paper_name) or {}), "matches": not mismatches}
        return PreparedDataset(out_name, splits, chosen["user"], chosen["item"], profiles["user"], profiles["item"],
                               info)


RLMREC_BUILDERS = [
    RLMRecFormat("amazon", "Amazon-Book as processed by RLMRec (the paper's; `fetch rlmrec`)", "amazon"),
    RLMRecFormat("yelp", "Yelp as processed by RLMRec (the paper's; `fetch rlmrec`)", "yelp"),
    RLMRecFormat("steam", "Steam as processed by RLMRec (the paper's; `fetch rlmrec`)", "steam"),
    RLMRecFormat("rlmrec", "any other RLMRec-format folder (needs --source DIR; use --name)", None),
]
